import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loopbackConfig } from '../lib/loopback-config.js'
import { LatencyRecorder, type LatencySummary } from '../lib/stats.js'
import { createGhostnode } from '../../src/compose.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { loadOrCreateIdentity } from '../../src/identity/key-file.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import type { Ghostnode } from '../../src/node.js'

/**
 * A network of real ghostnode nodes in this process (libp2p over loopback TCP,
 * kad-dht, directory, membership with three authorities admitting relays as
 * they join, onion relays, swarm service and LevelDB stores), run through one
 * scripted scenario (docs/swarm.md, "At scale"):
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
 *    each the process's divided by N, and one relay's bytes by protocol;
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
  log?: (line: string) => void
}

export interface SimReport {
  nodes: number
  /** What the run was shortened to (seconds): membership period, drop time, anti-entropy interval, probation. */
  settings: { document_interval_s: number, drop_after_s: number, reconcile_interval_s: number, probation_s: number }
  replicas: number
  acknowledged: number
  found: number
  lost: number
  directory_converged_s: number
  join_s: number
  circuit_success_rate: number
  circuit_build_ms: LatencySummary
  store_ms: LatencySummary
  placement: { mailboxes: number, exact: number }
  reads: { ok: number, failed: number }
  per_node: { rss_bytes: number, background_bytes_per_min: number, cpu_ms_per_min: number }
  /** One relay's bytes sent per minute while idle, by libp2p protocol ('global' is the whole connection, framing included). */
  sample_node_sent_per_min: Record<string, number>
  process: { rss_bytes: number, heap_used_bytes: number }
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
    /** Per wave (the joins first, then each wave of leavers): seconds until every ring was complete, then until the hand-off was. */
    waves: Array<{ left: number, joined: number, rings_s: number, handoff_s: number, placed_exactly: number, acknowledged: number }>
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
/** One client's link carries every cell of its requests: the per-peer limits would be what is measured. */
const RAISED_LIMITS = {
  cells: { ratePerSecond: 1_000_000, burst: 1_000_000 },
  bytes: { ratePerSecond: 1_000_000_000, burst: 1_000_000_000 },
  swarm: { ratePerSecond: 1_000_000, burst: 1_000_000 },
  circuits: { ratePerSecond: 100_000, burst: 100_000 }
}

/** The relay whose traffic is broken down by protocol (the first after the authorities; it never leaves). */
const SAMPLE = `n${AUTHORITIES}`

