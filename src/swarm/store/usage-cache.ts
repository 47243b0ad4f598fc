import type { Usage } from './store-keys.js'

/** Computes a mailbox's usage from the database (a scan of its hash index). */
export type UsageScan = (mailbox: Uint8Array) => Promise<Usage>

/**
 * Per-mailbox usage counters, in memory. They are not stored: a mailbox's
 * counters are the sum over its hash-index entries, computed on first use and
 * then maintained by the store's single writer after each successful batch,
 * so a cached value always matches the data on disk. Bounded: past
 * `maxEntries` the entry loaded or updated longest ago is dropped, to be
 * recomputed when needed again. Only the writer may fill the cache ({@link load}): a scan
 * overlapping a write could otherwise cache a value that write replaced.
 */
export class UsageCache {
  private readonly maxEntries: number
  private readonly entries = new Map<string, Usage>()

  constructor (maxEntries: number) {
    this.maxEntries = maxEntries
  }

  get size (): number {
    return this.entries.size
  }

  /** The cached counters; callers copy before changing them. */
  get (id: string): Usage | undefined {
    return this.entries.get(id)
  }

  /**
   * Counters for the given mailboxes (keyed by their bytes id), scanning the
   * ones not cached. Returns copies the caller may change freely; the cache
   * changes only through {@link commit}.
   */
  async load (scan: UsageScan, mailboxes: Iterable<[id: string, mailbox: Uint8Array]>): Promise<Map<string, Usage>> {
    const out = new Map<string, Usage>()
    const missing: Array<Promise<void>> = []
    for (const [id, mailbox] of mailboxes) {
      const hit = this.entries.get(id)
      if (hit !== undefined) {
        out.set(id, { ...hit })
        continue
      }
      missing.push(scan(mailbox).then(u => {
        out.set(id, u)
        this.remember(id, { ...u })
      }))
    }
    await Promise.all(missing)
    return out
  }

  /** Records counters just written to disk. */
  commit (updates: Map<string, Usage>): void {
    for (const [id, u] of updates) this.remember(id, { ...u })
  }

  clear (): void {
    this.entries.clear()
  }

  private remember (id: string, u: Usage): void {
    this.entries.delete(id)
    this.entries.set(id, u)
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
  }
}
