/**
 * SIGKILL of a relay under sustained store load, on a testnet of `ghostnode
 * start` processes, and its restart on the same data dir. Shared by
 * test/e2e/fault-sigkill.test.ts (which asserts on the report) and
 * bench/faults.ts (which runs it longer and prints it).
 *
 * 1. N nodes (default 4: a 3-hop circuit needs 3 live relays after the kill),
 *    R = 3, W = 2 (majority); clients with 3-hop circuits store continuously
 *    into many mailboxes.
 * 2. The victim is chosen from the clients' live circuits: the node on the most
 *    circuits among those that are some circuit's guard or middle hop.
 * 3. SIGKILL; load goes on. Each client whose circuit used the victim is timed
 *    from the kill to its first successful store sent after the kill.
 * 4. The victim restarts (same identity, data and ports) while load goes on;
 *    then load stops and every node completes two anti-entropy rounds.
 * 5. Every acknowledged message is read back through circuits (signed
 *    RETRIEVE, all pages); then the nodes stop and each node's own LevelDB is
 *    opened to check that every acknowledged message is on each of its R
 *    replicas (the ring computed from the peer ids, as the nodes compute it).
 */
import { performance } from 'node:perf_hooks'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { HashRing } from '../../src/swarm/ring.js'
import { getJson, waitForSwarmRings, waitUntil } from '../testnet/ready.js'
import { startTestnet, type Testnet, type TestnetNode } from '../testnet/testnet.js'
import { BenchSetupError } from './errors.js'
import { inspectStores, readMailbox } from './mailbox-check.js'
import { byLabel, scrape, total } from './prom.js'
import { StoreLoad } from './store-load.js'
import type { ProcessExit, StopResult } from './ghostnode-process.js'

export const REPLICAS = 3

export interface SigkillScenarioOptions {
  /** Node data dirs go under it (kept: the scenario inspects them after stopping the nodes). */
  baseDir: string
  /** @default 4 */
  nodes?: number
  /** @default 6 */
  clients?: number
  /** Concurrent stores per client. @default 2 */
  lanesPerClient?: number
  /** @default 48 */
  mailboxes?: number
  /** Acknowledged stores before the kill. @default 200 */
  ackedBeforeKill?: number
  /** Acknowledged stores between the kill and the restart (after every affected client recovered). @default 200 */
  ackedAfterKill?: number
  /** Acknowledged stores after the restarted node is ready, before load stops. @default 100 */
  ackedAfterRestart?: number
  /** Deadline of each phase. @default 30000 */
  phaseTimeoutMs?: number
  /** Extra `--set` pairs for every node, after the scenario's own. */
  set?: string[]
  log?: (line: string) => void
}

/** What the caller must release if the scenario throws (see releaseScenario). */
export interface ScenarioResources { net?: Testnet, clients: GhostClient[] }

export interface NodeReplicaCheck {
  name: string
  restarted: boolean
  /** Acknowledged messages whose swarm includes this node. */
  expected: number
  found: number
}

export interface SigkillReport {
  nodes: string[]
  victim: { name: string, guardOf: number, middleOf: number, exitOf: number, replicaOfMailboxes: number, ackedBeforeKillNamingIt: number, exit: ProcessExit }
  /** Stores whose receipt named the victim, and how many of them its database held right after the SIGKILL. */
  victimDisk: { acknowledgedByIt: number, onDiskAfterKill: number }
  sent: number
  acknowledged: number
  /** Acknowledged as duplicates: a first attempt was stored but its answer lost (the client retried on a new circuit). */
  duplicates: number
  failures: Record<string, number>
  /** Per client whose circuit used the victim: ms from the kill to its first successful store sent after it. */
  rebuildMs: Array<{ client: number, ms: number | undefined }>
  /** Same measure for the clients whose circuit did not use the victim. */
  unaffectedMs: Array<{ client: number, ms: number | undefined }>
  /** Acknowledged messages whose receipt names fewer than W members, or a member outside the computed swarm. */
  badReceipts: number
  /** Acknowledged messages read back through circuits. */
  foundAfterRecovery: number
  /** Messages read back in total (stores whose ack was lost are there too). */
  retrievable: number
  missing: string[]
  perReplica: NodeReplicaCheck[]
  /** Texts missing per node (at most 10 each), for the failure message. */
  missingOnReplica: Record<string, string[]>
  /** "nodeX bans nodeY" for every ban between testnet nodes after recovery. */
  bans: string[]
  stopResults: StopResult[]
  durationMs: number
}

