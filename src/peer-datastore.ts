import { NotFoundError, type AbortOptions } from '@libp2p/interface'
import { LevelDatastore } from 'datastore-level'

type Key = Parameters<LevelDatastore['get']>[0]
type Batch = ReturnType<LevelDatastore['batch']>

/** Where libp2p's peer store keeps one entry per peer. */
const PEERS_PREFIX = '/peers/'
/** Peer entries (and known absences) remembered; the least recently used go first. */
export const DEFAULT_PEER_CACHE_ENTRIES = 4096
const ABSENT = Symbol('absent')

/**
 * libp2p's datastore (LevelDB) with the peer store's entries cached in
 * memory. The peer store reads a peer's entry from the datastore on every
 * look-up and on every merge (each dial, identify and DHT answer), and has no
 * cache of its own: on a relay connected to a hundred peers those LevelDB reads
 * and their copies were a tenth of its CPU. Every write passes through here, so
 * the cache is never stale; it is bounded (LRU) and holds only what LevelDB holds
 * (entries of a few hundred bytes), so it adds at most a few MiB. Other keys
 * (DHT records) go to LevelDB as before.
 *
 * A value read while a peer entry was being written is not cached (the read
 * may have seen the older one). Values are cached as the peer store wrote them,
 * which never changes an encoded entry after writing it.
 */
export class PeerCachingDatastore extends LevelDatastore {
  private readonly cache = new Map<string, Uint8Array | typeof ABSENT>()
  private readonly maxEntries: number
  /** Incremented by every write of a peer entry. */
  private writes = 0
  hits = 0
  misses = 0

  constructor (path: string, maxEntries = DEFAULT_PEER_CACHE_ENTRIES) {
    super(path)
    this.maxEntries = maxEntries
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return super.get(key, options)
    const held = this.cache.get(k)
    if (held !== undefined) {
      this.hits++
      this.touch(k, held)
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
    const held = k.startsWith(PEERS_PREFIX) ? this.cache.get(k) : undefined
    if (held !== undefined) return held !== ABSENT
    return super.has(key, options)
  }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return super.put(key, value, options)
    this.writes++
    this.cache.delete(k)
    try {
      const out = await super.put(key, value, options)
      this.remember(k, value)
      return out
    } finally {
      this.writes++
    }
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    const k = key.toString()
    if (!k.startsWith(PEERS_PREFIX)) return super.delete(key, options)
    this.writes++
    this.cache.delete(k)
    try {
      await super.delete(key, options)
      this.remember(k, ABSENT)
    } finally {
      this.writes++
    }
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
        // forgotten before and after: a read in between sees LevelDB, not a stale copy
        const peers = touched.filter(k => k.startsWith(PEERS_PREFIX))
        this.writes++
        for (const k of peers) this.cache.delete(k)
        try {
          await inner.commit(options)
        } finally {
          for (const k of peers) this.cache.delete(k)
          this.writes++
        }
      }
    }
  }

  override async close (): Promise<void> {
    this.cache.clear()
    await super.close()
  }

  get cachedEntries (): number {
    return this.cache.size
  }

  private touch (k: string, value: Uint8Array | typeof ABSENT): void {
    this.cache.delete(k)
    this.cache.set(k, value)
  }

  private remember (k: string, value: Uint8Array | typeof ABSENT): void {
    this.cache.delete(k)
    this.cache.set(k, value)
    while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!)
  }
}
