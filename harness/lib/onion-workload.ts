import { randomBytes } from 'node:crypto'
import { CircuitDestroyedError, ExitError } from '../../src/onion/circuit-errors.js'
import { destroyReasonName } from '../../src/onion/cell.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { encodeExitRequest, ExitService, ExitStatus } from '../../src/onion/exit.js'
import { DEFAULT_EXIT_CONCURRENCY_PER_CIRCUIT } from '../../src/onion/relay.js'
import { waitUntil } from '../testnet/ready.js'
import { BenchSetupError, EchoMismatchError } from './errors.js'
import { scrape, total } from './prom.js'
import { median, percentile } from './stats.js'
import { defaultClassify } from './load.js'
import type { ClientCircuit } from '../../src/client/circuit.js'
import type { BenchNode, Workload, WorkloadContext, WorkloadInstance } from './workload.js'

const DIRECTORY_TIMEOUT_MS = 30_000
export const DEFAULT_BUILDS = 20
export const QUICK_BUILDS = 10
/**
 * Builds before the measured ones, reported apart: one over every ordered
 * 3-hop path (at most this many), because the first circuit over a pair of
 * relays also opens the link between them (dial, Noise, yamux: several round
 * trips), which is not what a build costs.
 */
export const MAX_WARMUP_BUILDS = 24
const REBUILD_BACKOFF_MS = 1_000

/** Between the end of the load and the idle builds timed after it. */
const AFTER_LOAD_PAUSE_MS = 1_000

/** Build times in the order measured; `median_by_20` shows them change as the relays' code warms up. */
function buildSummary (ms: number[]): Record<string, unknown> {
  const sorted = Float64Array.from(ms).sort()
  return {
    samples: ms.length,
    median: median(ms),
    p95: percentile(sorted, 95),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    median_by_20: Array.from({ length: Math.ceil(ms.length / 20) }, (_, i) => median(ms.slice(i * 20, i * 20 + 20)))
  }
}

/** Every ordered choice of `hops` distinct items. */
function orderedPaths<T> (items: readonly T[], hops: number): T[][] {
  if (hops === 0) return [[]]
  return items.flatMap((item, i) => orderedPaths([...items.slice(0, i), ...items.slice(i + 1)], hops - 1).map(rest => [item, ...rest]))
}

