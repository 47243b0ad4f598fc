import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { LatencyRecorder, type LatencySummary } from '../lib/stats.js'
import { SimHost, type HostedNodeStatus, type HostUsage } from './host.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { loadOrCreateIdentity } from '../../src/identity/key-file.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { HashRing } from '../../src/swarm/ring.js'

/**
 * A network of real ghostnode nodes (libp2p over loopback TCP, kad-dht,
 * directory, membership with three authorities admitting relays as they join,
 * onion relays, swarm service and LevelDB stores), spread round-robin over
 * `hosts` processes (host.ts) so a large network uses every core, and run
 * through one scripted scenario from this process, whose clients reach the
 * nodes over TCP like any app (docs/swarm.md, "At scale"):
 *
 * 1. join: nodes start one after another, each bootstrapped from up to three
 *    earlier ones; measured: time until every directory holds every record
 *    and every ring every member;
 * 2. circuits: builds between random clients and random paths;
 * 3. mailboxes: one message stored through circuits into each of `mailboxes`
 *    mailboxes, read back with signed retrieves, and each found on exactly the
 *    R members the ring names;
 * 4. idle: after one anti-entropy interval to settle, `idleSeconds` without
 *    client traffic; per node: loopback bytes (/proc/net/dev), CPU and RSS,
 *    each the host processes' sum divided by N, and one relay's bytes by
 *    protocol;
 * 5. churn under load: `churn` × N nodes leave (in three waves, as nodes fail
 *    over minutes rather than in one instant), as many join, while stores go
 *    on; measured: hand-off time until every acknowledged message is on
 *    exactly its R owners again, and every acknowledged message found.
 */

export interface SimOptions {
  nodes: number
  /** @default 10000 */
  mailboxes?: number
  /** @default 100 */
  circuits?: number
  /** @default 60 */
  idleSeconds?: number
  /** Fraction of nodes that leave, and of new nodes that join. @default 0.1 */
  churn?: number
  /** Client requests in flight. @default 16 */
  concurrency?: number
  /** @default SIM_DOCUMENT_INTERVAL_MS */
  documentIntervalMs?: number
  /** @default SIM_DROP_AFTER_MS */
  dropAfterMs?: number
  /** Anti-entropy interval of every node. @default the production default (60 s) */
  reconcileIntervalMs?: number
  /** Processes the nodes are spread over. @default defaultHosts(nodes) */
  hosts?: number
  log?: (line: string) => void
}

export interface SimReport {
  nodes: number
  /** What the run was shortened to (seconds): membership period, drop time, anti-entropy interval, probation. */
  settings: { document_interval_s: number, drop_after_s: number, reconcile_interval_s: number, probation_s: number, hosts: number }
  replicas: number
  acknowledged: number
  found: number
  lost: number
  directory_converged_s: number
  join_s: number
  circuit_success_rate: number
  /** Circuit builds that failed, by error code (or message when it has none). */
  circuit_failures: Record<string, number>
  circuit_build_ms: LatencySummary
  store_ms: LatencySummary
  /** Acknowledged mailboxes, how many were on exactly their R owners, and how long after the reads that took (null: not within the hand-off deadline). */
  placement: { mailboxes: number, exact: number, settled_s: number }
  reads: { ok: number, failed: number }
  per_node: { rss_bytes: number, background_bytes_per_min: number, cpu_ms_per_min: number }
  /** One relay's bytes sent per minute while idle, by libp2p protocol ('global' is the whole connection, framing included). */
  sample_node_sent_per_min: Record<string, number>
  /** The host processes together (process: one per host). */
  process: { rss_bytes: number, heap_used_bytes: number, hosts: number }
  churn: {
    left: number
    joined: number
    sent: number
    acknowledged: number
    found: number
    lost: number
    /** From the last wave's rings complete to every message acknowledged until then on exactly its owners. */
    handoff_s: number
    /** From the first join to the last wave handed off. */
    duration_s: number
    /**
     * Per wave (the joins first, then each wave of leavers): seconds until every ring was complete
     * (null: not within 600 s, and the later waves were not run), then until the hand-off was; and
     * the anti-entropy comparisons between members the nodes present throughout made meanwhile
     * (compared: bucket digests exchanged; skipped: nothing changed since the two last agreed).
     */
    waves: Array<{ left: number, joined: number, rings_s: number, handoff_s: number, placed_exactly: number, acknowledged: number, compared: number, skipped: number }>
    placed_exactly: number
    reads_ok: number
    reads_failed: number
  }
}

