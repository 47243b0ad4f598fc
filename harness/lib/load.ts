import { setTimeout as sleep } from 'node:timers/promises'
import { LatencyRecorder, type LatencySummary } from './stats.js'

/**
 * A failed op's slot waits this long before its next op, so a broken target
 * (no path, dead node) yields a bounded error rate (≤ concurrency × 10/s)
 * instead of a spin that inflates error counts and starves the processes.
 */
const ERROR_BACKOFF_MS = 100
const TICK_MS = 1_000

export interface LoadSnapshot {
  /** Seconds since the measured window began (negative during warm-up). */
  elapsedS: number
  ops: number
  errors: number
  /** Ops completed in the last tick, per second. */
  opsPerS: number
  warmingUp: boolean
}

export interface LoadOptions {
  /** Operations kept in flight. */
  concurrency: number
  /** Measured window. */
  durationMs: number
  /** Ops run but not counted before the window opens (JIT, connection warm-up). @default 0 */
  warmupMs?: number
  signal?: AbortSignal
  /** Called when the measured window opens (after the warm-up). */
  onWindowOpen?: () => void
  /** Called about once a second. */
  onTick?: (snapshot: LoadSnapshot) => void
  /** Error → type label for the report. @default err.name */
  classify?: (err: unknown) => string
  /** Latencies go here (pass the same recorder to several runs to pool them). @default a fresh one */
  recorder?: LatencyRecorder
}

export interface LoadResult {
  ops: number
  ops_per_s: number
  duration_s: number
  errors: { total: number, by_type: Record<string, number> }
  latency: LatencySummary
  /** Ops still in flight when the window closed (awaited, not counted). */
  drained: number
}

export function defaultClassify (err: unknown): string {
  if (err instanceof Error) return err.name !== 'Error' ? err.name : ((err as Error & { code?: string }).code ?? 'Error')
  return 'non-error-throw'
}

/** Pools consecutive runs of one workload (interleaved rounds) into one result. */
export function mergeLoadResults (parts: LoadResult[], recorder: LatencyRecorder): LoadResult {
  const byType: Record<string, number> = {}
  for (const p of parts) for (const [k, v] of Object.entries(p.errors.by_type)) byType[k] = (byType[k] ?? 0) + v
  const ops = parts.reduce((a, p) => a + p.ops, 0)
  const durationS = parts.reduce((a, p) => a + p.duration_s, 0)
  return {
    ops,
    ops_per_s: durationS > 0 ? ops / durationS : 0,
    duration_s: durationS,
    errors: { total: parts.reduce((a, p) => a + p.errors.total, 0), by_type: byType },
    latency: recorder.summary(),
    drained: parts.reduce((a, p) => a + p.drained, 0)
  }
}

/**
 * Closed-loop load: `concurrency` workers each await `op()` and start the next
 * as soon as it settles. Only ops that complete inside the measured window are
 * counted (latency, successes, errors); ops started before the window closes are
 * awaited afterwards so nothing is left running when this resolves.
 */
export async function runClosedLoop (op: () => Promise<void>, options: LoadOptions): Promise<LoadResult> {
  const classify = options.classify ?? defaultClassify
  const warmupMs = options.warmupMs ?? 0
  const recorder = options.recorder ?? new LatencyRecorder()
  let ops = 0
  const byType: Record<string, number> = {}
  let errors = 0
  let measuring = false
  let stopped = false
  let windowStart = 0
  let windowEnd = 0
  let inflight = 0
  let opsSinceTick = 0
  let lastTick = performance.now()
  const loopStart = performance.now()

  const stop = (): void => { stopped = true }
  options.signal?.addEventListener('abort', stop, { once: true })

  const worker = async (): Promise<void> => {
    while (!stopped) {
      const t0 = performance.now()
      inflight++
      try {
        await op()
        const t1 = performance.now()
        opsSinceTick++ // the live rate counts warm-up ops too
        if (measuring && t0 >= windowStart && !stopped) {
          recorder.add(t1 - t0)
          ops++
        }
      } catch (err) {
        if (measuring && !stopped) {
          errors++
          const type = classify(err)
          byType[type] = (byType[type] ?? 0) + 1
        }
        await sleep(ERROR_BACKOFF_MS)
      } finally {
        inflight--
      }
    }
  }

  const ticker = setInterval(() => {
    const now = performance.now()
    const snapshot: LoadSnapshot = {
      elapsedS: measuring ? (now - windowStart) / 1000 : (now - loopStart - warmupMs) / 1000,
      ops,
      errors,
      opsPerS: opsSinceTick / ((now - lastTick) / 1000),
      warmingUp: !measuring
    }
    opsSinceTick = 0
    lastTick = now
    options.onTick?.(snapshot)
  }, TICK_MS)

  const workers = Array.from({ length: options.concurrency }, async () => worker())
  try {
    if (warmupMs > 0) await sleep(warmupMs, undefined, { signal: options.signal }).catch(() => {})
    windowStart = performance.now()
    measuring = true
    options.onWindowOpen?.()
    if (!stopped) await sleep(options.durationMs, undefined, { signal: options.signal }).catch(() => {})
    windowEnd = performance.now()
    const drained = inflight
    stopped = true
    await Promise.all(workers)
    const durationS = (windowEnd - windowStart) / 1000
    return {
      ops,
      ops_per_s: durationS > 0 ? ops / durationS : 0,
      duration_s: durationS,
      errors: { total: errors, by_type: byType },
      latency: recorder.summary(),
      drained
    }
  } finally {
    stopped = true
    clearInterval(ticker)
    options.signal?.removeEventListener('abort', stop)
  }
}
