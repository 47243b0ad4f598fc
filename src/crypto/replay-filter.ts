import { Level } from 'level'
import {
  InvalidReplayTagError, ReplayError, ReplayFilterClosedError, ReplayFilterFullError, ReplayFilterWriteError
} from './errors.js'

/** Flush queued tags to LevelDB at least this often. */
export const DEFAULT_REPLAY_FLUSH_INTERVAL_MS = 50
/** Flush immediately once this many tags are queued (one LevelDB batch). */
export const DEFAULT_REPLAY_MAX_PENDING_WRITES = 1024
/**
 * Tags remembered per epoch before the filter fails closed. A tag costs ~53 B of
 * heap as a Set entry (measured), so the default bounds one epoch to ~106 MB.
 */
export const DEFAULT_REPLAY_MAX_TAGS_PER_EPOCH = 2_000_000
/** Longest tag accepted (the protocol's tags are 16 B; the bound keeps keys sane). */
export const MAX_REPLAY_TAG_BYTES = 64

export interface ReplayFilterInit {
  /** LevelDB directory (created if missing). */
  path: string
  /**
   * Tags become durable within this interval; a crash can forget at most this
   * window, and only tags whose onion-key epoch is still live matter.
   * @default 50
   */
  flushIntervalMs?: number
  /** @default 1024 */
  maxPendingWrites?: number
  /** @default 2000000 */
  maxTagsPerEpoch?: number
}

const EPOCH_BYTES = 4
const EMPTY = new Uint8Array(0)

function checkEpoch (epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) {
    throw new InvalidReplayTagError('epoch must be a u32')
  }
}

function checkTag (tag: Uint8Array): void {
  if (!(tag instanceof Uint8Array) || tag.byteLength < 1 || tag.byteLength > MAX_REPLAY_TAG_BYTES) {
    throw new InvalidReplayTagError(`tag must be 1..${MAX_REPLAY_TAG_BYTES} bytes`)
  }
}

/** Set member for a tag: a latin1 string is the cheapest hashable copy of the bytes. */
function tagString (tag: Uint8Array): string {
  return Buffer.from(tag.buffer, tag.byteOffset, tag.byteLength).toString('latin1')
}

function epochPrefix (epoch: number): Uint8Array {
  const key = new Uint8Array(EPOCH_BYTES)
  new DataView(key.buffer).setUint32(0, epoch)
  return key
}

/** LevelDB key: `epoch u32 BE || tag`. */
function dbKey (epoch: number, tag: Uint8Array): Uint8Array {
  const key = new Uint8Array(EPOCH_BYTES + tag.byteLength)
  new DataView(key.buffer).setUint32(0, epoch)
  key.set(tag, EPOCH_BYTES)
  return key
}

/**
 * CREATE replay filter: an in-memory Set per onion-key epoch for O(1)
 * check-and-insert, persisted to LevelDB with group-committed batches and loaded
 * back at open so a restart does not reopen the replay window.
 */
export class ReplayFilter {
  private readonly db: Level<Uint8Array, Uint8Array>
  private readonly epochsSeen = new Map<number, Set<string>>()
  private readonly flushIntervalMs: number
  private readonly maxPendingWrites: number
  private readonly maxTagsPerEpoch: number
  private pending: Uint8Array[] = []
  /** Serialises every LevelDB write; always resolves so one failure does not wedge it. */
  private tail: Promise<void> = Promise.resolve()
  private timer: ReturnType<typeof setTimeout> | undefined
  private lastWriteError: unknown
  private closed = false

  private constructor (db: Level<Uint8Array, Uint8Array>, init: ReplayFilterInit) {
    this.db = db
    this.flushIntervalMs = init.flushIntervalMs ?? DEFAULT_REPLAY_FLUSH_INTERVAL_MS
    this.maxPendingWrites = init.maxPendingWrites ?? DEFAULT_REPLAY_MAX_PENDING_WRITES
    this.maxTagsPerEpoch = init.maxTagsPerEpoch ?? DEFAULT_REPLAY_MAX_TAGS_PER_EPOCH
  }

