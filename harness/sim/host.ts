import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { loopbackConfig } from '../lib/loopback-config.js'
import { createGhostnode } from '../../src/compose.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import type { Ghostnode } from '../../src/node.js'
import type { PullProgress } from '../../src/swarm/sync/sync.js'

/**
 * One process of a simulated network: it runs the nodes the coordinator
 * (network-sim.ts) places on it and answers its questions about them over the
 * IPC channel. A network of N nodes spread over a few such processes uses
 * every core of the machine, and no process's event loop or heap carries all
 * N nodes; the nodes still reach each other only over loopback TCP.
 */

/** What the coordinator decides about a node; the rest of its config is the same everywhere. */
export interface HostedNodeSpec {
  /** The network's directory (every node's data dir is under it). */
  dir: string
  name: string
  bootstrap: string[]
  authorities: string[]
  documentIntervalMs: number
  dropAfterMs: number
  probationMs: number
  reconcileIntervalMs: number
  /** libp2p's own per-protocol metrics (process-wide state: one node per process may have them). */
  libp2pMetrics: boolean
}

/** One node's state as the coordinator's convergence check needs it. */
export interface HostedNodeStatus {
  name: string
  id: string
  /** Every expected peer's record (with addresses) in its directory, each a member of its document and on its ring, the ring exactly those, and it is ready. */
  complete: boolean
  records: number
  members: number
  period: number
  ring: number
  ready: boolean
  connections: number
  /** Where its pull stands (SwarmSync.pullProgress). */
  pull: PullProgress
}

export interface HostUsage {
  /** process.cpuUsage() of the host, µs. */
  user: number
  system: number
  rss: number
  heapUsed: number
}

/** One per-node listing: its id and the hashes of every message it holds, 32 bytes each, concatenated. */
export interface HostedHoldings { id: string, hashes: Uint8Array }

/**
 * Limits raised for the run. The coordinator's few clients carry every request
 * of the scenario, so the per-peer limits a client's link meets would be what
 * is measured. And every node is in 127.0.0.0/24: the per-prefix limits, which
 * in a real network hold one operator's relays, would hold the whole network
 * here (2 new inbound connections a second for all N peers together, 8
 * upgrading at once), and a joining relay would take minutes to be reached.
 */
const RAISED_LIMITS = {
  cells: { ratePerSecond: 1_000_000, burst: 1_000_000 },
  bytes: { ratePerSecond: 1_000_000_000, burst: 1_000_000_000 },
  swarm: { ratePerSecond: 1_000_000, burst: 1_000_000 },
  circuits: { ratePerSecond: 100_000, burst: 100_000 },
  connection: { ratePerSecond: 100_000, burst: 100_000 }
}

interface Request { seq: number, op: string, args: unknown }
type Reply = { seq: number, ok: true, value: unknown } | { seq: number, ok: false, error: string }

/** The coordinator's handle on one host process. */
export class SimHost {
  readonly index: number
  private readonly child: ChildProcess
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private seq = 0
  private exited?: Error

