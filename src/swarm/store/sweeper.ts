/**
 * Periodic runner for the expiry sweep. The next run is scheduled only after
 * the previous one finished, so runs never overlap however long a sweep takes;
 * the timer is unref'd so a forgotten sweeper does not keep the process alive.
 */

export interface TimerHandle {
  unref?: () => unknown
}

/** The two timer functions the sweeper needs; injectable so tests drive time. */
export interface SweeperTimers {
  setTimeout: (fn: () => void, ms: number) => TimerHandle
  clearTimeout: (handle: TimerHandle) => void
}

export interface SweeperInit {
  intervalMs: number
  /** One sweep; resolves with the number of records removed. */
  sweep: () => Promise<number>
  /** Called when a scheduled sweep fails; the schedule carries on. */
  onError?: (err: unknown) => void
  timers?: SweeperTimers
}

const realTimers: SweeperTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => { clearTimeout(handle as ReturnType<typeof setTimeout>) }
}

export class Sweeper {
  private readonly init: SweeperInit
  private readonly timers: SweeperTimers
  private timer?: TimerHandle
  private running?: Promise<number>
  private started = false

  constructor (init: SweeperInit) {
    this.init = init
    this.timers = init.timers ?? realTimers
  }

  get isRunning (): boolean {
    return this.started
  }

  /** Starts the schedule; a second call is a no-op. */
  start (): void {
    if (this.started) return
    this.started = true
    this.arm()
  }

  /** Cancels the schedule and waits for a sweep in progress to finish. */
  async stop (): Promise<void> {
    this.started = false
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer)
    this.timer = undefined
    await this.running?.catch(() => {})
  }

  /** Sweeps now, or joins the sweep already in progress. */
  async runNow (): Promise<number> {
    if (this.running !== undefined) return this.running
    this.running = this.init.sweep().finally(() => { this.running = undefined })
    return this.running
  }

  private arm (): void {
    const handle = this.timers.setTimeout(() => {
      this.timer = undefined
      this.runNow()
        .catch(err => this.init.onError?.(err))
        .finally(() => { if (this.started) this.arm() })
    }, this.init.intervalMs)
    handle.unref?.()
    this.timer = handle
  }
}