/** Bytes sent so far by one node, by protocol, from @libp2p/prometheus-metrics. */
async function sentByProtocol (node: Ghostnode): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  const metric = node.registry.getSingleMetric('libp2p_data_transfer_bytes_total')
  if (metric === undefined) return out
  for (const v of (await metric.get()).values) {
    const label = String(v.labels.protocol ?? '')
    if (label.endsWith(' sent')) out.set(label.slice(0, -' sent'.length), v.value)
  }
  return out
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
async function until (what: string, predicate: () => boolean | Promise<boolean>, timeoutMs: number, state?: () => string, progress?: (line: string) => void): Promise<number> {
  const started = performance.now()
  let reported = started
  while (!(await predicate())) {
    const now = performance.now()
    if (now - started > timeoutMs) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${state !== undefined ? ` (${state()})` : ''}`)
    if (progress !== undefined && state !== undefined && now - reported > 30_000) {
      reported = now
      progress(`    … ${Math.round((now - started) / 1000)} s waiting for ${what}: ${state()}`)
    }
    await new Promise(resolve => setTimeout(resolve, 250))
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
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-sim-'))
  const nodes = new Map<string, Ghostnode>()
  const clients: GhostClient[] = []
  try {
    const names = Array.from({ length: n + churnCount }, (_, i) => `n${i}`)
    const ids = await Promise.all(names.map(async name => peerIdFromPrivateKey((await loadOrCreateIdentity(join(dir, name))).privateKey).toString()))
    // as an operator's config names them: with their addresses once they listen (the authorities
    // themselves start before those are known, and find each other through their bootstrap list)
    const authorities = (): string[] => ids.slice(0, AUTHORITIES).map((id, i) => nodes.has(names[i]) ? addrOf(names[i]) : `/p2p/${id}`)
    const addrOf = (name: string): string => nodes.get(name)!.getMultiaddrs()[0].toString()
    const start = async (name: string): Promise<void> => {
      const earlier = [...nodes.keys()]
      // up to three earlier nodes, one of them an authority: how an operator bootstraps
      const boot = earlier.length === 0 ? [] : [earlier[Math.floor(Math.random() * Math.min(AUTHORITIES, earlier.length))], ...earlier.sort(() => Math.random() - 0.5).slice(0, 2)]
      const config = loopbackConfig(dir, name, {
        bootstrap: [...new Set(boot)].map(addrOf),
        discovery: { intervalMs: DEFAULT_CONFIG.discovery.intervalMs },
        network: {
          authorities: authorities(),
          documentIntervalMs,
          admission: { ...DEFAULT_CONFIG.network.admission, probationMs: SIM_PROBATION_MS, dropAfterMs, maxPer24: 100_000, maxPer16: 100_000, maxNewPerHour: 100_000 }
        },
        connections: { ...DEFAULT_CONFIG.connections, maxPerPrefix: 100_000 },
        swarm: { ...DEFAULT_CONFIG.swarm, reconcileIntervalMs },
        rateLimit: { ...DEFAULT_CONFIG.rateLimit, limits: { ...DEFAULT_CONFIG.rateLimit.limits, ...RAISED_LIMITS } }
      })
      // libp2p's own metrics keep process-wide state: one node (the sample) has them
      const node = await createGhostnode(config, { libp2pMetrics: name === SAMPLE })
      await node.start()
      nodes.set(name, node)
    }
    const live = (): Ghostnode[] => [...nodes.values()]
    const describe = (): string => {
      const xs = live()
      const range = (f: (x: Ghostnode) => number): string => `${Math.min(...xs.map(f))}..${Math.max(...xs.map(f))}`
      return `records with addresses ${range(x => x.libp2p.services.directory.records().filter(r => r.addrs.length > 0).length)}, ` +
        `document members ${range(x => x.libp2p.services.membership.view.size)} (periods ${range(x => x.libp2p.services.membership.view.period)}), rings ${range(x => x.swarm.membership.ring.size)}, ` +
        `ready ${xs.filter(x => x.swarm.sync.ready).length}/${xs.length}, connections ${range(x => x.libp2p.getConnections().length)}`
    }
    // every live node: every live node's record (with addresses) in its directory, every live node in
    // its document, and exactly the live nodes on its ring (a node that left is off it), and ready
    const converged = (count: number) => () => {
      const ids = live().map(x => x.peerId.toString())
      if (ids.length !== count) return false
      return live().every(x => {
        const records = new Set(x.libp2p.services.directory.records().filter(r => r.addrs.length > 0).map(r => r.peerId.toString()))
        const ring = new Set(x.swarm.membership.ring.nodes())
        return ids.every(id => records.has(id) && x.libp2p.services.membership.view.isMember(id) && ring.has(id)) &&
          ring.size === count && x.swarm.sync.ready
      })
    }

    // 1. join
    log(`sim: ${n} nodes joining (3 authorities, probation ${SIM_PROBATION_MS / 1000} s, document every ${documentIntervalMs / 1000} s, unanswering members dropped after ${dropAfterMs / 1000} s)`)
    const t0 = performance.now()
    for (const name of names.slice(0, n)) await start(name)
    const joinS = (performance.now() - t0) / 1000
    const convergedS = await until(`every directory to hold ${n} records and every ring ${n} members`, converged(n), 600_000, describe, log)
    log(`  joined in ${joinS.toFixed(1)} s; directories and rings complete ${convergedS.toFixed(1)} s after the last start`)

    // 2. circuits
    const nodeList = live()
    for (let i = 0; i < 4; i++) {
      const entry = nodeList[Math.floor(Math.random() * nodeList.length)]
      clients.push(await GhostClient.create({ bootstrap: [entry.getMultiaddrs()[0].toString()], requestTimeoutMs: 30_000 }))
    }
    const builds = new LatencyRecorder()
    let built = 0
    const circuitCount = options.circuits ?? 100
    await pool(Array.from({ length: circuitCount }, (_, i) => i), 4, async (i) => {
      const t = performance.now()
      try {
        const circuit = await clients[i % clients.length].buildCircuit()
        builds.add(performance.now() - t)
        built++
        circuit.close()
      } catch {}
    })
    log(`  circuits: ${built}/${circuitCount} built, p50 ${builds.summary().p50_ms.toFixed(1)} ms`)

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
      for (const x of live()) {
        const id = x.peerId.toString()
        for await (const { listing } of x.swarm.store.iterateListings()) {
          for (const e of listing) {
            const h = Buffer.from(e.hash).toString('hex')
            let set = out.get(h)
            if (set === undefined) out.set(h, set = new Set())
            set.add(id)
          }
        }
      }
      return out
    }
    const placedExactly = async (items: Stored[]): Promise<number> => {
      const ring = live()[0].swarm.membership.ring
      const holders = await holdersOf()
      let exact = 0
      for (const s of items) {
        const owners = ring.swarmFor(s.key.publicKey, R)
        const held = holders.get(Buffer.from(s.hash).toString('hex')) ?? new Set()
        if (held.size === owners.length && owners.every(o => held.has(o))) exact++
      }
      return exact
    }
    const exact = await placedExactly(stored)
    log(`  mailboxes: ${stored.length}/${mailboxes} acknowledged, ${readOk} read back, ${exact} on exactly their ${R} owners`)

    // 4. idle, in the steady state: after every node had an anti-entropy round since the stores
    // (the first round after a change compares every member; later ones skip unchanged members)
    log(`  settling for one anti-entropy interval (${reconcileIntervalMs / 1000} s) before the idle window`)
    await new Promise(resolve => setTimeout(resolve, reconcileIntervalMs + 2_000))
    const idleSeconds = options.idleSeconds ?? 60
    const sampleNode = nodes.get(SAMPLE)!
    const sent0 = await sentByProtocol(sampleNode)
    const bytes0 = await loopbackBytes()
    const cpu0 = process.cpuUsage()
    await new Promise(resolve => setTimeout(resolve, idleSeconds * 1000))
    const cpu = process.cpuUsage(cpu0)
    const bytes = await loopbackBytes() - bytes0
    const sampleSent: Record<string, number> = {}
    for (const [protocol, value] of [...(await sentByProtocol(sampleNode)).entries()].sort((x, y) => y[1] - x[1])) {
      const perMin = Math.round((value - (sent0.get(protocol) ?? 0)) / (idleSeconds / 60))
      if (perMin > 0) sampleSent[protocol] = perMin
    }
    const mem = process.memoryUsage()
    const perNode = {
      rss_bytes: Math.round(mem.rss / n),
      background_bytes_per_min: Math.round(bytes / (idleSeconds / 60) / n),
      cpu_ms_per_min: (cpu.user + cpu.system) / 1000 / (idleSeconds / 60) / n
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
    for (const name of joiners) await start(name)
    // the joiners first: admitted (probation, a vote), on every ring, and what they now own handed to them
    const joinRingsS = await until(`rings of ${n + churnCount} members after ${joiners.length} joined`, converged(n + churnCount), 600_000, describe, log)
    let placed = 0
    const joinUpTo = [...stored, ...during]
    const joinHandoffS = await until('every acknowledged message on exactly its owners', async () => {
      placed = await placedExactly(joinUpTo)
      return placed === joinUpTo.length
    }, handoffTimeoutMs, () => `${placed}/${joinUpTo.length} placed`, log).catch(() => Number.NaN)
    log(`  churn: ${joiners.length} joined; rings of ${n + churnCount} members after ${joinRingsS.toFixed(1)} s; ` +
      `${placed}/${joinUpTo.length} acknowledged on exactly their owners ${joinHandoffS.toFixed(1)} s later`)
    // three waves of leavers, each after the network re-replicated what the previous one held: the
    // network's own pulls and anti-entropy rounds do it (nothing is forced from here)
    const waves = [leavers.slice(0, Math.ceil(churnCount / 3)), leavers.slice(Math.ceil(churnCount / 3), Math.ceil(2 * churnCount / 3)), leavers.slice(Math.ceil(2 * churnCount / 3))]
    let expected = n + churnCount
    let handoffS = Number.NaN
    const waveReports: SimReport['churn']['waves'] = [{ left: 0, joined: joiners.length, rings_s: joinRingsS, handoff_s: joinHandoffS, placed_exactly: placed, acknowledged: joinUpTo.length }]
    for (const wave of waves.filter(w => w.length > 0)) {
      for (const name of wave) {
        await nodes.get(name)!.stop()
        nodes.delete(name)
      }
      expected -= wave.length
      const ringsS = await until(`rings of ${expected} members after a wave of ${wave.length} left`, converged(expected), 600_000, describe, log)
      // what was acknowledged up to now, on exactly its owners again
      const upTo = [...stored, ...during]
      handoffS = await until('every acknowledged message on exactly its owners', async () => {
        placed = await placedExactly(upTo)
        return placed === upTo.length
      }, handoffTimeoutMs, () => `${placed}/${upTo.length} placed`, log).catch(() => Number.NaN)
      waveReports.push({ left: wave.length, joined: 0, rings_s: ringsS, handoff_s: handoffS, placed_exactly: placed, acknowledged: upTo.length })
      log(`  churn: a wave of ${wave.length} left; rings of ${expected} members after ${ringsS.toFixed(1)} s; ` +
        `${placed}/${upTo.length} acknowledged on exactly their owners ${handoffS.toFixed(1)} s later`)
    }
    loading = false
    await load
    const all = [...stored, ...during]
    const churnS = (performance.now() - churnStarted) / 1000
    // the stores acknowledged while the last wave was handed off
    const settleS = await until('every acknowledged message on exactly its owners', async () => {
      placed = await placedExactly(all)
      return placed === all.length
    }, handoffTimeoutMs, () => `${placed}/${all.length} placed`, log).catch(() => Number.NaN)
    const holders = await holdersOf()
    const found = all.filter(s => (holders.get(Buffer.from(s.hash).toString('hex'))?.size ?? 0) > 0).length
    const sample = all.filter((_, i) => i % Math.max(1, Math.floor(all.length / 500)) === 0)
    // the clients' guards may have left: new clients on live nodes
    for (const c of clients.splice(0)) await c.stop()
    for (let i = 0; i < 4; i++) {
      const entry = live()[Math.floor(Math.random() * live().length)]
      clients.push(await GhostClient.create({ bootstrap: [entry.getMultiaddrs()[0].toString()], requestTimeoutMs: 30_000 }))
    }
    const { ok: churnReadOk, failed: churnReadFailed } = await readBack(sample)
    log(`  churn: ${leavers.length} left, ${joiners.length} joined; ${sent} stores sent during it, ${during.length} acknowledged; ` +
      `${found}/${all.length} acknowledged found, ${placed} on exactly their owners (${settleS.toFixed(1)} s after the load stopped; churn ${churnS.toFixed(0)} s); reads ${churnReadOk} ok, ${churnReadFailed} failed`)

    return {
      nodes: n,
      settings: { document_interval_s: documentIntervalMs / 1000, drop_after_s: dropAfterMs / 1000, reconcile_interval_s: reconcileIntervalMs / 1000, probation_s: SIM_PROBATION_MS / 1000 },
      replicas: R,
      acknowledged: all.length,
      found,
      lost: all.length - found,
      directory_converged_s: convergedS,
      join_s: joinS,
      circuit_success_rate: built / circuitCount,
      circuit_build_ms: builds.summary(),
      store_ms: storeMs.summary(),
      placement: { mailboxes: stored.length, exact },
      reads: { ok: readOk, failed: readFailed },
      per_node: perNode,
      sample_node_sent_per_min: sampleSent,
      process: { rss_bytes: mem.rss, heap_used_bytes: mem.heapUsed },
      churn: {
        left: leavers.length,
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
    await Promise.all([...nodes.values()].map(async x => x.stop().catch(() => undefined)))
    await rm(dir, { recursive: true, force: true })
  }
}
