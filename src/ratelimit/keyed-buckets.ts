import { DEFAULT_MAX_BUCKETS_PER_KIND } from './config.js'
import { InvalidRateLimitConfigError } from './errors.js'
import { TokenBucket } from './token-bucket.js'

export interface KeyedBucketsInit {
  /** Rate in tokens per second of every bucket at weight 1. */
  ratePerSecond: number
  /** Capacity of every bucket at weight 1. */
  burst: number
  now: () => number
  /** Hard cap on buckets held. @default DEFAULT_MAX_BUCKETS_PER_KIND (10000) */
  maxEntries?: number
}

/**
 * Buckets are swept from the cold end this many at a time per operation:
 * enough to keep up with one new key per call, still O(1).
 */
const IDLE_SWEEP_PER_OPERATION = 2

/**
 * Token buckets for one limit kind, keyed by string (peer id, IP prefix,
 * mailbox). Memory stays bounded whatever the number of keys:
 *
 * - A doubly linked list keeps the recency order (a touched key moves to the
 *   tail), so the head is the least recently used key. Not the Map's own
 *   insertion order: V8 leaves a tombstone per delete and a walk from the head
 *   skips them all, which made eviction O(n) under key churn (measured ~10 µs
 *   per new key at 10k entries, against ~0.2 µs with the list).
 * - Each operation drops up to two idle buckets from the head when they have
 *   refilled to capacity. That loses nothing: a new bucket for the key would
 *   start full anyway.
 * - At `maxEntries` the least recently used bucket is evicted even if not
 *   full (counted in `forcedEvictions`): under a flood of new keys, bounded
 *   memory wins over remembering an old, partly drained bucket.
 *
 * Every operation is O(1).
 */
export class KeyedBuckets {
  readonly maxEntries: number
  private ratePerSecond: number
  private burst: number
  private readonly now: () => number
  private readonly nodes = new Map<string, LruNode>()
  /** Least recently used end. */
  private head: LruNode | undefined
  /** Most recently used end. */
  private tail: LruNode | undefined
  private _forcedEvictions = 0

  constructor (init: KeyedBucketsInit) {
    this.maxEntries = init.maxEntries ?? DEFAULT_MAX_BUCKETS_PER_KIND
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new InvalidRateLimitConfigError('maxEntries', this.maxEntries, 'must be an integer >= 1')
    }
    this.ratePerSecond = init.ratePerSecond
    this.burst = init.burst
    this.now = init.now
    // Fail on bad rate/burst at construction rather than on the first packet.
    void new TokenBucket({ ratePerSecond: this.ratePerSecond, burst: this.burst, now: this.now })
  }

  get size (): number { return this.nodes.size }

  /** New rate and burst for every bucket, existing ones included (a config reload). */
  setLimit (ratePerSecond: number, burst: number): void {
    void new TokenBucket({ ratePerSecond, burst, now: this.now }) // validates before anything changes
    this.ratePerSecond = ratePerSecond
    this.burst = burst
    for (const node of this.nodes.values()) node.bucket.setBase(ratePerSecond, burst)
  }

  /** Buckets evicted before they had refilled (only happens at maxEntries). */
  get forcedEvictions (): number { return this._forcedEvictions }

  /**
   * Takes `cost` tokens from `key`'s bucket, creating it full if absent and
   * rescaling it when `weight` differs from its current one. Returns 0 when
   * taken, otherwise milliseconds until it could be (Infinity if never).
   */
  take (key: string, cost = 1, weight = 1): number {
    let node = this.nodes.get(key)
    if (node === undefined) {
      if (this.nodes.size >= this.maxEntries) this.evictHead()
      node = new LruNode(key, new TokenBucket({ ratePerSecond: this.ratePerSecond, burst: this.burst, now: this.now, weight }))
      this.nodes.set(key, node)
    } else {
      this.unlink(node)
      node.bucket.setWeight(weight)
    }
    this.append(node)
    const wait = node.bucket.take(cost)
    this.sweepIdle()
    return wait
  }

  /** take() as a boolean. */
  tryTake (key: string, cost = 1, weight = 1): boolean {
    return this.take(key, cost, weight) === 0
  }

  /** Tokens available for `key` now; a key without a bucket has a full one. */
  available (key: string, weight = 1): number {
    const node = this.nodes.get(key)
    return node === undefined ? this.burst * weight : node.bucket.available()
  }

  /** Rescales an existing bucket (e.g. on a tier change) without touching its recency. */
  setWeight (key: string, weight: number): void {
    this.nodes.get(key)?.bucket.setWeight(weight)
  }

  has (key: string): boolean {
    return this.nodes.has(key)
  }

  private evictHead (): void {
    const oldest = this.head
    if (oldest === undefined) return
    if (!oldest.bucket.isFull()) this._forcedEvictions++
    this.unlink(oldest)
    this.nodes.delete(oldest.key)
  }

  private sweepIdle (): void {
    for (let i = 0; i < IDLE_SWEEP_PER_OPERATION; i++) {
      const oldest = this.head
      // Never the bucket just used (the tail), even when it is full.
      if (oldest === undefined || oldest === this.tail || !oldest.bucket.isFull()) return
      this.unlink(oldest)
      this.nodes.delete(oldest.key)
    }
  }

  private append (node: LruNode): void {
    node.prev = this.tail
    node.next = undefined
    if (this.tail === undefined) this.head = node
    else this.tail.next = node
    this.tail = node
  }

  private unlink (node: LruNode): void {
    if (node.prev === undefined) this.head = node.next
    else node.prev.next = node.next
    if (node.next === undefined) this.tail = node.prev
    else node.next.prev = node.prev
    node.prev = undefined
    node.next = undefined
  }
}

class LruNode {
  prev: LruNode | undefined = undefined
  next: LruNode | undefined = undefined

  constructor (readonly key: string, readonly bucket: TokenBucket) {}
}