const RAISED_DEPOSITS = [
  // one mailbox's deposit bucket (5/s) would turn a fault test into a rate-limit test
  'rateLimit.limits.deposit.ratePerSecond=100000', 'rateLimit.limits.deposit.burst=100000'
]

function tcpAddr (node: TestnetNode): string {
  const addr = node.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (addr == null) throw new BenchSetupError(`${node.name} reports no TCP address`)
  return addr
}

async function counter (node: TestnetNode, name: string, label: string, value: string): Promise<number> {
  return byLabel(await scrape(node.httpUrl), name, label)[value] ?? 0
}

export async function releaseScenario (res: ScenarioResources): Promise<void> {
  await Promise.allSettled(res.clients.map(async c => c.stop()))
  res.clients.length = 0
  await res.net?.stop().catch(() => {})
}

export async function runSigkillScenario (options: SigkillScenarioOptions, res: ScenarioResources): Promise<SigkillReport> {
  const log = options.log ?? (() => {})
  const started = performance.now()
  const nodeCount = options.nodes ?? 4
  const phaseMs = options.phaseTimeoutMs ?? 30_000
  const set = ['swarm.replicas=' + String(REPLICAS), 'directory.fetchIntervalMs=1000', 'swarm.reconcileIntervalMs=1000', ...RAISED_DEPOSITS, ...(options.set ?? [])]
  const net = res.net = await startTestnet({ nodes: nodeCount, basePort: 0, baseDir: options.baseDir, extraArgs: set.flatMap(s => ['--set', s]) })
  const names = net.nodes.map(n => n.name)
  const nameOf = new Map(net.nodes.map(n => [n.peerId, n.name]))
  await waitForSwarmRings(net.nodes.map(n => n.httpUrl), nodeCount, { timeoutMs: phaseMs })
  const ring = new HashRing({ nodes: net.nodes.map(n => n.peerId) })

  const keys = Array.from({ length: options.mailboxes ?? 48 }, () => MailboxKey.generate())
  for (let i = 0; i < (options.clients ?? 6); i++) {
    res.clients.push(await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[i % nodeCount])], hops: 3 }))
  }
  const clients = res.clients
  await Promise.all(clients.map(async c => c.circuit()))
  const load = new StoreLoad({ clients, keys, lanesPerClient: options.lanesPerClient ?? 2, prefix: 'sigkill' })
  load.start()
  try {
    const ackedAtLeast = async (what: string, n: number): Promise<void> => {
      await waitUntil(what, async (state) => {
        state.last = `${load.acked.length} acknowledged of ${load.sent} sent; failures ${JSON.stringify(Object.fromEntries(load.failures))}`
        return load.acked.length >= n ? true : undefined
      }, { timeoutMs: phaseMs })
    }
    await ackedAtLeast('load before the kill', options.ackedBeforeKill ?? 200)

    // the victim: on the most live circuits, among the nodes that are some circuit's guard or middle
    const paths = await Promise.all(clients.map(async c => (await c.circuit()).path.map(p => p.toString())))
    const roles = net.nodes.map(n => ({
      guardOf: paths.filter(p => p[0] === n.peerId).length,
      middleOf: paths.filter(p => p.slice(1, -1).includes(n.peerId)).length,
      exitOf: paths.filter(p => p[p.length - 1] === n.peerId).length
    }))
    let victimIndex = -1
    for (const [i, r] of roles.entries()) {
      if (r.guardOf + r.middleOf === 0) continue
      const on = r.guardOf + r.middleOf + r.exitOf
      if (victimIndex === -1 || on > roles[victimIndex].guardOf + roles[victimIndex].middleOf + roles[victimIndex].exitOf) victimIndex = i
    }
    if (victimIndex === -1) throw new BenchSetupError('no node is a guard or middle hop of any circuit')
    const victim = net.nodes[victimIndex]
    const affected = new Set(paths.flatMap((p, c) => p.includes(victim.peerId) ? [c] : []))
    const replicaOfMailboxes = keys.filter(k => ring.swarmFor(k.publicKey, REPLICAS).includes(victim.peerId)).length
    const ackedBeforeKillNamingIt = load.acked.filter(a => a.members.includes(victim.peerId)).length
    log(`killing ${victim.name}: guard of ${roles[victimIndex].guardOf}, middle of ${roles[victimIndex].middleOf}, exit of ${roles[victimIndex].exitOf} circuits; ` +
      `replica of ${replicaOfMailboxes}/${keys.length} mailboxes; ${load.acked.length} acknowledged so far`)

    const killAt = performance.now()
    const ackedAtKill = load.acked.length
    const exit = await net.kill(victimIndex, 'SIGKILL')
    await waitUntil('every affected client to store again, and load to go on', async (state) => {
      const times = load.firstSuccessAfter(killAt)
      const waiting = [...affected].filter(c => times[c] === undefined)
      state.last = `clients still without a success: ${waiting.join(', ') || 'none'}; ${load.acked.length - ackedAtKill} acknowledged since the kill`
      return waiting.length === 0 && load.acked.length - ackedAtKill >= (options.ackedAfterKill ?? 200) ? true : undefined
    }, { timeoutMs: phaseMs }).catch((err: Error) => { log(err.message) })
    const times = load.firstSuccessAfter(killAt)
    const rebuildMs = [...affected].map(client => ({ client, ms: times[client] }))
    const unaffectedMs = clients.flatMap((_, client) => affected.has(client) ? [] : [{ client, ms: times[client] }])

    // what the victim acknowledged must be in its own database as the SIGKILL left it (read before the restart writes to it)
    const namedVictim = load.acked.filter(a => a.members.includes(victim.peerId))
    const [onDisk] = await inspectStores([victim.dataDir], namedVictim.map(a => ({ mailbox: keys[a.mailbox].publicKey, hash: a.hash })))
    const victimDisk = { acknowledgedByIt: namedVictim.length, onDiskAfterKill: onDisk.filter(Boolean).length }

    log(`restarting ${victim.name}`)
    const back = await net.restart(victimIndex, { readyTimeoutMs: phaseMs })
    await waitUntil(`${back.name} to pull its ranges`, async (state) => {
      const s = await scrape(back.httpUrl)
      state.last = `ready ${total(s, 'ghostnode_swarm_ready')}, members ${total(s, 'ghostnode_swarm_members')}`
      return total(s, 'ghostnode_swarm_ready') === 1 && total(s, 'ghostnode_swarm_members') === nodeCount ? true : undefined
    }, { timeoutMs: phaseMs })
    const ackedAtRestart = load.acked.length
    await ackedAtLeast('load after the restart', ackedAtRestart + (options.ackedAfterRestart ?? 100))
    await load.stop()

    // two completed rounds per node after the load stopped: at least one ran entirely after it
    const rounds = await Promise.all(net.nodes.map(async n => counter(n, 'ghostnode_swarm_reconcile_runs_total', 'outcome', 'ok')))
    await waitUntil('two anti-entropy rounds on every node', async (state) => {
      const now = await Promise.all(net.nodes.map(async n => counter(n, 'ghostnode_swarm_reconcile_runs_total', 'outcome', 'ok')))
      state.last = `rounds since load stopped: ${now.map((v, i) => v - rounds[i]).join(', ')}`
      return now.every((v, i) => v - rounds[i] >= 2) ? true : undefined
    }, { timeoutMs: phaseMs })

    // a restart must not have cost anyone their reputation: no node bans another
    const bans: string[] = []
    for (const n of net.nodes) {
      const peers = (await getJson(`${n.httpUrl}/peers`)).body?.peers as Array<{ peerId: string, bannedUntil: number | null }> | undefined
      for (const p of peers ?? []) if (p.bannedUntil != null && nameOf.has(p.peerId)) bans.push(`${n.name} bans ${nameOf.get(p.peerId) ?? p.peerId}`)
    }

    // read back through circuits (a fresh client: the others avoid the restarted node for a minute)
    const reader = await GhostClient.create({ bootstrap: [tcpAddr(back)], hops: 3 })
    clients.push(reader)
    const found = new Set<string>()
    for (const key of keys) for (const text of await readMailbox(reader, key)) found.add(text)
    const missing = load.acked.filter(a => !found.has(a.text)).map(a => a.text)

    await releaseScenario({ clients, net: undefined })
    const stopResults = await net.stop()
    const swarms = load.acked.map(a => ring.swarmFor(keys[a.mailbox].publicKey, REPLICAS))
    const badReceipts = load.acked.filter((a, i) => a.members.length < 2 || a.members.some(m => !swarms[i].includes(m))).length
    const held = await inspectStores(net.nodes.map(n => n.dataDir), load.acked.map(a => ({ mailbox: keys[a.mailbox].publicKey, hash: a.hash })))
    const perReplica: NodeReplicaCheck[] = []
    const missingOnReplica: Record<string, string[]> = {}
    for (const [i, n] of net.nodes.entries()) {
      const mine = swarms.flatMap((swarm, j) => swarm.includes(n.peerId) ? [j] : [])
      const lacking = mine.filter(j => !held[i][j])
      perReplica.push({ name: n.name, restarted: i === victimIndex, expected: mine.length, found: mine.length - lacking.length })
      missingOnReplica[n.name] = lacking.slice(0, 10).map(j => `${load.acked[j].text} (acked by ${load.acked[j].members.map(m => nameOf.get(m) ?? m).join('+')})`)
    }
    return {
      nodes: names,
      victim: { name: victim.name, ...roles[victimIndex], replicaOfMailboxes, ackedBeforeKillNamingIt, exit },
      victimDisk,
      sent: load.sent,
      acknowledged: load.acked.length,
      duplicates: load.duplicates,
      failures: Object.fromEntries(load.failures),
      rebuildMs,
      unaffectedMs,
      badReceipts,
      foundAfterRecovery: load.acked.length - missing.length,
      retrievable: found.size,
      missing,
      perReplica,
      missingOnReplica,
      bans,
      stopResults,
      durationMs: performance.now() - started
    }
  } finally {
    await load.stop()
  }
}

