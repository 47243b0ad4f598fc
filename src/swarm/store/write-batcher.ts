import { inBackground } from '../../background.js'
/**
 * Single-writer queue with group commit.
 *
 * Every mutation of the store runs here, one job at a time, so a job can read
 * the database, decide, and write one atomic batch without another writer
 * invalidating what it read (quota counters, dedup lookups). Items enqueued
 * with {@link WriteBatcher.enqueue} that arrive while the writer is busy, or
 * in the same event-loop turn, are coalesced into one job and so one LevelDB
 * batch: the busier the store, the larger the batches, with no timer adding
 * latency when it is idle. Exclusive tasks keep their place in the order.
 *
 * With `prefetch`, once a commit has made its decisions and only its write
 * remains, the batch queued right behind it is closed and its reads start,
 * overlapping that write (measured: a batch's reads took as long as its
 * write). Its own commit still runs strictly after.
 */

/** Per-item outcome of a batch commit: a value, or the error that item fails with. */
export type ItemOutcome<R> = { ok: true, value: R } | { ok: false, error: Error }

export interface WriteBatcherInit<T, R, P = never> {
  /** Most items per batch; more start a new batch behind it. */
  maxBatchItems: number
  /**
   * Read-only preparation of a batch, started while the previous batch may
   * still be committing. Its result (or rejection) is handed to `commit`.
   */
  prefetch?: (items: T[]) => Promise<P>
  /**
   * Writes a batch; returns one outcome per item, in order. A rejection fails
   * every item in the batch with that error. `prefetched` is absent when no
   * prefetch ran for this batch. The commit calls `writing` when only its
   * write remains, which starts the next batch's prefetch.
   */
  commit: (items: T[], prefetched: Promise<P> | undefined, writing: () => void) => Promise<Array<ItemOutcome<R>>>
}

interface Waiter<V> {
  resolve: (value: V) => void
  reject: (err: unknown) => void
}

interface BatchJob<T, R, P> {
  kind: 'batch'
  items: T[]
  waiters: Array<Waiter<R>>
  /** Set once prefetch started: no more items may join. */
  prefetched?: Promise<P>
}

interface TaskJob {
  kind: 'task'
  run: () => Promise<void>
}

export class WriteBatcher<T, R, P = never> {
  private readonly init: WriteBatcherInit<T, R, P>
  private readonly jobs: Array<BatchJob<T, R, P> | TaskJob> = []
  private active = false
  private idleWaiters: Array<() => void> = []

  constructor (init: WriteBatcherInit<T, R, P>) {
    this.init = init
  }

  /** Items waiting for a batch that has not started yet. */
  get pending (): number {
    return this.jobs.reduce((n, j) => n + (j.kind === 'batch' ? j.items.length : 1), 0)
  }

  /** Resolves with the item's outcome once the batch holding it is written. */
  async enqueue (item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const last = this.jobs[this.jobs.length - 1]
      if (last?.kind === 'batch' && last.prefetched === undefined && last.items.length < this.init.maxBatchItems) {
        last.items.push(item)
        last.waiters.push({ resolve, reject })
      } else {
        this.jobs.push({ kind: 'batch', items: [item], waiters: [{ resolve, reject }] })
      }
      this.schedule()
    })
  }

  /** Runs `fn` alone, after everything queued before it. */
  async exclusive<V> (fn: () => Promise<V>): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      this.jobs.push({
        kind: 'task',
        run: async () => { await fn().then(resolve, reject) }
      })
      this.schedule()
    })
  }

  /** Resolves when every queued job has finished. */
  async idle (): Promise<void> {
    if (!this.active && this.jobs.length === 0) return
    await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }

  private schedule (): void {
    if (this.active) return
    this.active = true
    // setImmediate, not a microtask: lets puts issued by the rest of this
    // event-loop turn (other sockets' data events) join the first batch.
    setImmediate(() => { inBackground('store write batch', this.drain()) })
  }

  private async drain (): Promise<void> {
    for (let job = this.jobs.shift(); job !== undefined; job = this.jobs.shift()) {
      if (job.kind === 'task') {
        await job.run()
        continue
      }
      await this.runBatch(job)
    }
    this.active = false
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }

  private async runBatch (job: BatchJob<T, R, P>): Promise<void> {
    let outcomes: Array<ItemOutcome<R>>
    try {
      outcomes = await this.init.commit(job.items, job.prefetched, () => { this.prefetchNext() })
    } catch (err) {
      for (const w of job.waiters) w.reject(err)
      return
    }
    job.waiters.forEach((w, i) => {
      const o = outcomes[i]
      if (o.ok) w.resolve(o.value)
      else w.reject(o.error)
    })
  }

  /** Starts the reads of the batch queued directly behind the one writing. */
  private prefetchNext (): void {
    const next = this.jobs[0]
    if (this.init.prefetch === undefined || next?.kind !== 'batch' || next.prefetched !== undefined) return
    const prefetched = this.init.prefetch(next.items)
    // Handled when its commit awaits it; until then a rejection must not count as unhandled.
    prefetched.catch(() => {})
    next.prefetched = prefetched
  }
}
