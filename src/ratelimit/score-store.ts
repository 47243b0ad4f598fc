import { Level } from 'level'
import { MAX_SCORE, MIN_SCORE } from './config.js'
import { InvalidRateLimitConfigError, ScoreStoreClosedError } from './errors.js'
import type { PeerScoreRecord, ReputationTracker } from './reputation.js'

/**
 * The part of an abstract-level database the store uses, with string keys and
 * values. A `Level<string, string>` and a sublevel made with
 * `db.sublevel<string, string>('reputation', { valueEncoding: 'utf8' })` both fit.
 */
export interface ScoreDb {
  readonly status: string
  open: () => Promise<void>
  close: () => Promise<void>
  batch: (operations: Array<{ type: 'put', key: string, value: string } | { type: 'del', key: string }>) => Promise<void>
  iterator: () => AsyncIterable<[string, string]>
}

export interface ScoreStoreInit {
  /** Directory of a LevelDB the store opens and owns (closed by `close()`). */
  location?: string
  /**
   * An open database or sublevel owned by the caller (not closed by `close()`).
   * It must hold only score records: anything else is counted as corrupt.
   */
  db?: ScoreDb
  /** Changes are written at most this long after they happen. @default 1000 */
  flushDelayMs?: number
  /** Flush at once when this many peers are waiting to be written. @default 1000 */
  maxPendingWrites?: number
}

export interface ScoreStoreStats {
  /** Records loaded into the tracker at open. */
  loaded: number
  /** Records skipped at open because they could not be parsed or were out of range. */
  corrupt: number
  /** Peers changed since the last successful flush. */
  pending: number
  /** Flushes (batches) written. */
  flushes: number
  /** Timer-driven flushes that failed; their peers stay pending and are retried. */
  failedFlushes: number
}

/** Scores change with every request; one second of group commit turns thousands of puts into one batch. */
export const DEFAULT_SCORE_FLUSH_DELAY_MS = 1000
export const DEFAULT_SCORE_MAX_PENDING_WRITES = 1000
/** Bumped when the record layout changes; older versions are skipped as corrupt. */
const RECORD_VERSION = 1

interface StoredRecord { v: number, s: number, u: number, b: number, l: number }

/**
 * Persists reputation scores and bans in LevelDB: loaded into a
 * ReputationTracker at open, then written back in debounced batches of the
 * peers that changed (evicted peers are deleted), and flushed on close.
 * Values are JSON; a record that fails to parse or validate is skipped and
 * counted, never fatal, so one bad write cannot keep a node from starting.
 */
export class ScoreStore {
  private readonly init: ScoreStoreInit
  private readonly flushDelayMs: number
  private readonly maxPendingWrites: number
  private db: ScoreDb | undefined
  private owned = false
  private tracker: ReputationTracker | undefined
  private readonly pending = new Set<string>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private flushChain: Promise<void> = Promise.resolve()
  private readonly counters = { loaded: 0, corrupt: 0, flushes: 0, failedFlushes: 0 }

  constructor (init: ScoreStoreInit) {
    if ((init.location === undefined) === (init.db === undefined)) {
      throw new InvalidRateLimitConfigError('location', init.location, 'give exactly one of location or db')
    }
    this.init = init
    this.flushDelayMs = init.flushDelayMs ?? DEFAULT_SCORE_FLUSH_DELAY_MS
    this.maxPendingWrites = init.maxPendingWrites ?? DEFAULT_SCORE_MAX_PENDING_WRITES
  }

  get isOpen (): boolean { return this.tracker !== undefined }

  stats (): ScoreStoreStats {
    return { ...this.counters, pending: this.pending.size }
  }