const AUTHORITIES = 3
const R = DEFAULT_CONFIG.swarm.replicas
/** Shortened for the run (production: hours): a joining relay is a guard, exit and swarm member after this. */
const SIM_PROBATION_MS = 5_000
/**
 * Membership period and how long a member that stopped answering stays in the
 * document, shortened for the run (production: 10 min and 30 min). Each
 * authority probes every member once a period (four probes at a time), so
 * the drop time leaves room for a missed probe and a slow pass: three periods.
 */
export const SIM_DOCUMENT_INTERVAL_MS = 20_000
export const SIM_DROP_AFTER_MS = 60_000
/** Placement is checked this often (each check lists every store of every node). */
const PLACEMENT_POLL_MS = 1_000

/** The relay whose traffic is broken down by protocol (the first after the authorities; it never leaves). */
const SAMPLE = `n${AUTHORITIES}`

/**
 * Host processes for N nodes: one up to 40 nodes, then one per 40 up to the
 * cores' worth of two per core (the machines here have 2 cores).
 */
export function defaultHosts (n: number): number {
  return Math.max(1, Math.min(4, Math.ceil(n / 40)))
}

function sumUsage (xs: HostUsage[]): HostUsage {
  return xs.reduce((a, b) => ({ user: a.user + b.user, system: a.system + b.system, rss: a.rss + b.rss, heapUsed: a.heapUsed + b.heapUsed }), { user: 0, system: 0, rss: 0, heapUsed: 0 })
}

async function loopbackBytes (): Promise<number> {
  const text = await readFile('/proc/net/dev', 'utf8').catch(() => '')
  const line = text.split('\n').find(l => l.trim().startsWith('lo:'))
  if (line === undefined) return Number.NaN
  const fields = line.split(':')[1].trim().split(/\s+/).map(Number)
  return fields[8] // transmitted bytes (on loopback, each byte is sent once and received once)
}

async function pool<T> (items: T[], concurrency: number, work: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      await work(items[i], i)
    }
  }))
}

