import { Counter, Gauge, Registry } from 'prom-client'
import { SHED_ACTIONS, type MemoryGuard, type ShedAction } from './guard.js'
import type { MemoryBudget } from './budget.js'

/**
 * Shedding takes a moment to show and V8 may grow its heap meanwhile: RSS was
 * seen to climb 50-70 MB past the watermark before it levelled, so the
 * default leaves a fifth of the bound as headroom.
 */
export const DEFAULT_HIGH_WATERMARK = 0.8
export const DEFAULT_LOW_WATERMARK = 0.7
export const DEFAULT_CHECK_INTERVAL_MS = 500
/**
 * Under pressure the peer-held memory budget is clamped to this share of its
 * maximum: enough for honest requests to go on (an honest client holds a few
 * hundred KB at most), too little for anyone to grow the process further.
 */
export const PRESSURE_BUDGET_SHARE = 0.25
/**
 * RSS rarely falls back after memory is freed: V8 and the allocator keep the
 * pages and reuse them before asking the OS for more. So what JavaScript
 * holds (heap in use + external buffers, "live") decides too: pressure needs
 * live memory of at least this share of the low watermark, and ends when live
 * memory falls under it (after MIN_PRESSURE_MS, so it does not flap). Below
 * that share, RSS over the watermark is kept pages that new work reuses
 * instead of growing RSS.
 */
export const LIVE_FLOOR_SHARE = 0.5
export const MIN_PRESSURE_MS = 10_000

/** One reading of the process's memory (process.memoryUsage() fields, bytes). */
export interface MemorySample {
  rss: number
  heapUsed: number
  external: number
}

export interface MemoryWatchdogInit {
  /** The RSS bound (memory.maxRssBytes). */
  maxRssBytes: number
  /** @default 0.8 (DEFAULT_HIGH_WATERMARK) */
  highWatermark?: number
  /** @default 0.7 (DEFAULT_LOW_WATERMARK) */
  lowWatermark?: number
  /** @default 500 */
  checkIntervalMs?: number
  /** The peer-held memory budget to clamp and relieve while under pressure. */
  budget?: MemoryBudget
  /** @default process.memoryUsage() */
  sample?: () => MemorySample
  /** @default Date.now */
  now?: () => number
  /** The node's registry. */
  registry: Registry
  /** One line at each pressure change (a libp2p component logger fits). */
  log?: (formatter: string, ...args: unknown[]) => void
}

/**
 * Keeps the process under its RSS bound. It samples RSS on a timer; past the
 * high watermark, with enough of it live (see LIVE_FLOOR_SHARE), it enters pressure: it clamps the peer-held memory budget and
 * closes the biggest holders (links whose peer does not read, circuits
 * parking partial requests), and while pressure lasts the relay refuses new
 * circuits, the link manager new link streams and the connection gater new
 * inbound connections (see MemoryGuard). Under the low watermark, or once
 * little of the memory is live, it leaves pressure and lifts all of that. Everything it sheds is counted by action.
 */
export class MemoryWatchdog implements MemoryGuard {
  readonly maxRssBytes: number
  private _highBytes: number
  private _lowBytes: number
  private _liveFloorBytes: number
  private readonly init: MemoryWatchdogInit
  private readonly sample: () => MemorySample
  private readonly now: () => number
  private readonly shedCounter: Counter<'action'>
  private pressure = false
  private pressureSince = 0
  private episodes = 0
  private lastRss = 0
  private timer?: ReturnType<typeof setInterval>

  /** New watermarks (fractions of maxRssBytes; a config reload), applied from the next sample. */
  setWatermarks (highWatermark: number, lowWatermark: number): void {
    this._highBytes = Math.floor(this.maxRssBytes * highWatermark)
    this._lowBytes = Math.floor(this.maxRssBytes * lowWatermark)
    this._liveFloorBytes = Math.floor(this._lowBytes * LIVE_FLOOR_SHARE)
  }

  get highBytes (): number { return this._highBytes }
  get lowBytes (): number { return this._lowBytes }
  /** Live memory under which RSS over the watermark is only kept pages. */
  get liveFloorBytes (): number { return this._liveFloorBytes }