  /** Opens the database, loads every record into `tracker` and starts persisting its changes. */
  async open (tracker: ReputationTracker): Promise<ScoreStoreStats> {
    if (this.tracker !== undefined) return this.stats()
    if (this.init.db !== undefined) {
      this.db = this.init.db
    } else {
      this.db = new Level<string, string>(this.init.location as string, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
      this.owned = true
    }
    await this.db.open()
    // Listen before loading: peers evicted because the database holds more
    // than maxTrackedPeers must be deleted from it too.
    this.tracker = tracker
    tracker.setChangeListener(peer => { this.markPending(peer) })
    try {
      for await (const [peer, value] of this.db.iterator()) {
        const record = parseRecord(value)
        if (record === undefined || peer.length === 0) {
          this.counters.corrupt++
          continue
        }
        if (tracker.importRecord(peer, record)) this.counters.loaded++
      }
    } catch (err) {
      // An unreadable database (not a bad record) is the caller's decision:
      // leave nothing half attached.
      clearTimeout(this.timer)
      this.timer = undefined
      tracker.setChangeListener(undefined)
      this.tracker = undefined
      if (this.owned) await this.db.close()
      this.db = undefined
      this.owned = false
      throw err
    }
    return this.stats()
  }

  /** Writes every pending change in one batch. Concurrent calls are serialised. */
  async flush (): Promise<void> {
    if (this.tracker === undefined || this.db === undefined) throw new ScoreStoreClosedError()
    await this.enqueueWrite(this.tracker, this.db)
  }

  /** Stops listening, flushes, and closes the database if the store opened it. Safe to call twice. */
  async close (): Promise<void> {
    const tracker = this.tracker
    const db = this.db
    if (tracker === undefined || db === undefined) return
    clearTimeout(this.timer)
    this.timer = undefined
    tracker.setChangeListener(undefined)
    try {
      await this.enqueueWrite(tracker, db)
    } finally {
      this.tracker = undefined
      this.db = undefined
      if (this.owned) await db.close()
      this.owned = false
    }
  }

  private markPending (peer: string): void {
    this.pending.add(peer)
    if (this.pending.size >= this.maxPendingWrites) {
      clearTimeout(this.timer)
      this.timer = undefined
      this.flushInBackground()
    } else {
      this.timer ??= setTimeout(() => {
        this.timer = undefined
        this.flushInBackground()
      }, this.flushDelayMs).unref()
    }
  }

  private flushInBackground (): void {
    // Failures are counted and the peers stay pending for the next attempt;
    // close() surfaces a persistent failure to its caller.
    this.flush().catch(() => { this.counters.failedFlushes++ })
  }

  private async enqueueWrite (tracker: ReputationTracker, db: ScoreDb): Promise<void> {
    // The previous write's failure belongs to its own caller; this one still runs.
    const write = this.flushChain.catch(() => {}).then(async () => { await this.writePending(tracker, db) })
    this.flushChain = write
    await write
  }

  private async writePending (tracker: ReputationTracker, db: ScoreDb): Promise<void> {
    if (this.pending.size === 0) return
    const peers = [...this.pending]
    this.pending.clear()
    const operations = peers.map(peer => {
      const record = tracker.exportRecord(peer)
      return record === undefined
        ? { type: 'del' as const, key: peer }
        : { type: 'put' as const, key: peer, value: serialiseRecord(record) }
    })
    try {
      await db.batch(operations)
      this.counters.flushes++
    } catch (err) {
      for (const peer of peers) this.pending.add(peer)
      throw err
    }
  }
}

function serialiseRecord (record: PeerScoreRecord): string {
  const stored: StoredRecord = { v: RECORD_VERSION, s: record.score, u: record.updatedAt, b: record.bannedUntil, l: record.lastSeen }
  return JSON.stringify(stored)
}

function parseRecord (value: string): PeerScoreRecord | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(value)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const { v, s, u, b, l } = parsed as Partial<StoredRecord>
  if (v !== RECORD_VERSION) return undefined
  if (!isFiniteNumber(s) || s < MIN_SCORE || s > MAX_SCORE) return undefined
  if (!isTimestamp(u) || !isTimestamp(b) || !isTimestamp(l)) return undefined
  return { score: s, updatedAt: u, bannedUntil: b, lastSeen: l }
}

function isFiniteNumber (value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value)
}

function isTimestamp (value: unknown): value is number {
  return isFiniteNumber(value) && value >= 0
}