/** Polls `predicate`; every 30 s of waiting, `progress` (when given) hears where things stand. */
async function until (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number, state?: () => string, progress?: (line: string) => void, pollMs = 250): Promise<number> {
  const started = performance.now()
  let reported = started
  const timedOut = (): Error => new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${state !== undefined ? ` (${state()})` : ''}`)
  for (;;) {
    // a check that does not come back (hosts overloaded) ends at the deadline too
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<'late'>(resolve => { timer = setTimeout(() => { resolve('late') }, Math.max(0, started + timeoutMs - performance.now())) })
    const done = await Promise.race([Promise.resolve(predicate()), late]).finally(() => { clearTimeout(timer) })
    if (done === 'late') throw timedOut()
    if (done) break
    const now = performance.now()
    if (now - started > timeoutMs) throw timedOut()
    if (progress !== undefined && state !== undefined && now - reported > 30_000) {
      reported = now
      progress(`    … ${Math.round((now - started) / 1000)} s waiting for ${what}: ${state()}`)
    }
    await new Promise(resolve => setTimeout(resolve, pollMs))
  }
  return (performance.now() - started) / 1000
}

interface Stored { key: MailboxKey, hash: Uint8Array, text: string }

export async function runSim (options: SimOptions): Promise<SimReport> {
  const n = options.nodes
  if (!Number.isInteger(n) || n < 4) throw new Error('a simulation needs at least 4 nodes (3 authorities and a relay to route around)')
  const log = options.log ?? (() => {})
  const mailboxes = options.mailboxes ?? 10_000
  const churnCount = Math.max(1, Math.round(n * (options.churn ?? 0.1)))
  const concurrency = options.concurrency ?? 16
  const documentIntervalMs = options.documentIntervalMs ?? SIM_DOCUMENT_INTERVAL_MS
  const dropAfterMs = options.dropAfterMs ?? SIM_DROP_AFTER_MS
  const reconcileIntervalMs = options.reconcileIntervalMs ?? DEFAULT_CONFIG.swarm.reconcileIntervalMs
  // a hand-off not done after a few anti-entropy rounds is reported as not done (NaN)
  const handoffTimeoutMs = 5 * reconcileIntervalMs + 60_000
  const hostCount = options.hosts ?? defaultHosts(n)
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-sim-'))
  const hosts = Array.from({ length: hostCount }, (_, i) => SimHost.spawn(i))
  /** Live nodes by name: where each runs, its id and its first listen address. */
  const nodes = new Map<string, { host: SimHost, id: string, addr: string }>()
  const clients: GhostClient[] = []
  try {
    const names = Array.from({ length: n + churnCount }, (_, i) => `n${i}`)
    const ids = await Promise.all(names.map(async name => peerIdFromPrivateKey((await loadOrCreateIdentity(join(dir, name))).privateKey).toString()))
    const addrOf = (name: string): string => nodes.get(name)!.addr
    // as an operator's config names them: with their addresses once they listen (the authorities
    // themselves start before those are known, and find each other through their bootstrap list)
    const authorities = (): string[] => ids.slice(0, AUTHORITIES).map((id, i) => nodes.has(names[i]) ? addrOf(names[i]) : `/p2p/${id}`)
    const start = async (name: string): Promise<void> => {
      const earlier = [...nodes.keys()]
      // up to three earlier nodes, one of them an authority: how an operator bootstraps
      const boot = earlier.length === 0 ? [] : [earlier[Math.floor(Math.random() * Math.min(AUTHORITIES, earlier.length))], ...earlier.sort(() => Math.random() - 0.5).slice(0, 2)]
      const host = hosts[names.indexOf(name) % hosts.length]
      const started = await host.start({
        dir,
        name,
        bootstrap: [...new Set(boot)].map(addrOf),
        authorities: authorities(),
        documentIntervalMs,
        dropAfterMs,
        probationMs: SIM_PROBATION_MS,
        reconcileIntervalMs,
        // libp2p's own metrics keep process-wide state: one node (the sample) has them
        libp2pMetrics: name === SAMPLE
      })
      nodes.set(name, { host, ...started })
    }
    const stop = async (name: string): Promise<void> => {
      await nodes.get(name)!.host.stop(name)
      nodes.delete(name)
    }
    const liveIds = (): string[] => [...nodes.values()].map(x => x.id)
    /** Every live node's status (from every host at once), as of the last convergence check. */
    let statuses: HostedNodeStatus[] = []
    const describe = (): string => {
      const xs = statuses
      if (xs.length === 0) return 'no status yet'
      const range = (f: (x: HostedNodeStatus) => number): string => `${Math.min(...xs.map(f))}..${Math.max(...xs.map(f))}`
      return `records with addresses ${range(x => x.records)}, document members ${range(x => x.members)} (periods ${range(x => x.period)}), ` +
        `rings ${range(x => x.ring)}, ready ${xs.filter(x => x.ready).length}/${xs.length}, connections ${range(x => x.connections)}${pulls(xs)}`
    }
    /** The pulls of the nodes not ready: how far along, how long, how often restarted, and why members were skipped. */
    const pulls = (xs: HostedNodeStatus[]): string => {
      const waiting = xs.filter(x => !x.ready && x.pull.pulling)
      if (waiting.length === 0) return ''
      const range = (f: (x: HostedNodeStatus) => number): string => `${Math.min(...waiting.map(f))}..${Math.max(...waiting.map(f))}`
      const errors = new Map<string, number>()
      for (const x of waiting) if (x.pull.lastError !== undefined) errors.set(x.pull.lastError, (errors.get(x.pull.lastError) ?? 0) + 1)
      return `; ${waiting.length} pulling: members asked ${range(x => x.pull.members)}, answered ${range(x => x.pull.done)}, ` +
        `unreachable ${range(x => x.pull.failed)}, for ${range(x => Math.round(x.pull.elapsedMs / 1000))} s, restarted ${range(x => x.pull.restarts)}×` +
        (errors.size > 0 ? ` (last errors: ${[...errors].map(([e, c]) => `${c} × ${e}`).join(', ')})` : '')
    }
    // every live node: every live node's record (with addresses) in its directory, every live node in
    // its document, and exactly the live nodes on its ring (a node that left is off it), and ready
    const converged = (count: number) => async () => {
      const expected = liveIds()
      statuses = (await Promise.all(hosts.map(async h => h.status(expected)))).flat()
      return expected.length === count && statuses.length === count && statuses.every(x => x.complete)
    }
    const usage = async (): Promise<HostUsage> => sumUsage(await Promise.all(hosts.map(async h => h.usage())))
    const comparisons = async (): Promise<Map<string, Record<string, number>>> =>
      new Map((await Promise.all(hosts.map(async h => h.reconciles()))).flat())

    // 1. join
    log(`sim: ${n} nodes in ${hostCount} process${hostCount > 1 ? 'es' : ''} joining (3 authorities, probation ${SIM_PROBATION_MS / 1000} s, document every ${documentIntervalMs / 1000} s, unanswering members dropped after ${dropAfterMs / 1000} s)`)
    const t0 = performance.now()
    for (const [i, name] of names.slice(0, n).entries()) {
      await start(name)
      if ((i + 1) % 10 === 0 && i + 1 < n) log(`  ${i + 1}/${n} started (${((performance.now() - t0) / 1000).toFixed(0)} s)`)
    }
    const joinS = (performance.now() - t0) / 1000
    const convergedS = await until(`every directory to hold ${n} records and every ring ${n} members`, converged(n), 600_000, describe, log)
    log(`  joined in ${joinS.toFixed(1)} s; directories and rings complete ${convergedS.toFixed(1)} s after the last start`)

    // 2. circuits
    const entries = (): string[] => [...nodes.values()].map(x => x.addr)
    for (let i = 0; i < 4; i++) {
      const all = entries()
      clients.push(await GhostClient.create({ bootstrap: [all[Math.floor(Math.random() * all.length)]], requestTimeoutMs: 30_000 }))
    }
    const builds = new LatencyRecorder()
    let built = 0
    const circuitFailures: Record<string, number> = {}
    const circuitCount = options.circuits ?? 100
    await pool(Array.from({ length: circuitCount }, (_, i) => i), 4, async (i) => {
      const t = performance.now()
      try {
        const circuit = await clients[i % clients.length].buildCircuit()
        builds.add(performance.now() - t)
        built++
        circuit.close()
      } catch (err) {
        const e = err as { code?: string, message?: string }
        const reason = e.code ?? e.message ?? String(err)
        circuitFailures[reason] = (circuitFailures[reason] ?? 0) + 1
      }
    })
    log(`  circuits: ${built}/${circuitCount} built, p50 ${builds.summary().p50_ms.toFixed(1)} ms` +
      (built < circuitCount ? `; failed: ${Object.entries(circuitFailures).map(([r, c]) => `${c} × ${r}`).join(', ')}` : ''))

    // 3. mailboxes
    const storeMs = new LatencyRecorder()
    const stored: Stored[] = []
    await pool(Array.from({ length: mailboxes }, (_, i) => i), concurrency, async (i) => {
      const key = MailboxKey.generate()
      const text = `sim ${i}`
      const t = performance.now()
      try {
        const receipt = await clients[i % clients.length].store(key.publicKey, new TextEncoder().encode(text), { raw: true, ttlMs: 3_600_000 })
        storeMs.add(performance.now() - t)
        stored.push({ key, hash: receipt.hash, text })
      } catch {}
    })
    /** Signed retrieves through the clients' circuits: how many came back with their message. */
    const readBack = async (items: Stored[]): Promise<{ ok: number, failed: number }> => {
      let ok = 0
      await pool(items, concurrency, async (s, i) => {
        const page = await clients[i % clients.length].retrieve(s.key).catch(() => undefined)
        if (page?.messages.some(m => new TextDecoder().decode(m.data) === s.text) === true) ok++
      })
      return { ok, failed: items.length - ok }
    }
    const { ok: readOk, failed: readFailed } = await readBack(stored)
    /** Who holds each message: one pass over every live node's hash index. */
    const holdersOf = async (): Promise<Map<string, Set<string>>> => {
      const out = new Map<string, Set<string>>()
      for (const host of hosts) {
        for (const { id, hashes } of await host.holdings()) {
          for (let i = 0; i < hashes.length; i += 32) {
            const h = Buffer.from(hashes.buffer, hashes.byteOffset + i, 32).toString('hex')
            let set = out.get(h)
            if (set === undefined) out.set(h, set = new Set())
            set.add(id)
          }
        }
      }
      return out
    }
    /** The ring every node holds once converged: the live nodes (cached per membership). */
    let ringOf: { key: string, ring: HashRing } | undefined
    const liveRing = (): HashRing => {
      const members = liveIds().sort()
      const key = members.join(',')
      if (ringOf?.key !== key) ringOf = { key, ring: new HashRing({ vnodesPerNode: DEFAULT_CONFIG.swarm.vnodesPerNode, nodes: members }) }
      return ringOf.ring
    }
    const placedExactly = async (items: Stored[]): Promise<number> => {
      const ring = liveRing()
      const holders = await holdersOf()
      let exact = 0
      for (const s of items) {
        const owners = ring.swarmFor(s.key.publicKey, R)
        const held = holders.get(Buffer.from(s.hash).toString('hex')) ?? new Set()
        if (held.size === owners.length && owners.every(o => held.has(o))) exact++
      }
      return exact
    }
    // a store is acknowledged at the write quorum; a copy that failed or lags reaches its last
    // owner by anti-entropy, so placement is awaited (up to a few rounds), not read at once
    let exact = 0
    const placedS = await until('every mailbox on exactly its owners', async () => {
      exact = await placedExactly(stored)
      return exact === stored.length
    }, handoffTimeoutMs, () => `${exact}/${stored.length} placed`, log, PLACEMENT_POLL_MS).catch(() => Number.NaN)
    log(`  mailboxes: ${stored.length}/${mailboxes} acknowledged, ${readOk} read back, ${exact} on exactly their ${R} owners (${placedS.toFixed(1)} s after the reads)`)

    // 4. idle, in the steady state: after every node had an anti-entropy round since the stores
    // (the first round after a change compares every member; later ones skip unchanged members)
    log(`  settling for one anti-entropy interval (${reconcileIntervalMs / 1000} s) before the idle window`)
    await new Promise(resolve => setTimeout(resolve, reconcileIntervalMs + 2_000))
    const idleSeconds = options.idleSeconds ?? 60
    const sampleHost = nodes.get(SAMPLE)!.host
    const sent0 = new Map(await sampleHost.sentByProtocol(SAMPLE))
    const bytes0 = await loopbackBytes()
    const cpu0 = await usage()
    await new Promise(resolve => setTimeout(resolve, idleSeconds * 1000))
    const cpu1 = await usage()
    const bytes = await loopbackBytes() - bytes0
    const sampleSent: Record<string, number> = {}
    for (const [protocol, value] of (await sampleHost.sentByProtocol(SAMPLE)).sort((x, y) => y[1] - x[1])) {
      const perMin = Math.round((value - (sent0.get(protocol) ?? 0)) / (idleSeconds / 60))
      if (perMin > 0) sampleSent[protocol] = perMin
    }
    const perNode = {
      rss_bytes: Math.round(cpu1.rss / n),
      background_bytes_per_min: Math.round(bytes / (idleSeconds / 60) / n),
      cpu_ms_per_min: (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / 1000 / (idleSeconds / 60) / n
    }
    log(`  idle: one relay sent, per minute: ${Object.entries(sampleSent).map(([p, v]) => `${p} ${(v / 1024).toFixed(1)} KiB`).join(', ')}`)
    log(`  idle ${idleSeconds} s, per node: ${(perNode.rss_bytes / 2 ** 20).toFixed(1)} MiB RSS, ${(perNode.background_bytes_per_min / 1024).toFixed(1)} KiB/min on loopback, ${perNode.cpu_ms_per_min.toFixed(0)} ms CPU/min`)

    // 5. churn under load
    const leavers = [...nodes.keys()].slice(AUTHORITIES).filter(name => name !== SAMPLE).sort(() => Math.random() - 0.5).slice(0, churnCount)
    const joiners = names.slice(n, n + churnCount)
    const during: Stored[] = []
    let sent = 0
    let loading = true
    const load = (async () => {
      let i = 0
      await Promise.all(Array.from({ length: 4 }, async (_, w) => {
        while (loading) {
          const key = MailboxKey.generate()
          const text = `churn ${w}.${i++}`
          sent++
          try {
            const receipt = await clients[w % clients.length].store(key.publicKey, new TextEncoder().encode(text), { raw: true, ttlMs: 3_600_000 })
            during.push({ key, hash: receipt.hash, text })
          } catch {}
          // a steady load (about 20 stores/s from 4 writers), not a flood
          await new Promise(resolve => setTimeout(resolve, 200))
        }
      }))
    })()
    const churnStarted = performance.now()
    let counted = await comparisons()
    /** Comparisons since the last call, by the nodes present at both calls. */
    const comparedSince = async (): Promise<{ compared: number, skipped: number }> => {
      const now = await comparisons()
      const out = { compared: 0, skipped: 0 }
      for (const [name, c] of now) {
        const before = counted.get(name)
        if (before === undefined) continue
        for (const [outcome, v] of Object.entries(c)) {
          const d = v - (before[outcome] ?? 0)
          if (outcome === 'unchanged') out.skipped += d
          else out.compared += d
        }
      }
      counted = now
      return out
    }
    /** A wave whose rings did not complete in time: reported as null, and the churn ends there. */
    const ringsWithin = async (what: string, count: number): Promise<number> =>
      until(what, converged(count), 600_000, describe, log).catch((err: Error) => {
        log(`  churn: ${err.message}; no further waves`)
        return Number.NaN
      })
    for (const name of joiners) await start(name)
    // the joiners first: admitted (probation, a vote), on every ring, and what they now own handed to them
    const joinRingsS = await ringsWithin(`rings of ${n + churnCount} members after ${joiners.length} joined`, n + churnCount)
    let placed = 0
    const joinUpTo = [...stored, ...during]
    const joinHandoffS = await until('every acknowledged message on exactly its owners', async () => {
      placed = await placedExactly(joinUpTo)
      return placed === joinUpTo.length
    }, handoffTimeoutMs, () => `${placed}/${joinUpTo.length} placed`, log, PLACEMENT_POLL_MS).catch(() => Number.NaN)
    log(`  churn: ${joiners.length} joined; rings of ${n + churnCount} members after ${joinRingsS.toFixed(1)} s; ` +
      `${placed}/${joinUpTo.length} acknowledged on exactly their owners ${joinHandoffS.toFixed(1)} s later`)
    // three waves of leavers, each after the network re-replicated what the previous one held: the
    // network's own pulls and anti-entropy rounds do it (nothing is forced from here)
    const waves = [leavers.slice(0, Math.ceil(churnCount / 3)), leavers.slice(Math.ceil(churnCount / 3), Math.ceil(2 * churnCount / 3)), leavers.slice(Math.ceil(2 * churnCount / 3))]
    let expected = n + churnCount
    let handoffS = Number.NaN
    const joinCompared = await comparedSince()
    log(`  churn: anti-entropy during the joins: ${joinCompared.compared} comparisons, ${joinCompared.skipped} skipped as unchanged`)
    const waveReports: SimReport['churn']['waves'] = [{ left: 0, joined: joiners.length, rings_s: joinRingsS, handoff_s: joinHandoffS, placed_exactly: placed, acknowledged: joinUpTo.length, ...joinCompared }]
    for (const wave of Number.isNaN(joinRingsS) ? [] : waves.filter(w => w.length > 0)) {
      for (const name of wave) await stop(name)
      expected -= wave.length
      const ringsS = await ringsWithin(`rings of ${expected} members after a wave of ${wave.length} left`, expected)
      // what was acknowledged up to now, on exactly its owners again
      const upTo = [...stored, ...during]
      handoffS = await until('every acknowledged message on exactly its owners', async () => {
        placed = await placedExactly(upTo)
        return placed === upTo.length
      }, handoffTimeoutMs, () => `${placed}/${upTo.length} placed`, log, PLACEMENT_POLL_MS).catch(() => Number.NaN)
      const compared = await comparedSince()
      waveReports.push({ left: wave.length, joined: 0, rings_s: ringsS, handoff_s: handoffS, placed_exactly: placed, acknowledged: upTo.length, ...compared })
      log(`  churn: a wave of ${wave.length} left; rings of ${expected} members after ${ringsS.toFixed(1)} s; ` +
        `${placed}/${upTo.length} acknowledged on exactly their owners ${handoffS.toFixed(1)} s later; ` +
        `anti-entropy ${compared.compared} comparisons, ${compared.skipped} skipped`)
      if (Number.isNaN(ringsS)) break
    }
    loading = false
    await load
    const left = waveReports.reduce((sum, w) => sum + w.left, 0)
    const all = [...stored, ...during]
    const churnS = (performance.now() - churnStarted) / 1000
    // the stores acknowledged while the last wave was handed off
    const settleS = await until('every acknowledged message on exactly its owners', async () => {
      placed = await placedExactly(all)
      return placed === all.length
    }, handoffTimeoutMs, () => `${placed}/${all.length} placed`, log, PLACEMENT_POLL_MS).catch(() => Number.NaN)
    const holders = await holdersOf()
    const found = all.filter(s => (holders.get(Buffer.from(s.hash).toString('hex'))?.size ?? 0) > 0).length
    const sample = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / 500)) === 0)
    // the clients' guards may have left: new clients on live nodes
    for (const c of clients.splice(0)) await c.stop()
    for (let i = 0; i < 4; i++) {
      const all = entries()
      clients.push(await GhostClient.create({ bootstrap: [all[Math.floor(Math.random() * all.length)]], requestTimeoutMs: 30_000 }))
    }
    const { ok: churnReadOk, failed: churnReadFailed } = await readBack(sample)
    log(`  churn: ${left} left, ${joiners.length} joined; ${sent} stores sent during it, ${during.length} acknowledged; ` +
      `${found}/${all.length} acknowledged found, ${placed} on exactly their owners (${settleS.toFixed(1)} s after the load stopped; churn ${churnS.toFixed(0)} s); reads ${churnReadOk} ok, ${churnReadFailed} failed`)

    return {
      nodes: n,
      settings: { document_interval_s: documentIntervalMs / 1000, drop_after_s: dropAfterMs / 1000, reconcile_interval_s: reconcileIntervalMs / 1000, probation_s: SIM_PROBATION_MS / 1000, hosts: hostCount },
      replicas: R,
      acknowledged: all.length,
      found,
      lost: all.length - found,
      directory_converged_s: convergedS,
      join_s: joinS,
      circuit_success_rate: built / circuitCount,
      circuit_failures: circuitFailures,
      circuit_build_ms: builds.summary(),
      store_ms: storeMs.summary(),
      placement: { mailboxes: stored.length, exact, settled_s: placedS },
      reads: { ok: readOk, failed: readFailed },
      per_node: perNode,
      sample_node_sent_per_min: sampleSent,
      process: { rss_bytes: cpu1.rss, heap_used_bytes: cpu1.heapUsed, hosts: hostCount },
      churn: {
        left,
        joined: joiners.length,
        sent,
        acknowledged: during.length,
        found,
        lost: all.length - found,
        handoff_s: handoffS,
        duration_s: churnS,
        waves: waveReports,
        placed_exactly: placed,
        reads_ok: churnReadOk,
        reads_failed: churnReadFailed
      }
    }
  } finally {
    for (const c of clients) await c.stop().catch(() => undefined)
    await Promise.all(hosts.map(async h => h.close()))
    await rm(dir, { recursive: true, force: true })
  }
}
