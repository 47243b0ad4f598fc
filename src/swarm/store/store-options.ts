import type { Registry } from 'prom-client'
import {
  DEFAULT_CLOCK_SKEW_MS, DEFAULT_EXPIRY_BUCKET_MS, DEFAULT_MAILBOX_QUOTA_BYTES, DEFAULT_MAILBOX_QUOTA_RECORDS, DEFAULT_MAX_SWARM_MESSAGE_BYTES,
  DEFAULT_MAX_TTL_MS, DEFAULT_MIN_TTL_MS, DEFAULT_NODE_QUOTA_BYTES, DEFAULT_SWEEP_BATCH_RECORDS
} from '../constants.js'
import {
  InvalidRequestError, StoredMessageTooLargeError, StoredRecordExpiredError, TtlOutOfBoundsError
} from './errors.js'
import { HASH_BYTES, MAILBOX_BYTES, NAMESPACE_MAX, NAMESPACE_MIN } from '../sizes.js'
import { checkRecordHash, checkRecordShape, type SwarmRecord } from '../record-codec.js'
import type { SweeperTimers } from './sweeper.js'

export interface MessageStoreInit {
  /** Directory of the LevelDB database; created when missing. */
  path: string
  /** Clock for TTL checks, expiry filtering and the sweeper. @default Date.now */
  now?: () => number
  /** The node's registry, for the store's metrics. */
  registry: Registry
  /** Shortest declared TTL (expiry - timestamp). @default 10_000 (10 s) */
  minTtlMs?: number
  /** Longest declared TTL. @default 1_209_600_000 (14 days) */
  maxTtlMs?: number
  /** Slack for senders' clocks when bounding how far ahead an expiry may lie. @default 60_000 */
  clockSkewMs?: number
  /** Largest record `data`. @default 65_536 (64 KiB) */
  maxMessageBytes?: number
  /** Per-mailbox quota in encoded record bytes (data + 87-byte header). @default 10_485_760 (10 MiB) */
  mailboxQuotaBytes?: number
  /** Per-mailbox quota in records. @default 10_000 */
  mailboxQuotaRecords?: number
  /** Whole-store quota in encoded record bytes. @default 1_073_741_824 (1 GiB) */
  nodeQuotaBytes?: number
  /** Most puts coalesced into one LevelDB batch. @default 1000 */
  maxBatchPuts?: number
  /** Records deleted per batch by the sweeper and deleteAll. @default 1000 */
  sweepBatchRecords?: number
  /** Width of the expiry index buckets. @default 60_000 */
  expiryBucketMs?: number
  /**
   * fsync each batch before acknowledging it. Without it an acknowledged put
   * is in LevelDB's write-ahead log in the OS page cache: it survives the
   * process being killed (SIGKILL, crash) but not a power loss or kernel
   * crash. With it, it survives those too, at the cost of one fsync per batch
   * (group commit amortises it across the batch). @default false
   */
  sync?: boolean
  /** Called after each put batch is written; lets tests and benches observe group commit. */
  onBatch?: (info: BatchInfo) => void
  /** Timer functions for the periodic sweeper. @default global setTimeout/clearTimeout */
  sweeperTimers?: SweeperTimers
}

export interface BatchInfo {
  /** Puts decided in this batch (stored, duplicate or refused). */
  puts: number
  /** LevelDB operations written. */
  operations: number
}

export interface RetrieveOptions {
  /** `nextCursor` of the previous page; omit for the first page. */
  cursor?: Uint8Array
  /**
   * Budget of encoded record bytes for this page. The first record is always
   * returned even when larger, so paging cannot stall.
   */
  maxBytes: number
  /** Most records in this page. @default unlimited */
  limit?: number
}

export interface RetrieveResult {
  records: SwarmRecord[]
  /** Present when more records follow; pass it back to get the next page. */
  nextCursor?: Uint8Array
}

