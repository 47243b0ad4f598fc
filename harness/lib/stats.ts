/** Latency summaries over every sample of a run (nearest-rank percentiles, in ms). */

export interface LatencySummary {
  count: number
  mean_ms: number
  p50_ms: number
  p95_ms: number
  p99_ms: number
  max_ms: number
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]
}

export function median (values: number[]): number {
  return percentile(Float64Array.from(values).sort(), 50)
}

/** Collects samples in a growable Float64Array (a 10 s run at 5k/s holds 50k doubles: 400 KB). */
export class LatencyRecorder {
  private samples = new Float64Array(16_384)
  private n = 0

  add (ms: number): void {
    if (this.n === this.samples.length) {
      const bigger = new Float64Array(this.samples.length * 2)
      bigger.set(this.samples)
      this.samples = bigger
    }
    this.samples[this.n++] = ms
  }

  get count (): number {
    return this.n
  }

  summary (): LatencySummary {
    const sorted = this.samples.slice(0, this.n).sort()
    let sum = 0
    for (const v of sorted) sum += v
    return {
      count: this.n,
      mean_ms: this.n === 0 ? Number.NaN : sum / this.n,
      p50_ms: percentile(sorted, 50),
      p95_ms: percentile(sorted, 95),
      p99_ms: percentile(sorted, 99),
      max_ms: this.n === 0 ? Number.NaN : sorted[this.n - 1]
    }
  }
}
