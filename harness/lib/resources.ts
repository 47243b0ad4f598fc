import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { scrape, total } from './prom.js'

/**
 * Per-process CPU% and RSS over a measured window. A process the bench started
 * is read from /proc/<pid>/stat (utime+stime) and /proc/<pid>/status (VmRSS);
 * a node given only by URL from its /metrics (process_cpu_seconds_total,
 * process_resident_memory_bytes). CPU% is of one core: 200% = both cores of a
 * 2-core machine.
 */

const SAMPLE_INTERVAL_MS = 1_000

export interface ResourceTarget {
  name: string
  /** What the process is in this run: relay, plain-relay, bench-client. */
  role: string
  /** Read /proc/<pid> (a process on this machine, which the bench started). */
  pid?: number
  /** Otherwise read <httpUrl>/metrics. */
  httpUrl?: string
}

export interface ResourceUsage {
  name: string
  role: string
  source: 'proc' | 'metrics'
  pid?: number
  cpu_percent: number
  /** CPU time this process spent per message of the workload (cpu_percent ÷ msg/s), µs. */
  cpu_us_per_msg?: number
  rss_mb_mean: number
  rss_mb_max: number
  samples: number
}

interface Reading { cpuSeconds: number, rssBytes: number }

let clockTicks: number | undefined
function ticksPerSecond (): number {
  if (clockTicks == null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100 // USER_HZ on every mainstream Linux build
    }
  }
  return clockTicks
}

async function readProc (pid: number): Promise<Reading> {
  const [stat, status] = await Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')])
  // the command name may hold spaces and parentheses: fields start after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN)
  return { cpuSeconds: (utime + stime) / ticksPerSecond(), rssBytes: rssKb * 1024 }
}

async function readMetrics (httpUrl: string): Promise<Reading> {
  const samples = await scrape(httpUrl)
  return {
    cpuSeconds: total(samples, 'process_cpu_seconds_total') ?? Number.NaN,
    rssBytes: total(samples, 'process_resident_memory_bytes') ?? Number.NaN
  }
}

async function read (target: ResourceTarget): Promise<Reading | undefined> {
  try {
    if (target.pid != null) return await readProc(target.pid)
    if (target.httpUrl != null) return await readMetrics(target.httpUrl)
  } catch {
    // the process may have exited or the endpoint not answered: a missed sample
  }
  return undefined
}

interface Track {
  target: ResourceTarget
  /** Reading at the start of the current window. */
  open?: Reading & { at: number }
  cpuSeconds: number
  wallSeconds: number
  rss: number[]
}

/**
 * Samples over one or more windows (interleaved rounds measure a workload in
 * several slices): CPU% = CPU seconds used inside the windows ÷ their wall time.
 */
export class ResourceSampler {
  private readonly tracks: Track[]
  private timer?: ReturnType<typeof setInterval>
  private sampling?: Promise<void>

  constructor (targets: ResourceTarget[]) {
    this.tracks = targets.map(target => ({ target, cpuSeconds: 0, wallSeconds: 0, rss: [] }))
  }

  /** Opens a window. */
  async begin (): Promise<void> {
    await Promise.all(this.tracks.map(async (track) => {
      const reading = await read(track.target)
      track.open = reading != null ? { ...reading, at: performance.now() } : undefined
      if (reading != null && Number.isFinite(reading.rssBytes)) track.rss.push(reading.rssBytes)
    }))
    this.timer = setInterval(() => { this.sampling ??= this.sampleRss().finally(() => { this.sampling = undefined }) }, SAMPLE_INTERVAL_MS)
  }

  /** Closes the window opened by begin(). */
  async end (): Promise<void> {
    clearInterval(this.timer)
    await this.sampling
    await Promise.all(this.tracks.map(async (track) => {
      const reading = await read(track.target)
      if (reading == null || track.open == null) return
      track.cpuSeconds += reading.cpuSeconds - track.open.cpuSeconds
      track.wallSeconds += (performance.now() - track.open.at) / 1000
      if (Number.isFinite(reading.rssBytes)) track.rss.push(reading.rssBytes)
      track.open = undefined
    }))
  }

  summary (): ResourceUsage[] {
    const mb = (b: number): number => b / (1024 * 1024)
    return this.tracks.map(({ target, cpuSeconds, wallSeconds, rss }) => ({
      name: target.name,
      role: target.role,
      source: target.pid != null ? 'proc' : 'metrics',
      ...(target.pid != null ? { pid: target.pid } : {}),
      cpu_percent: wallSeconds > 0 ? 100 * cpuSeconds / wallSeconds : Number.NaN,
      rss_mb_mean: rss.length > 0 ? mb(rss.reduce((a, b) => a + b, 0) / rss.length) : Number.NaN,
      rss_mb_max: rss.length > 0 ? mb(Math.max(...rss)) : Number.NaN,
      samples: rss.length
    }))
  }

  private async sampleRss (): Promise<void> {
    await Promise.all(this.tracks.map(async (track) => {
      const reading = await read(track.target)
      if (reading != null && Number.isFinite(reading.rssBytes)) track.rss.push(reading.rssBytes)
    }))
  }
}