/** One line per run: the counts the issue asks for. */
export function formatSigkillReport (r: SigkillReport): string {
  const ms = (list: Array<{ ms: number | undefined }>): string => list.map(x => x.ms == null ? 'none' : `${Math.round(x.ms)}`).join(', ')
  const replicas = r.perReplica.map(p => `${p.name}${p.restarted ? ' (restarted)' : ''} ${p.found}/${p.expected}`).join(', ')
  return `SIGKILL ${r.victim.name} (guard of ${r.victim.guardOf}, middle of ${r.victim.middleOf}, exit of ${r.victim.exitOf} circuits; replica of ${r.victim.replicaOfMailboxes} mailboxes) ` +
    `under load: sent ${r.sent}, acknowledged ${r.acknowledged} (${r.duplicates} as duplicates of an attempt whose answer was lost), found after recovery ${r.foundAfterRecovery}/${r.acknowledged} ` +
    `(${r.retrievable} readable in total); on ${r.victim.name}'s disk right after the kill ${r.victimDisk.onDiskAfterKill}/${r.victimDisk.acknowledgedByIt} it had acknowledged; per replica ${replicas}; rebuild ms [${ms(r.rebuildMs)}], unaffected clients ms [${ms(r.unaffectedMs)}]; ` +
    `failed stores ${JSON.stringify(r.failures)}; ${(r.durationMs / 1000).toFixed(1)} s`
}