/** The TCP (not WebSocket) multiaddr of a node, preferring one on the address the bench reaches it at. */
export function tcpMultiaddr (node: BenchNode): string {
  const tcp = node.multiaddrs.filter(a => /\/tcp\/\d+\/p2p\//.test(a) && !a.includes('/ws'))
  const pick = tcp.find(a => a.startsWith(`/ip4/${node.host}/`)) ?? tcp[0]
  if (pick == null) throw new BenchSetupError(`${node.name} reports no TCP address (addrs: ${node.multiaddrs.join(', ') || 'none'})`)
  return pick
}

/** Each node's own directory holds every node's record (they exchange them a few seconds after meeting). */
export async function waitForDirectories (nodes: BenchNode[], signal: AbortSignal): Promise<void> {
  await Promise.all(nodes.map(async (node) => {
    await waitUntil(`${node.name}'s directory to hold ${nodes.length} records`, async (state) => {
      try {
        const held = total(await scrape(node.httpUrl), 'ghostnode_directory_records') ?? 0
        state.last = `${held} records`
        return held >= nodes.length ? true : undefined
      } catch (err) {
        state.last = (err as Error).message
        return undefined
      }
    }, { timeoutMs: DIRECTORY_TIMEOUT_MS, signal })
  }))
}

function classify (err: unknown): string {
  if (err instanceof CircuitDestroyedError) return `CircuitDestroyedError:${destroyReasonName(err.reason)}`
  if (err instanceof ExitError) return `ExitError:${err.status}`
  return defaultClassify(err)
}

/**
 * 3-hop onion ECHO: a GhostClient in the bench process builds circuits through
 * the testnet and keeps `concurrency` ECHO requests in flight. An exit runs at
 * most 32 requests per circuit at once and destroys a circuit that sends more
 * (docs/protocol.md §9), so the load is spread over ceil(concurrency / 32)
 * circuits on the same path by default (they share one link stream per hop).
 */
export const onionEchoWorkload: Workload = {
  name: 'onion-echo',
  description: '3-hop onion ECHO through circuits of the testnet (GhostClient in the bench process)',
  setup: async (ctx: WorkloadContext): Promise<WorkloadInstance> => {
    if (ctx.nodes.length < 3) throw new BenchSetupError(`a 3-hop circuit needs 3 nodes, got ${ctx.nodes.length}`)
    await waitForDirectories(ctx.nodes, ctx.signal)
    const client = await GhostClient.create({ bootstrap: ctx.nodes.map(tcpMultiaddr), requestTimeoutMs: ctx.requestTimeoutMs })
    try {
      if (client.records().length < ctx.nodes.length) {
        throw new BenchSetupError(`the client's directory holds ${client.records().length} of ${ctx.nodes.length} records`)
      }
      const nameOf = new Map(ctx.nodes.map(n => [n.peerId, n.name]))

      const builds = ctx.settings.builds ?? (ctx.quick ? QUICK_BUILDS : DEFAULT_BUILDS)
      const firstBuildsMs: number[] = []
      for (const path of orderedPaths(client.records(), 3).slice(0, MAX_WARMUP_BUILDS)) {
        if (ctx.signal.aborted) break
        try {
          const c = await client.buildCircuit({ path })
          firstBuildsMs.push(c.buildMs ?? Number.NaN)
          c.close()
        } catch {
          firstBuildsMs.push(Number.NaN) // e.g. a first hop the authorities did not make a guard
        }
      }
      /** `builds` one-by-one builds (CREATE sent to CREATED opened), each circuit closed before the next. */
      const timeBuilds = async (): Promise<number[]> => {
        const out: number[] = []
        for (let i = 0; i < builds && !ctx.signal.aborted; i++) {
          const c = await client.buildCircuit()
          out.push(c.buildMs ?? Number.NaN)
          c.close()
        }
        return out
      }
      // before any load: the relays' CREATE and cell code has run only for the warm-up builds
      const coldBuildMs = await timeBuilds()
      // after the load (afterLoad): the relays as they are in service, on an idle network
      let buildMs: number[] = []

      const circuitCount = ctx.settings.circuits ?? Math.ceil(ctx.concurrency / DEFAULT_EXIT_CONCURRENCY_PER_CIRCUIT)
      const first = await client.buildCircuit()
      const path = first.path.map(p => client.records().find(r => r.peerId.equals(p))!)
      const circuits: ClientCircuit[] = [first]
      for (let i = 1; i < circuitCount; i++) circuits.push(await client.buildCircuit({ path }))
      ctx.log(`onion path: ${first.path.map(p => nameOf.get(p.toString()) ?? p.toString()).join(' → ')} (${circuitCount} circuit${circuitCount === 1 ? '' : 's'})`)

      const payload = randomBytes(ctx.sizeBytes)
      const request = encodeExitRequest(ExitService.ECHO, payload)
      let rebuilds = 0
      let rebuildFailures = 0
      const rebuilding = new Map<number, Promise<void>>()
      // after a failed rebuild, ops fail with that error for a second instead of hammering the relays with CREATEs
      let lastFailure: { at: number, err: Error } | undefined
      const rebuild = async (slot: number): Promise<void> => {
        if (lastFailure != null && performance.now() - lastFailure.at < REBUILD_BACKOFF_MS) throw lastFailure.err
        let pending = rebuilding.get(slot)
        if (pending == null) {
          rebuilds++
          pending = client.buildCircuit().then((c) => { circuits[slot] = c }, (err: Error) => {
            rebuildFailures++
            lastFailure = { at: performance.now(), err }
            throw err
          }).finally(() => { rebuilding.delete(slot) })
          rebuilding.set(slot, pending)
        }
        return pending
      }
      // Requests are assigned synchronously, counted here before any await, so that
      // 64 workers starting in the same tick spread over the circuits instead of all
      // seeing "0 in flight" on the first one.
      const inflight = circuits.map(() => 0)
      const pick = (): number | undefined => {
        let best: number | undefined
        for (let i = 0; i < circuits.length; i++) {
          if (!circuits[i].isOpen) {
            void rebuild(i).catch(() => {})
            continue
          }
          if (best == null || inflight[i] < inflight[best]) best = i
        }
        return best
      }

      return {
        op: async () => {
          let slot = pick()
          if (slot == null) {
            await rebuild(0)
            slot = 0
          }
          inflight[slot]++
          let res
          try {
            res = await circuits[slot].request(request, ctx.requestTimeoutMs)
          } finally {
            inflight[slot]--
          }
          if (res.status !== ExitStatus.OK) throw new ExitError(res.status, res.message ?? `exit status ${res.status}`)
          if (!Buffer.from(res.body.buffer, res.body.byteOffset, res.body.byteLength).equals(payload)) {
            throw new EchoMismatchError(`echo of ${payload.byteLength} B came back as ${res.body.byteLength} B of other bytes`)
          }
        },
        classifyError: classify,
        resourceTargets: () => [
          ...ctx.nodes.map(n => ({ name: n.name, role: 'relay', httpUrl: n.httpUrl, ...(n.pid != null ? { pid: n.pid } : {}) })),
          { name: 'bench', role: 'bench-client', pid: process.pid }
        ],
        afterLoad: async () => {
          // the load's last responses and their garbage: let the relays go idle first
          await new Promise(resolve => setTimeout(resolve, AFTER_LOAD_PAUSE_MS))
          buildMs = await timeBuilds()
        },
        details: () => ({
          circuit_build_ms: buildSummary(buildMs),
          circuit_build_cold_ms: buildSummary(coldBuildMs),
          first_builds_ms: firstBuildsMs,
          circuits: circuitCount,
          circuit_rebuilds: rebuilds,
          circuit_rebuild_failures: rebuildFailures,
          path: first.path.map(p => nameOf.get(p.toString()) ?? p.toString())
        }),
        close: async () => {
          await Promise.allSettled(rebuilding.values())
          await client.stop()
        }
      }
    } catch (err) {
      await client.stop().catch(() => {})
      throw err
    }
  }
}