  /** Open (or create) the filter at `init.path` and load every stored tag. */
  static async open (init: ReplayFilterInit): Promise<ReplayFilter> {
    const db = new Level<Uint8Array, Uint8Array>(init.path, { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    const filter = new ReplayFilter(db, init)
    for await (const key of db.keys()) {
      if (key.byteLength <= EPOCH_BYTES) continue
      const epoch = new DataView(key.buffer, key.byteOffset, EPOCH_BYTES).getUint32(0)
      filter.epochSet(epoch).add(tagString(key.subarray(EPOCH_BYTES)))
    }
    return filter
  }

  /**
   * Record `tag` under `epoch`, or throw ReplayError if it is already there. The
   * in-memory check is immediate; the tag is durable after the next flush.
   * @throws ReplayError, ReplayFilterFullError, ReplayFilterClosedError
   */
  checkAndInsert (epoch: number, tag: Uint8Array): void {
    this.checkOpen()
    checkEpoch(epoch)
    checkTag(tag)
    const set = this.epochSet(epoch)
    const member = tagString(tag)
    if (set.has(member)) {
      throw new ReplayError()
    }
    if (set.size >= this.maxTagsPerEpoch) {
      throw new ReplayFilterFullError()
    }
    set.add(member)
    this.pending.push(dbKey(epoch, tag))
    if (this.pending.length >= this.maxPendingWrites) {
      this.flushInBackground()
    } else if (this.timer == null) {
      this.timer = setTimeout(() => { this.flushInBackground() }, this.flushIntervalMs)
      this.timer.unref?.()
    }
  }

  /** Whether `tag` was seen under `epoch`. */
  has (epoch: number, tag: Uint8Array): boolean {
    return this.epochsSeen.get(epoch)?.has(tagString(tag)) ?? false
  }

  /** Number of tags held for `epoch`, or for all epochs. */
  size (epoch?: number): number {
    if (epoch != null) return this.epochsSeen.get(epoch)?.size ?? 0
    let total = 0
    for (const set of this.epochsSeen.values()) total += set.size
    return total
  }

  /** Tags accepted but not yet handed to LevelDB. */
  get pendingWrites (): number {
    return this.pending.length
  }

  /** The error of the last failed background write, if the data is still unwritten. */
  get writeError (): unknown {
    return this.lastWriteError
  }

  /** Epochs that currently hold tags. */
  epochs (): number[] {
    return [...this.epochsSeen.keys()].sort((a, b) => a - b)
  }

  /**
   * Write every queued tag in one batch. Concurrent callers share batches (group
   * commit). Rejects with ReplayFilterWriteError if the write fails; the tags stay
   * queued and the next flush retries them.
   */
  async flush (): Promise<void> {
    this.clearTimer()
    const run = this.tail.then(async () => { await this.writePending() })
    this.tail = run.catch(() => {})
    await run
  }

  /** Forget every tag of `epoch` (its onion key expired), in memory and on disk. */
  async dropEpoch (epoch: number): Promise<void> {
    this.checkOpen()
    checkEpoch(epoch)
    this.epochsSeen.delete(epoch)
    this.pending = this.pending.filter(key => new DataView(key.buffer).getUint32(0) !== epoch)
    const gte = epochPrefix(epoch)
    // Keys are `prefix || tag` with tag ≤ 64 bytes, so prefix || 0xff×65 bounds them all.
    const lt = new Uint8Array(EPOCH_BYTES + MAX_REPLAY_TAG_BYTES + 1).fill(0xff)
    lt.set(gte, 0)
    const run = this.tail.then(async () => { await this.db.clear({ gte, lt }) })
    this.tail = run.catch(() => {})
    await run
  }

  /** Flush, then close the database. Safe to call twice. */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.clearTimer()
    try {
      await this.flush()
    } finally {
      await this.db.close()
    }
  }

  private async writePending (): Promise<void> {
    if (this.pending.length === 0) return
    const batch = this.pending
    this.pending = []
    try {
      await this.db.batch(batch.map(key => ({ type: 'put' as const, key, value: EMPTY })))
      this.lastWriteError = undefined
    } catch (err) {
      this.pending = batch.concat(this.pending)
      this.lastWriteError = err
      throw new ReplayFilterWriteError(undefined, { cause: err })
    }
  }

  private flushInBackground (): void {
    // Failures are retried by the next flush and surface from flush()/close().
    this.flush().catch(() => {})
  }

  private clearTimer (): void {
    if (this.timer != null) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
  }

  private checkOpen (): void {
    if (this.closed) throw new ReplayFilterClosedError()
  }

  private epochSet (epoch: number): Set<string> {
    let set = this.epochsSeen.get(epoch)
    if (set == null) {
      set = new Set()
      this.epochsSeen.set(epoch, set)
    }
    return set
  }
}
