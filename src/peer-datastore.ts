import { NotFoundError, type AbortOptions } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'

type Key = Parameters<LevelDatastore['get']>[0]
type Batch = ReturnType<LevelDatastore['batch']>

/** Where libp2p's peer store keeps one entry per peer. */
const PEERS_PREFIX = '/peers/'
/** Peer entries (and known absences) remembered; the least recently used go first. */
export const DEFAULT_PEER_CACHE_ENTRIES = 4096
/** Peer entries written are written to LevelDB together this long after the first of them. */
export const DEFAULT_PEER_FLUSH_MS = 1_000
const ABSENT = Symbol('absent')

interface Pending { key: Key, value: Uint8Array }

/**
 * libp2p's datastore (LevelDB) with the peer store's entries cached in
 * memory and their writes coalesced. The peer store reads a peer's entry from
 * the datastore on every look-up and merge (each dial, identify and DHT
 * answer), and writes it back on every merge with a new `updated` time; it
 * has no cache of its own. On a relay connected to a hundred peers those
 * LevelDB reads were a tenth of its CPU, and the writes, once the reads were
 * cached, 7 %.
 *
 * - Reads of peer entries are served from a bounded LRU of what LevelDB holds
 *   or will hold (entries of a few hundred bytes: a few MiB at most).
 * - A written peer entry is kept as pending and written to LevelDB with the
 *   others in one batch `flushMs` later, only its newest value; the peer store
 *   is a cache of the network itself, so a crash loses at most that much of it.
 *   Queries (the peer store's listing) and close() write what is pending first.
 * - Every LevelDB write of a peer entry (batches, deletes) runs in one queue,
 *   in call order: a delete is never overtaken by an older pending value.
 * - A value read from LevelDB while a peer entry was being written is not
 *   cached (the read may have seen the older one).
 *
 * Other keys (DHT records) go to LevelDB as before.
 */
export class PeerCachingDatastore extends LevelDatastore {
  private readonly cache = new Map<string, Uint8Array | typeof ABSENT>()
  private readonly maxEntries: number
  private readonly flushMs: number
  /** Written, not yet handed to LevelDB. */
  private dirty = new Map<string, Pending>()
  /** Handed to LevelDB in a batch not yet committed. */
  private readonly inFlight = new Map<string, Pending>()
  /** LevelDB writes of peer entries, one after another. */
  private queue: Promise<void> = Promise.resolve()
  private timer?: ReturnType<typeof setTimeout>
  /** Incremented by every write of a peer entry. */
  private writes = 0
  hits = 0
  misses = 0
  /** Batches written, and batches that failed (their entries are tried again). */
  flushes = 0
  flushFailures = 0

  constructor (path: string, options: { maxEntries?: number, flushMs?: number } = {}) {
    super(path)
    this.maxEntries = options.maxEntries ?? DEFAULT_PEER_CACHE_ENTRIES
    this.flushMs = options.flushMs ?? DEFAULT_PEER_FLUSH_MS
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return super.get(key, options)
    const pending = this.dirty.get(k) ?? this.inFlight.get(k)
    if (pending !== undefined) {
      this.hits++
      return pending.value
    }
    const held = this.cache.get(k)
    if (held !== undefined) {
      this.hits++
      this.remember(k, held)
      if (held === ABSENT) throw new NotFoundError()
      return held
    }
    this.misses++
    const before = this.writes
    try {
      const value = await super.get(key, options)
      if (this.writes === before) this.remember(k, value)
      return value
    } catch (err) {
      if ((err as Error).name === 'NotFoundError' && this.writes === before) this.remember(k, ABSENT)
      throw err
    }
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    const k = key.toString()
    if (k.startsWith(PEERS_PREFIX)) {
      if (this.dirty.has(k) || this.inFlight.has(k)) return true
      const held = this.cache.get(k)
      if (held !== undefined) return held !== ABSENT
    }
    return super.has(key, options)
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return super.put(key, value, options)
    options?.signal?.throwIfAborted()
    this.writes++
    this.dirty.set(k, { key, value })
    this.remember(k, value)
    this.timer ??= setTimeout(() => { this.flush().catch(() => {}) }, this.flushMs)
    this.timer.unref?.()
    return key
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return super.delete(key, options)
    this.writes++
    this.dirty.delete(k)
    this.remember(k, ABSENT)
    await this.inQueue(async () => { await super.delete(key, options) })
  }

  override batch (): Batch {
    const inner = super.batch()
    const touched: string[] = []
    return {
      put: (key, value) => {
        inner.put(key, value)
        touched.push(key.toString())
      },
      delete: (key) => {
        inner.delete(key)
        touched.push(key.toString())
      },
      commit: async (options) => {
        // the batch's values replace pending ones; they are read from LevelDB once it is written
        this.writes++
        for (const k of touched) {
          if (!k.startsWith(PEERS_PREFIX)) continue
          this.dirty.delete(k)
          this.cache.delete(k)
        }
        try {
          await this.inQueue(async () => { await inner.commit(options) })
        } finally {
          for (const k of touched) if (k.startsWith(PEERS_PREFIX)) this.cache.delete(k)
          this.writes++
        }
      }
    }
  }

  override async * _query (opts: { values: boolean, prefix?: string }): AsyncIterable<{ key: Key, value: Uint8Array }> {
    // the listing includes what was written a moment ago
    await this.flush()
    yield * super._query(opts)
  }

  override async close (): Promise<void> {
    await this.flush()
    this.cache.clear()
    await super.close()
  }

  get cachedEntries (): number {
    return this.cache.size
  }

  /** Entries written and not yet in LevelDB. */
  get pendingEntries (): number {
    return this.dirty.size + this.inFlight.size
  }

  /** Writes the pending entries to LevelDB in one batch; resolves once every earlier write is done. */
  async flush (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.dirty.size === 0) {
      await this.queue
      return
    }
    const batch = this.dirty
    this.dirty = new Map()
    for (const [k, e] of batch) this.inFlight.set(k, e)
    const write = async (): Promise<void> => {
      const b = super.batch()
      for (const e of batch.values()) b.put(e.key, e.value)
      await b.commit()
    }
    try {
      await this.inQueue(write)
      this.flushes++
    } catch {
      // kept and tried again with the next batch, unless written again since
      this.flushFailures++
      for (const [k, e] of batch) if (!this.dirty.has(k) && this.inFlight.get(k) === e) this.dirty.set(k, e)
      this.timer ??= setTimeout(() => { this.flush().catch(() => {}) }, this.flushMs)
      this.timer.unref?.()
    } finally {
      for (const [k, e] of batch) if (this.inFlight.get(k) === e) this.inFlight.delete(k)
    }
  }

  private async inQueue (work: () => Promise<void>): Promise<void> {
    const run = this.queue.then(work)
    this.queue = run.catch(() => {})
    await run
  }

  private remember (k: string, value: Uint8Array | typeof ABSENT): void {
    this.cache.delete(k)
    this.cache.set(k, value)
    while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!)
  }
}