  private constructor (index: number, child: ChildProcess) {
    this.index = index
    this.child = child
    child.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.seq)
      if (p === undefined) return
      this.pending.delete(reply.seq)
      if (reply.ok) p.resolve(reply.value)
      else p.reject(new Error(`host ${index}: ${reply.error}`))
    })
    child.on('exit', (code, signal) => {
      this.exited = new Error(`simulation host ${index} exited (${signal ?? code})`)
      for (const p of this.pending.values()) p.reject(this.exited)
      this.pending.clear()
    })
  }

  static spawn (index: number): SimHost {
    const child = fork(fileURLToPath(import.meta.url), ['--sim-host'], {
      // GHOSTNODE_SIM_CPU_PROF=DIR: each host writes a V8 CPU profile there when it exits
      execArgv: ['--max-semi-space-size=4', ...(process.env.GHOSTNODE_SIM_CPU_PROF !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.GHOSTNODE_SIM_CPU_PROF}`] : [])],
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit', 'ipc']
    })
    return new SimHost(index, child)
  }

  private async call<T> (op: string, args: unknown = {}): Promise<T> {
    if (this.exited !== undefined) throw this.exited
    const seq = ++this.seq
    return new Promise<T>((resolve, reject) => {
      this.pending.set(seq, { resolve: resolve as (v: unknown) => void, reject })
      this.child.send({ seq, op, args } satisfies Request)
    })
  }

  async start (spec: HostedNodeSpec): Promise<{ id: string, addr: string }> { return this.call('start', spec) }
  async stop (name: string): Promise<void> { await this.call('stop', { name }) }
  async status (expected: string[]): Promise<HostedNodeStatus[]> { return this.call('status', { expected }) }
  async holdings (): Promise<HostedHoldings[]> { return this.call('holdings') }
  async sentByProtocol (name: string): Promise<Array<[string, number]>> { return this.call('sent', { name }) }
  async usage (): Promise<HostUsage> { return this.call('usage') }
  /** Per node here: anti-entropy comparisons by outcome since it started (ghostnode_swarm_reconcile_peers_total). */
  async reconciles (): Promise<Array<[string, Record<string, number>]>> { return this.call('reconciles') }

  /** Stops every node it runs, then the process. */
  async close (): Promise<void> {
    if (this.exited === undefined) {
      const gone = new Promise<void>(resolve => { this.child.once('exit', () => { resolve() }) })
      await this.call('stopAll').catch(() => undefined)
      this.child.disconnect()
      await Promise.race([gone, new Promise(resolve => setTimeout(resolve, 10_000))])
    }
    if (this.exited === undefined) this.child.kill('SIGKILL')
  }
}

// ---- the host process ----

const nodes = new Map<string, Ghostnode>()

async function startNode (spec: HostedNodeSpec): Promise<{ id: string, addr: string }> {
  const config = loopbackConfig(spec.dir, spec.name, {
    bootstrap: spec.bootstrap,
    discovery: { intervalMs: DEFAULT_CONFIG.discovery.intervalMs },
    network: {
      authorities: spec.authorities,
      documentIntervalMs: spec.documentIntervalMs,
      admission: { ...DEFAULT_CONFIG.network.admission, probationMs: spec.probationMs, dropAfterMs: spec.dropAfterMs, maxPer24: 100_000, maxPer16: 100_000, maxNewPerHour: 100_000 }
    },
    connections: { ...DEFAULT_CONFIG.connections, maxPerPrefix: 100_000, maxIncomingPendingPerPrefix: DEFAULT_CONFIG.connections.maxIncomingPending },
    swarm: { ...DEFAULT_CONFIG.swarm, reconcileIntervalMs: spec.reconcileIntervalMs },
    rateLimit: { ...DEFAULT_CONFIG.rateLimit, limits: { ...DEFAULT_CONFIG.rateLimit.limits, ...RAISED_LIMITS } }
  })
  const node = await createGhostnode(config, { libp2pMetrics: spec.libp2pMetrics })
  await node.start()
  nodes.set(spec.name, node)
  return { id: node.peerId.toString(), addr: node.getMultiaddrs()[0].toString() }
}

function statusOf (name: string, x: Ghostnode, expected: string[]): HostedNodeStatus {
  const records = new Set(x.libp2p.services.directory.records().filter(r => r.addrs.length > 0).map(r => r.peerId.toString()))
  const view = x.libp2p.services.membership.view
  const ring = x.swarm.membership.ring
  const complete = ring.size === expected.length && x.swarm.sync.ready &&
    expected.every(id => records.has(id) && view.isMember(id) && ring.has(id))
  return {
    name,
    id: x.peerId.toString(),
    complete,
    records: records.size,
    members: view.size,
    period: view.period,
    ring: ring.size,
    ready: x.swarm.sync.ready,
    connections: x.libp2p.getConnections().length,
    pull: x.swarm.sync.pullProgress
  }
}

async function holdings (): Promise<HostedHoldings[]> {
  const out: HostedHoldings[] = []
  for (const x of nodes.values()) {
    const hashes: Uint8Array[] = []
    for await (const { listing } of x.swarm.store.iterateListings()) for (const e of listing) hashes.push(e.hash)
    out.push({ id: x.peerId.toString(), hashes: Buffer.concat(hashes) })
  }
  return out
}

/** A node's values of one metric, as (value of `label`, value) pairs. */
async function metricValues (node: Ghostnode | undefined, metric: string, label: string): Promise<Array<[string, number]>> {
  const m = node?.registry.getSingleMetric(metric)
  if (m === undefined) return []
  return (await m.get()).values.map(v => [String(v.labels[label] ?? ''), v.value])
}

async function sentByProtocol (name: string): Promise<Array<[string, number]>> {
  return (await metricValues(nodes.get(name), 'libp2p_data_transfer_bytes_total', 'protocol'))
    .filter(([protocol]) => protocol.endsWith(' sent'))
    .map(([protocol, value]) => [protocol.slice(0, -' sent'.length), value])
}

async function reconciles (): Promise<Array<[string, Record<string, number>]>> {
  return Promise.all([...nodes].map(async ([name, node]) =>
    [name, Object.fromEntries(await metricValues(node, 'ghostnode_swarm_reconcile_peers_total', 'outcome'))] as [string, Record<string, number>]))
}

async function stopNode (name: string): Promise<void> {
  const node = nodes.get(name)
  nodes.delete(name)
  await node?.stop()
}

async function answer (op: string, args: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case 'start': return startNode(args as unknown as HostedNodeSpec)
    case 'stop': return stopNode(args.name as string)
    case 'status': return [...nodes].map(([name, x]) => statusOf(name, x, args.expected as string[]))
    case 'holdings': return holdings()
    case 'sent': return sentByProtocol(args.name as string)
    case 'reconciles': return reconciles()
    case 'usage': {
      const cpu = process.cpuUsage()
      const mem = process.memoryUsage()
      return { user: cpu.user, system: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed } satisfies HostUsage
    }
    case 'stopAll': return Promise.all([...nodes.keys()].map(async name => stopNode(name).catch(() => undefined)))
    default: throw new Error(`unknown request ${op}`)
  }
}

if (process.argv.includes('--sim-host') && process.send !== undefined) {
  process.on('message', (request: Request) => {
    answer(request.op, request.args as Record<string, unknown>).then(
      (value) => { process.send!({ seq: request.seq, ok: true, value: value ?? null } satisfies Reply) },
      (err: Error) => { process.send!({ seq: request.seq, ok: false, error: err.stack ?? String(err) } satisfies Reply) }
    )
  })
  // the coordinator went away: stop what is left and exit
  process.on('disconnect', () => {
    void Promise.all([...nodes.keys()].map(async name => stopNode(name).catch(() => undefined))).finally(() => process.exit(0))
  })
}
