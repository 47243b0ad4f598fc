import { setTimeout as sleep } from 'node:timers/promises'
import type { GhostClient } from '../../src/client/mailbox-client.js'

export interface HonestLoadOptions {
  /** One request is due every this many ms (open loop: a slow answer does not delay the next request). */
  intervalMs: number
  /** Per-request deadline. */
  timeoutMs: number
  /** Echo payload size in bytes. @default 100 */
  payloadBytes?: number
  /**
   * Requests outstanding at once; a due request waits for a free slot (its
   * wait counts in its latency). Keep it below the exit's per-circuit request
   * concurrency, so the figures measure latency, not that limit.
   * @default 16
   */
  maxInflight?: number
}

export interface HonestLoadResult {
  ok: number
  failed: number
  /** The first few failures' messages. */
  errors: string[]
  /** Latency of each successful request in ms, from when it was due (so client-side delays count). */
  latenciesMs: number[]
}

const MAX_KEPT_ERRORS = 5
export const DEFAULT_HONEST_MAX_INFLIGHT = 16

/**
 * An honest client's steady traffic: ECHO requests through its circuit at a
 * fixed rate, each checked for the right answer. Runs until stop().
 */
export class HonestLoad {
  private readonly client: GhostClient
  private readonly options: HonestLoadOptions
  private readonly result: HonestLoadResult = { ok: 0, failed: 0, errors: [], latenciesMs: [] }
  private readonly inflight = new Set<Promise<void>>()
  private running = false
  private loop?: Promise<void>

  constructor (client: GhostClient, options: HonestLoadOptions) {
    this.client = client
    this.options = options
  }

  /** Results so far (a live view). */
  get results (): HonestLoadResult {
    return this.result
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  /** Stops issuing requests and waits for those in flight. */
  async stop (): Promise<HonestLoadResult> {
    this.running = false
    await this.loop
    await Promise.all([...this.inflight])
    return this.result
  }

  private async run (): Promise<void> {
    const payload = new Uint8Array(this.options.payloadBytes ?? 100)
    const maxInflight = this.options.maxInflight ?? DEFAULT_HONEST_MAX_INFLIGHT
    let due = performance.now()
    let seq = 0
    while (this.running) {
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      while (this.running && this.inflight.size >= maxInflight) await Promise.race(this.inflight)
      if (!this.running) break
      const p = this.one(payload, due, seq++)
      this.inflight.add(p)
      void p.finally(() => this.inflight.delete(p))
      due += this.options.intervalMs
    }
  }

  private async one (template: Uint8Array, due: number, seq: number): Promise<void> {
    const payload = template.slice()
    new DataView(payload.buffer).setUint32(0, seq)
    try {
      const answer = await this.client.echo(payload, { timeoutMs: this.options.timeoutMs })
      if (answer.byteLength !== payload.byteLength || answer.some((b, i) => b !== payload[i])) throw new Error('echo answered with the wrong bytes')
      this.result.ok++
      this.result.latenciesMs.push(performance.now() - due)
    } catch (err) {
      this.result.failed++
      if (this.result.errors.length < MAX_KEPT_ERRORS) this.result.errors.push((err as Error).message)
    }
  }
}

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when there are none. */
export function percentile (samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN
  const sorted = [...samples].sort((a, b) => a - b)
  const rank = Math.max(1, Math.ceil(p / 100 * sorted.length))
  return sorted[rank - 1]
}