  constructor (init: MemoryWatchdogInit) {
    this.init = init
    this.maxRssBytes = init.maxRssBytes
    this._highBytes = Math.floor(init.maxRssBytes * (init.highWatermark ?? DEFAULT_HIGH_WATERMARK))
    this._lowBytes = Math.floor(init.maxRssBytes * (init.lowWatermark ?? DEFAULT_LOW_WATERMARK))
    this._liveFloorBytes = Math.floor(this._lowBytes * LIVE_FLOOR_SHARE)
    this.sample = init.sample ?? (() => process.memoryUsage())
    this.now = init.now ?? Date.now
    const registers = [init.registry]
    // prom-client calls collect() with `this` bound to the metric, so the watchdog is reached through a name
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this
    new Gauge({ name: 'ghostnode_memory_pressure', help: '1 while RSS is over the high watermark of memory.maxRssBytes and the node sheds load', registers, collect () { this.set(self.pressure ? 1 : 0) } })
    new Gauge({ name: 'ghostnode_memory_max_rss_bytes', help: 'The configured RSS bound (memory.maxRssBytes)', registers, collect () { this.set(self.maxRssBytes) } })
    new Gauge({ name: 'ghostnode_memory_rss_bytes', help: 'RSS at the watchdog\'s last sample', registers, collect () { this.set(self.lastRss) } })
    new Counter({ name: 'ghostnode_memory_pressure_episodes_total', help: 'Times the node entered memory pressure', registers, collect () { this.reset(); this.inc(self.episodes) } })
    this.shedCounter = new Counter({ name: 'ghostnode_memory_shed_total', help: 'Load shed to bound memory, by action', labelNames: ['action'], registers })
    for (const action of SHED_ACTIONS) this.shedCounter.inc({ action }, 0)
  }

  get underPressure (): boolean {
    return this.pressure
  }

  /** RSS at the last sample. */
  get rssBytes (): number {
    return this.lastRss
  }

  shed (action: ShedAction): void {
    this.shedCounter.inc({ action })
  }

  start (): void {
    if (this.timer != null) return
    this.check()
    this.timer = setInterval(() => { this.check() }, this.init.checkIntervalMs ?? DEFAULT_CHECK_INTERVAL_MS)
    this.timer.unref?.()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    if (this.pressure) this.leave(this.lastRss)
  }

  /** Takes one sample and acts on it (the timer calls this; tests call it with a fake sampler). */
  check (): void {
    const sample = this.sample()
    this.lastRss = sample.rss
    const live = sample.heapUsed + sample.external
    if (!this.pressure) {
      if (sample.rss >= this.highBytes && live >= this.liveFloorBytes) this.enter(sample.rss)
      return
    }
    if (sample.rss < this.lowBytes || (live < this.liveFloorBytes && this.now() - this.pressureSince >= MIN_PRESSURE_MS)) {
      this.leave(sample.rss)
      return
    }
    // still over: whatever peers managed to hold since the last sample goes too
    if (sample.rss >= this.highBytes) this.relieve()
  }

  private enter (rss: number): void {
    this.pressure = true
    this.pressureSince = this.now()
    this.episodes++
    this.init.budget?.clamp(this.init.budget.maxBytes * PRESSURE_BUDGET_SHARE)
    this.relieve()
    this.init.log?.('memory pressure: RSS %d MiB is over %d MiB (of a %d MiB bound); shedding the biggest holders and refusing new circuits, links and connections',
      mb(rss), mb(this.highBytes), mb(this.maxRssBytes))
  }

  private leave (rss: number): void {
    this.pressure = false
    this.init.budget?.clamp()
    this.init.log?.('memory pressure over: RSS %d MiB (low watermark %d MiB); accepting new circuits, links and connections again', mb(rss), mb(this.lowBytes))
  }

  private relieve (): void {
    const budget = this.init.budget
    if (budget == null) return
    budget.relieve(budget.limit * 0.9)
  }
}

function mb (bytes: number): number {
  return Math.round(bytes / 1024 / 1024)
}
