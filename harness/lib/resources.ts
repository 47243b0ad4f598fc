import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { scrape, total } from './prom.js'

/**
 * Per-process CPU%, RSS, write syscalls and GC time over a measured window. A
 * process the bench started is read from /proc/<pid>/stat (utime+stime),
 * /proc/<pid>/status (VmRSS) and /proc/<pid>/io (syscw: write(2)-family calls,
 * which is what a socket write costs in syscalls); a node given only by URL
 * from its /metrics (process_cpu_seconds_total, process_resident_memory_bytes).
 * GC time comes from the node's nodejs_gc_duration_seconds (prom-client's GC
 * observer) or from the process's own `gcSeconds` hook. CPU% is of one core:
 * 200% = both cores of a 2-core machine.
 */

const SAMPLE_INTERVAL_MS = 1_000

export interface ResourceTarget {
  name: string
  /** What the process is in this run: relay, plain-relay, bench-client. */
  role: string
  /** Read /proc/<pid> (a process on this machine, which the bench started). */
  pid?: number
  /** Otherwise read <httpUrl>/metrics; with a pid, only for GC time. */
  httpUrl?: string
  /** Total GC time of the process so far, in seconds (processes without /metrics). */
  gcSeconds?: () => Promise<number>
}

export interface ResourceUsage {
  name: string
  role: string
  source: 'proc' | 'metrics'
  pid?: number
  cpu_percent: number
  /** CPU time this process spent per message of the workload (cpu_percent ÷ msg/s), µs. */
  cpu_us_per_msg?: number
  /** write(2)-family syscalls per second (from /proc; absent for a node read by URL). */
  write_syscalls_per_s?: number
  /** write_syscalls_per_s ÷ msg/s. */
  write_syscalls_per_msg?: number
  /** GC time ÷ CPU time inside the windows (absent when the process reports no GC time). */
  gc_share?: number
  rss_mb_mean: number
  rss_mb_max: number
  samples: number
}

interface Reading { cpuSeconds: number, rssBytes: number, writeSyscalls?: number, gcSeconds?: number }

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
  const [stat, status, io] = await Promise.all([
    readFile(`/proc/${pid}/stat`, 'utf8'),
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/io`, 'utf8').catch(() => '')
  ])
  // the command name may hold spaces and parentheses: fields start after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const utime = Number(fields[11])
  const stime = Number(fields[12])
  const rssKb = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN)
  const syscw = /^syscw:\s+(\d+)/m.exec(io)?.[1]
  return { cpuSeconds: (utime + stime) / ticksPerSecond(), rssBytes: rssKb * 1024, ...(syscw != null ? { writeSyscalls: Number(syscw) } : {}) }
}

async function readMetrics (httpUrl: string): Promise<Reading> {
  const samples = await scrape(httpUrl)
  const gc = total(samples, 'nodejs_gc_duration_seconds_sum')
  return {
    cpuSeconds: total(samples, 'process_cpu_seconds_total') ?? Number.NaN,
    rssBytes: total(samples, 'process_resident_memory_bytes') ?? Number.NaN,
    ...(gc != null ? { gcSeconds: gc } : {})
  }
}

async function readGc (target: ResourceTarget): Promise<number | undefined> {
  if (target.gcSeconds != null) return target.gcSeconds()
  if (target.httpUrl != null) return (await readMetrics(target.httpUrl)).gcSeconds
  return undefined
}

async function read (target: ResourceTarget): Promise<Reading | undefined> {
  try {
    if (target.pid != null) {
      const [proc, gcSeconds] = await Promise.all([readProc(target.pid), readGc(target).catch(() => undefined)])
      return { ...proc, ...(gcSeconds != null ? { gcSeconds } : {}) }
    }
    if (target.httpUrl != null) {
      const reading = await readMetrics(target.httpUrl)
      const gcSeconds = target.gcSeconds != null ? await target.gcSeconds() : reading.gcSeconds
      return { ...reading, ...(gcSeconds != null ? { gcSeconds } : {}) }
    }
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
  /** Summed over the windows; undefined once a window lacked the figure. */
  writeSyscalls?: number
  gcSeconds?: number
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
    this.tracks = targets.map(target => ({ target, cpuSeconds: 0, wallSeconds: 0, writeSyscalls: 0, gcSeconds: 0, rss: [] }))
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
      track.writeSyscalls = addDelta(track.writeSyscalls, track.open.writeSyscalls, reading.writeSyscalls)
      track.gcSeconds = addDelta(track.gcSeconds, track.open.gcSeconds, reading.gcSeconds)
      if (Number.isFinite(reading.rssBytes)) track.rss.push(reading.rssBytes)
      track.open = undefined
    }))
  }

  summary (): ResourceUsage[] {
    const mb = (b: number): number => b / (1024 * 1024)
    return this.tracks.map(({ target, cpuSeconds, wallSeconds, writeSyscalls, gcSeconds, rss }) => ({
      name: target.name,
      role: target.role,
      source: target.pid != null ? 'proc' : 'metrics',
      ...(target.pid != null ? { pid: target.pid } : {}),
      cpu_percent: wallSeconds > 0 ? 100 * cpuSeconds / wallSeconds : Number.NaN,
      ...(writeSyscalls != null && wallSeconds > 0 ? { write_syscalls_per_s: writeSyscalls / wallSeconds } : {}),
      ...(gcSeconds != null && cpuSeconds > 0 ? { gc_share: gcSeconds / cpuSeconds } : {}),
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

/** total + (after - before), or undefined as soon as either reading lacks the figure. */
function addDelta (total: number | undefined, before: number | undefined, after: number | undefined): number | undefined {
  return total != null && before != null && after != null ? total + (after - before) : undefined
}