export interface HashListing {
  hash: Uint8Array
  namespace: number
  expiry: number
  /** When the record was stored (local listings only; not exchanged on the wire). */
  timestamp?: number
}

export interface StoreLimits {
  minTtlMs: number
  maxTtlMs: number
  clockSkewMs: number
  maxMessageBytes: number
  mailboxQuotaBytes: number
  mailboxQuotaRecords: number
  nodeQuotaBytes: number
  sweepBatchRecords: number
  expiryBucketMs: number
  sync: boolean
}

export function resolveLimits (init: Omit<MessageStoreInit, 'registry'>): StoreLimits {
  return {
    minTtlMs: init.minTtlMs ?? DEFAULT_MIN_TTL_MS,
    maxTtlMs: init.maxTtlMs ?? DEFAULT_MAX_TTL_MS,
    clockSkewMs: init.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS,
    maxMessageBytes: init.maxMessageBytes ?? DEFAULT_MAX_SWARM_MESSAGE_BYTES,
    mailboxQuotaBytes: init.mailboxQuotaBytes ?? DEFAULT_MAILBOX_QUOTA_BYTES,
    mailboxQuotaRecords: init.mailboxQuotaRecords ?? DEFAULT_MAILBOX_QUOTA_RECORDS,
    nodeQuotaBytes: init.nodeQuotaBytes ?? DEFAULT_NODE_QUOTA_BYTES,
    sweepBatchRecords: init.sweepBatchRecords ?? DEFAULT_SWEEP_BATCH_RECORDS,
    expiryBucketMs: init.expiryBucketMs ?? DEFAULT_EXPIRY_BUCKET_MS,
    sync: init.sync ?? false
  }
}

/**
 * Checks that need no database: shape, size, TTL, hash. Run before a put is
 * queued so a bad record never occupies a batch slot.
 */
export function checkPut (record: SwarmRecord, limits: StoreLimits, now: number): void {
  checkRecordShape(record)
  const { minTtlMs, maxTtlMs, clockSkewMs, maxMessageBytes } = limits
  if (record.data.byteLength > maxMessageBytes) throw new StoredMessageTooLargeError(record.data.byteLength, maxMessageBytes)
  const ttl = record.expiry - record.timestamp
  if (ttl < minTtlMs || ttl > maxTtlMs) throw new TtlOutOfBoundsError(ttl, minTtlMs, maxTtlMs)
  if (record.expiry <= now) throw new StoredRecordExpiredError(record.expiry, now)
  // A future-dated timestamp must not buy a lifetime beyond the maximum TTL.
  if (record.expiry - now > maxTtlMs + clockSkewMs) throw new TtlOutOfBoundsError(record.expiry - now, minTtlMs, maxTtlMs)
  checkRecordHash(record)
}

export function checkRetrieveOptions (options: RetrieveOptions): void {
  if (!Number.isInteger(options.maxBytes) || options.maxBytes < 1) {
    throw new InvalidRequestError(`maxBytes must be a positive integer, got ${options.maxBytes}`)
  }
  const limit = options.limit
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new InvalidRequestError(`limit must be a positive integer, got ${limit}`)
  }
}

export function checkMailbox (mailbox: Uint8Array): void {
  if (!(mailbox instanceof Uint8Array) || mailbox.byteLength !== MAILBOX_BYTES) {
    throw new InvalidRequestError(`mailbox must be ${MAILBOX_BYTES} bytes`)
  }
}

export function checkNamespace (namespace: number): void {
  if (!Number.isInteger(namespace) || namespace < NAMESPACE_MIN || namespace > NAMESPACE_MAX) {
    throw new InvalidRequestError(`namespace must be an int16, got ${namespace}`)
  }
}

export function checkHash (hash: Uint8Array): void {
  if (!(hash instanceof Uint8Array) || hash.byteLength !== HASH_BYTES) {
    throw new InvalidRequestError(`hash must be ${HASH_BYTES} bytes`)
  }
}
