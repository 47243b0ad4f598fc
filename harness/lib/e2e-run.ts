import { execFileSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { BenchAbortedError, BenchSetupError, BenchUsageError } from './errors.js'
import { mergeLoadResults, runClosedLoop, type LoadResult } from './load.js'
import { createProgress } from './progress.js'
import { addCounters, counterDelta, nodeCounters, type NodeCounters } from './node-counters.js'
import { ResourceSampler, type ResourceUsage } from './resources.js'
import { LatencyRecorder } from './stats.js'
import { measureProxiedRtt } from './delay-proxy.js'
import { openTarget, type BenchTarget, type TargetChoice, type TargetMode } from './target.js'
import { RATIO_PAIR, WORKLOADS } from './workloads.js'
import type { Workload, WorkloadContext, WorkloadInstance } from './workload.js'

/** The design target: onion throughput at least this fraction of plain libp2p's. */
export const TARGET_RATIO = 0.7
export const DEFAULT_CONCURRENCY = 64
/** ECHO body that, with the 1-byte service prefix, fills one relay cell's data (928 B) with room to spare. */
export const DEFAULT_SIZE_BYTES = 900
export const DEFAULT_SECONDS = 10
export const QUICK_SECONDS = 3
/** Before every slice: the circuits' and streams' pipelines fill in well under a second. */
export const DEFAULT_WARMUP_SECONDS = 0.5
/**
 * On a machine shared with other work, load drifts over tens of seconds;
 * alternating short slices of each workload exposes both to the same drift.
 */
export const DEFAULT_ROUNDS = 5
export const QUICK_ROUNDS = 3
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000

export interface E2EOptions extends TargetChoice {
  concurrency: number
  sizeBytes: number
  /** Measured seconds per workload, split over the rounds. */
  seconds: number
  /** Workloads alternate this many times (each measured seconds/rounds per round). */
  rounds: number
  /** Unmeasured seconds before every measured slice. */
  warmupSeconds: number
  requestTimeoutMs: number
  quick: boolean
  workloads: string[]
  settings: { circuits?: number, builds?: number }
  progress: boolean
  command: string
  signal: AbortSignal
  log: (line: string) => void
}

export interface WorkloadResult extends LoadResult {
  name: string
  description: string
  /** Measured slices pooled into this result. */
  rounds: number
  /** Sum over the sampled processes of CPU time per message, µs. */
  cpu_us_per_msg_total: number
  resources: ResourceUsage[]
  /** Per node, counters from its /metrics over the measured run (Δ). */
  node_counters: Record<string, NodeCounters>
  details: Record<string, unknown>
}

export interface Comparison {
  onion_msg_per_s: number
  plain_msg_per_s: number
  ratio_msg_per_s: number
  onion_p50_ms: number
  plain_p50_ms: number
  onion_p99_ms: number
  plain_p99_ms: number
  target_ratio: number
  target_met: boolean
  /** onion p99 ÷ plain p99 (target ≤ 1.5). */
  p99_ratio: number
  /** Median relay's CPU µs per message, onion and plain, and onion ÷ plain (target ≤ 1.5). */
  onion_relay_cpu_us_per_msg: number
  plain_relay_cpu_us_per_msg: number
  relay_cpu_per_msg_ratio: number
  /** Median relay's write syscalls per message, and onion ÷ plain. */
  onion_relay_write_syscalls_per_msg?: number
  plain_relay_write_syscalls_per_msg?: number
  relay_write_syscalls_per_msg_ratio?: number
  /** Median relay's GC time ÷ CPU time. */
  onion_relay_gc_share?: number
  plain_relay_gc_share?: number
  /** With the plain-echo-unbatched workload: its msg/s and onion ÷ it. */
  plain_unbatched_msg_per_s?: number
  ratio_vs_unbatched?: number
}

export interface E2EResult {
  meta: {
    command: string
    date: string
    git_commit?: string
    node: string
    cpu: string
    cores: number
    loadavg_start: number[]
    loadavg_end: number[]
    mode: TargetMode
    latency_ms?: number
    node_limits: BenchTarget['nodeLimits']
    concurrency: number
    size_bytes: number
    seconds: number
    rounds: number
    warmup_s: number
    request_timeout_ms: number
    nodes: Array<{ name: string, peer_id: string, http_url: string, pid?: number }>
  }
  workloads: Record<string, WorkloadResult>
  /** Per node, counters over the whole measurement phase (all slices of all workloads, and the gaps between them). */
  node_counters_total: Record<string, NodeCounters>
  comparison?: Comparison
  /** With delay proxies: build and echo time against the path's round trip. */
  latency?: LatencyFigures
}

export interface LatencyFigures {
  via: 'delay-proxy'
  one_way_ms: number
  /** client → guard → middle → exit and back: 6 × one_way_ms. */
  path_rtt_ms: number
  /** One link's round trip through a proxy as measured on this machine (timers fire late), and 3 × it. */
  measured_link_rtt_ms: number
  measured_path_rtt_ms: number
  build_median_ms: number
  build_over_path_rtt: number
  build_over_measured_path_rtt: number
  /** The target: build ≤ 1.2 × path RTT + 3 ms. */
  build_target_ms: number
  build_target_met: boolean
  echo_p50_ms: number
  echo_p50_over_path_rtt: number
  plain_echo_p50_ms?: number
}

function gitCommit (): string | undefined {
  try {
    const repo = fileURLToPath(new URL('../../../', import.meta.url))
    return execFileSync('git', ['-C', repo, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

interface Active {
  workload: Workload
  instance: WorkloadInstance
  sampler: ResourceSampler
  recorder: LatencyRecorder
  parts: LoadResult[]
  counters: Record<string, NodeCounters>
}

const fmtS = (s: number): string => Number.isInteger(s) ? String(s) : s.toFixed(2)

export function compare (workloads: Record<string, WorkloadResult>): Comparison | undefined {
  const onion = workloads[RATIO_PAIR.onion]
  const plain = workloads[RATIO_PAIR.plain]
  const unbatched = workloads[RATIO_PAIR.plainUnbatched]
  if (onion == null || plain == null) return undefined
  const ratio = plain.ops_per_s > 0 ? onion.ops_per_s / plain.ops_per_s : Number.NaN
  const onionCpu = relayMedian(onion, 'cpu_us_per_msg')
  const plainCpu = relayMedian(plain, 'cpu_us_per_msg')
  const onionWrites = relayMedian(onion, 'write_syscalls_per_msg')
  const plainWrites = relayMedian(plain, 'write_syscalls_per_msg')
  const onionGc = relayMedian(onion, 'gc_share')
  const plainGc = relayMedian(plain, 'gc_share')
  return {
    onion_msg_per_s: onion.ops_per_s,
    plain_msg_per_s: plain.ops_per_s,
    ratio_msg_per_s: ratio,
    onion_p50_ms: onion.latency.p50_ms,
    plain_p50_ms: plain.latency.p50_ms,
    onion_p99_ms: onion.latency.p99_ms,
    plain_p99_ms: plain.latency.p99_ms,
    target_ratio: TARGET_RATIO,
    target_met: ratio >= TARGET_RATIO,
    p99_ratio: onion.latency.p99_ms / plain.latency.p99_ms,
    onion_relay_cpu_us_per_msg: onionCpu ?? Number.NaN,
    plain_relay_cpu_us_per_msg: plainCpu ?? Number.NaN,
    relay_cpu_per_msg_ratio: onionCpu != null && plainCpu != null ? onionCpu / plainCpu : Number.NaN,
    ...(onionWrites != null && plainWrites != null
      ? { onion_relay_write_syscalls_per_msg: onionWrites, plain_relay_write_syscalls_per_msg: plainWrites, relay_write_syscalls_per_msg_ratio: onionWrites / plainWrites }
      : {}),
    ...(onionGc != null ? { onion_relay_gc_share: onionGc } : {}),
    ...(plainGc != null ? { plain_relay_gc_share: plainGc } : {}),
    ...(unbatched != null
      ? { plain_unbatched_msg_per_s: unbatched.ops_per_s, ratio_vs_unbatched: unbatched.ops_per_s > 0 ? onion.ops_per_s / unbatched.ops_per_s : Number.NaN }
      : {})
  }
}

/** Build and echo time of the onion workload against the path round trip through the delay proxies. */
export function latencyFigures (workloads: Record<string, WorkloadResult>, oneWayMs: number, measuredLinkRttMs: number): LatencyFigures | undefined {
  const onion = workloads[RATIO_PAIR.onion]
  if (onion == null) return undefined
  const build = (onion.details.circuit_build_ms as { median?: number } | undefined)?.median ?? Number.NaN
  const pathRtt = 6 * oneWayMs
  const measuredPathRtt = 3 * measuredLinkRttMs
  const target = 1.2 * pathRtt + 3
  const plain = workloads[RATIO_PAIR.plain]
  return {
    via: 'delay-proxy',
    one_way_ms: oneWayMs,
    path_rtt_ms: pathRtt,
    measured_link_rtt_ms: measuredLinkRttMs,
    measured_path_rtt_ms: measuredPathRtt,
    build_median_ms: build,
    build_over_path_rtt: build / pathRtt,
    build_over_measured_path_rtt: build / measuredPathRtt,
    build_target_ms: target,
    build_target_met: build <= target,
    echo_p50_ms: onion.latency.p50_ms,
    echo_p50_over_path_rtt: onion.latency.p50_ms / pathRtt,
    ...(plain != null ? { plain_echo_p50_ms: plain.latency.p50_ms } : {})
  }
}

/** The median over a workload's relay processes (not the bench client) of one per-process figure. */
function relayMedian (w: WorkloadResult, key: 'cpu_us_per_msg' | 'write_syscalls_per_msg' | 'gc_share'): number | undefined {
  const values = w.resources.filter(u => u.role !== 'bench-client').map(u => u[key]).filter((v): v is number => v != null && Number.isFinite(v)).sort((a, b) => a - b)
  if (values.length === 0) return undefined
  const mid = values.length >> 1
  return values.length % 2 === 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2
}

/**
 * Runs the selected workloads against the target (a testnet started here, or
 * nodes given by URL): sets every workload up, measures them in alternating
 * rounds (closed-loop load, resource sampling and node counters per slice),
 * pools each workload's slices, tears down. Stops everything it started, also
 * on error or abort.
 */
export async function runE2E (options: E2EOptions): Promise<E2EResult> {
  const selected = options.workloads.map((name) => {
    const w = WORKLOADS.find(x => x.name === name)
    if (w == null) throw new BenchUsageError(`unknown workload "${name}" (known: ${WORKLOADS.map(x => x.name).join(', ')})`)
    return w
  })
  const loadStart = loadavg()
  const target = await openTarget({
    ...(options.urls != null ? { urls: options.urls } : {}),
    ...(options.netns === true ? { netns: true } : {}),
    ...(options.latencyMs != null ? { latencyMs: options.latencyMs } : {}),
    ...(options.proxyLatencyMs != null ? { proxyLatencyMs: options.proxyLatencyMs } : {}),
    ...(options.defaultLimits === true ? { defaultLimits: true } : {}),
    ...(options.dir != null ? { dir: options.dir } : {}),
    signal: options.signal,
    log: options.log
  })
  // a node dying mid-run ends the run at once instead of timing out request by request
  const died = new AbortController()
  let deathNote: string | undefined
  void target.unexpectedExit.then((note) => { deathNote = note; died.abort() })
  const signal = AbortSignal.any([options.signal, died.signal])
  const results: Record<string, WorkloadResult> = {}
  const totals: Record<string, NodeCounters> = {}
  let runBefore: Awaited<ReturnType<typeof nodeCounters>> = {}
  let runStart = 0
  const active: Active[] = []
  try {
    options.log(`${target.nodes.length} nodes (${target.mode}${target.latencyMs != null ? `, ${target.latencyMs} ms netem` : ''}, limits: ${target.nodeLimits}): ${target.nodes.map(n => `${n.name} ${n.httpUrl}${n.pid != null ? ` pid ${n.pid}` : ''}`).join(', ')}`)
    const ctx: WorkloadContext = {
      nodes: target.nodes,
      concurrency: options.concurrency,
      sizeBytes: options.sizeBytes,
      requestTimeoutMs: options.requestTimeoutMs,
      quick: options.quick,
      signal,
      log: options.log,
      settings: options.settings,
      ...(target.proxyLatencyMs != null ? { proxyLatencyMs: target.proxyLatencyMs } : {})
    }
    // every workload is set up before any is measured, so rounds can alternate between them
    for (const workload of selected) {
      if (signal.aborted) break
      options.log(`${workload.name}: setting up`)
      const instance = await workload.setup(ctx)
      active.push({ workload, instance, sampler: new ResourceSampler(instance.resourceTargets()), recorder: new LatencyRecorder(), parts: [], counters: {} })
    }
    const rounds = options.rounds
    const sliceS = options.seconds / rounds
    options.log(`measuring: ${rounds} round${rounds === 1 ? '' : 's'} of ${active.map(a => a.workload.name).join(' then ')}, ${fmtS(sliceS)} s each after ${fmtS(options.warmupSeconds)} s warm-up; ${options.concurrency} in flight, ${options.sizeBytes} B payloads`)
    runBefore = await nodeCounters(target.nodes)
    runStart = performance.now()
    const progress = createProgress(options.progress)
    for (let round = 1; round <= rounds && !signal.aborted; round++) {
      for (const a of active) {
        if (signal.aborted) break
        const before = await nodeCounters(target.nodes)
        const sliceStart = performance.now()
        const label = rounds === 1 ? a.workload.name : `${a.workload.name} ${round}/${rounds}`
        const done = { ops: a.parts.reduce((n, p) => n + p.ops, 0), errors: a.parts.reduce((n, p) => n + p.errors.total, 0), s: a.parts.reduce((n, p) => n + p.duration_s, 0) }
        let windowOpened: Promise<void> | undefined
        try {
          a.parts.push(await runClosedLoop(a.instance.op, {
            concurrency: options.concurrency,
            durationMs: sliceS * 1000,
            warmupMs: options.warmupSeconds * 1000,
            signal,
            recorder: a.recorder,
            onWindowOpen: () => { windowOpened = a.sampler.begin() },
            onTick: (snap) => { progress.tick(label, { ...snap, ops: done.ops + snap.ops, errors: done.errors + snap.errors, elapsedS: snap.warmingUp ? snap.elapsedS : done.s + snap.elapsedS }) },
            ...(a.instance.classifyError != null ? { classify: a.instance.classifyError } : {})
          }))
        } finally {
          progress.done()
          await windowOpened
          await a.sampler.end()
        }
        const after = await nodeCounters(target.nodes)
        addCounters(a.counters, counterDelta(before, after, (performance.now() - sliceStart) / 1000))
      }
    }
    addCounters(totals, counterDelta(runBefore, await nodeCounters(target.nodes), (performance.now() - runStart) / 1000))
    for (const a of active) if (!signal.aborted) await a.instance.afterLoad?.()
    for (const a of active) {
      if (a.parts.length === 0) continue
      const load = mergeLoadResults(a.parts, a.recorder)
      const perMsg = (v: number): number => load.ops_per_s > 0 ? v / load.ops_per_s : Number.NaN
      const resources = a.sampler.summary().map(u => ({
        ...u,
        cpu_us_per_msg: perMsg(1e4 * u.cpu_percent),
        ...(u.write_syscalls_per_s != null ? { write_syscalls_per_msg: perMsg(u.write_syscalls_per_s) } : {})
      }))
      results[a.workload.name] = {
        name: a.workload.name,
        description: a.workload.description,
        ...load,
        rounds: a.parts.length,
        cpu_us_per_msg_total: resources.reduce((sum, u) => sum + (u.cpu_us_per_msg ?? 0), 0),
        resources,
        node_counters: a.counters,
        details: a.instance.details()
      }
    }
  } finally {
    for (const a of active.reverse()) await a.instance.close().catch((err: Error) => { options.log(`${a.workload.name}: close failed: ${err.message}`) })
    await target.stop()
  }
  if (deathNote != null) throw new BenchSetupError(deathNote)
  if (options.signal.aborted) throw new BenchAbortedError()
  const latency = target.proxyLatencyMs != null ? latencyFigures(results, target.proxyLatencyMs, await measureProxiedRtt(target.proxyLatencyMs)) : undefined
  return {
    meta: {
      command: options.command,
      date: new Date().toISOString(),
      ...(gitCommit() != null ? { git_commit: gitCommit() } : {}),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      loadavg_start: loadStart.map(v => Math.round(v * 100) / 100),
      loadavg_end: loadavg().map(v => Math.round(v * 100) / 100),
      mode: target.mode,
      ...(target.latencyMs != null ? { latency_ms: target.latencyMs } : {}),
      node_limits: target.nodeLimits,
      concurrency: options.concurrency,
      size_bytes: options.sizeBytes,
      seconds: options.seconds,
      rounds: options.rounds,
      warmup_s: options.warmupSeconds,
      request_timeout_ms: options.requestTimeoutMs,
      nodes: target.nodes.map(n => ({ name: n.name, peer_id: n.peerId, http_url: n.httpUrl, ...(n.pid != null ? { pid: n.pid } : {}) }))
    },
    workloads: results,
    node_counters_total: totals,
    ...(compare(results) != null ? { comparison: compare(results) } : {}),
    ...(latency != null ? { latency } : {})
  }
}
