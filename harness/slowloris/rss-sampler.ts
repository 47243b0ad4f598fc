import { readFile } from 'node:fs/promises'

/** A process's resident set size in bytes, from /proc/<pid>/status (VmRSS); undefined once it is gone. */
export async function readRssBytes (pid: number): Promise<number | undefined> {
  let text: string
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(text)
  return m == null ? undefined : Number(m[1]) * 1024
}

export interface RssSample { atMs: number, rssBytes: number }

/**
 * Samples another process's RSS on a timer (read from /proc, so the sampled
 * process does no work for it). `mark()` starts a new phase so the caller can
 * ask for figures per phase.
 */
export class RssSampler {
  readonly samples: RssSample[] = []
  private readonly pid: number
  private readonly intervalMs: number
  private timer?: ReturnType<typeof setInterval>
  private readonly started = performance.now()

  constructor (pid: number, intervalMs = 200) {
    this.pid = pid
    this.intervalMs = intervalMs
  }

  start (): void {
    if (this.timer != null) return
    const sample = async (): Promise<void> => {
      const rss = await readRssBytes(this.pid)
      if (rss != null) this.samples.push({ atMs: performance.now() - this.started, rssBytes: rss })
    }
    void sample()
    this.timer = setInterval(() => { void sample() }, this.intervalMs)
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Milliseconds since the sampler was created (the time base of `samples`). */
  now (): number {
    return performance.now() - this.started
  }

  /** RSS values sampled in [fromMs, toMs). */
  between (fromMs: number, toMs = Infinity): number[] {
    return this.samples.filter(s => s.atMs >= fromMs && s.atMs < toMs).map(s => s.rssBytes)
  }
}
