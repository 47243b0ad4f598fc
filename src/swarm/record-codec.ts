import { hash } from 'node:crypto'
import { HASH_BYTES, MAILBOX_BYTES, NAMESPACE_MAX, NAMESPACE_MIN } from './sizes.js'
import {
  InvalidRecordError,
  MalformedStoredRecordError,
  RecordHashMismatchError,
  UnsupportedRecordVersionError
} from './store/errors.js'

/**
 * A swarm message as stored and as handed between swarm members.
 *
 * `hash` = SHA-256(mailbox (32 bytes) || namespace (int16, big-endian two's
 * complement, 2 bytes) || data). Timestamp and expiry are deliberately not
 * covered: the same message deposited twice is the same record, and the
 * second deposit only extends its expiry.
 */
export interface SwarmRecord {
  /** Recipient's Ed25519 public key, 32 bytes. */
  mailbox: Uint8Array
  /** Application namespace, int16. */
  namespace: number
  /** Sender's creation time, ms since the Unix epoch. */
  timestamp: number
  /** Time the record may be deleted, ms since the Unix epoch. */
  expiry: number
  /** SHA-256 over mailbox || namespace || data, 32 bytes. */
  hash: Uint8Array
  data: Uint8Array
}

export const RECORD_ENCODING_VERSION = 1

/**
 * Encoding v1, all integers big-endian:
 *
 *   offset  size  field
 *   0       1     version (1)
 *   1       32    mailbox
 *   33      2     namespace (int16)
 *   35      8     timestamp (u64 ms, < 2^53)
 *   43      8     expiry (u64 ms, < 2^53)
 *   51      32    hash
 *   83      4     data length n (u32)
 *   87      n     data
 */
export const RECORD_HEADER_BYTES = 87

const TWO_POW_32 = 2 ** 32
/** Largest high word of a u64 that still fits a safe integer (2^53 - 1). */
const MAX_SAFE_HIGH_WORD = 0x1fffff

/** Reused input buffer for {@link recordHash}: saves an allocation per put on the ingest path. */
let scratch = Buffer.allocUnsafe(4096)

/** SHA-256(mailbox || int16be(namespace) || data): the record's identity. */
export function recordHash (mailbox: Uint8Array, namespace: number, data: Uint8Array): Uint8Array {
  const length = mailbox.byteLength + 2 + data.byteLength
  if (scratch.length < length) scratch = Buffer.allocUnsafe(Math.max(length, scratch.length * 2))
  scratch.set(mailbox, 0)
  scratch.writeInt16BE(namespace, mailbox.byteLength)
  scratch.set(data, mailbox.byteLength + 2)
  return hash('sha256', scratch.subarray(0, length), 'buffer')
}

export interface CreateRecordInit {
  mailbox: Uint8Array
  namespace: number
  timestamp: number
  ttlMs: number
  data: Uint8Array
}

/** Builds a record with its hash and `expiry = timestamp + ttlMs`. */
export function createRecord (init: CreateRecordInit): SwarmRecord {
  const record: SwarmRecord = {
    mailbox: init.mailbox,
    namespace: init.namespace,
    timestamp: init.timestamp,
    expiry: init.timestamp + init.ttlMs,
    hash: new Uint8Array(HASH_BYTES),
    data: init.data
  }
  checkRecordShape(record)
  record.hash = recordHash(init.mailbox, init.namespace, init.data)
  return record
}

/** Size of the encoded record; the unit of the store's byte budgets and quotas. */
export function encodedRecordSize (record: Pick<SwarmRecord, 'data'>): number {
  return RECORD_HEADER_BYTES + record.data.byteLength
}

/** Throws {@link InvalidRecordError} when a field has the wrong length or range. */
export function checkRecordShape (record: SwarmRecord): void {
  if (!(record.mailbox instanceof Uint8Array) || record.mailbox.byteLength !== MAILBOX_BYTES) {
    throw new InvalidRecordError(`mailbox must be ${MAILBOX_BYTES} bytes`)
  }
  if (!(record.hash instanceof Uint8Array) || record.hash.byteLength !== HASH_BYTES) {
    throw new InvalidRecordError(`hash must be ${HASH_BYTES} bytes`)
  }
  if (!(record.data instanceof Uint8Array)) {
    throw new InvalidRecordError('data must be a Uint8Array')
  }
  if (!Number.isInteger(record.namespace) || record.namespace < NAMESPACE_MIN || record.namespace > NAMESPACE_MAX) {
    throw new InvalidRecordError(`namespace must be an int16, got ${record.namespace}`)
  }
  for (const field of ['timestamp', 'expiry'] as const) {
    const v = record[field]
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new InvalidRecordError(`${field} must be a non-negative safe integer, got ${v}`)
    }
  }
}

/** Throws {@link RecordHashMismatchError} unless `record.hash` matches its content. */
export function checkRecordHash (record: SwarmRecord): void {
  const expected = recordHash(record.mailbox, record.namespace, record.data) as Buffer
  if (!expected.equals(record.hash)) throw new RecordHashMismatchError()
}

export function encodeRecord (record: SwarmRecord): Uint8Array {
  checkRecordShape(record)
  const out = Buffer.allocUnsafe(encodedRecordSize(record))
  out[0] = RECORD_ENCODING_VERSION
  out.set(record.mailbox, 1)
  out.writeInt16BE(record.namespace, 33)
  writeU64(out, 35, record.timestamp)
  writeU64(out, 43, record.expiry)
  out.set(record.hash, 51)
  out.writeUInt32BE(record.data.byteLength, 83)
  out.set(record.data, RECORD_HEADER_BYTES)
  return out
}

/**
 * Parses an encoded record. The returned byte fields are views into `bytes`
 * (no copies), so callers that keep them must not reuse the buffer.
 * Does not verify the hash: use {@link checkRecordHash} on untrusted input.
 */
export function decodeRecord (bytes: Uint8Array): SwarmRecord {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength < 1) {
    throw new MalformedStoredRecordError('empty record')
  }
  if (bytes[0] !== RECORD_ENCODING_VERSION) throw new UnsupportedRecordVersionError(bytes[0])
  if (bytes.byteLength < RECORD_HEADER_BYTES) {
    throw new MalformedStoredRecordError(`record of ${bytes.byteLength} bytes is shorter than its ${RECORD_HEADER_BYTES}-byte header`)
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const dataLength = view.readUInt32BE(83)
  if (dataLength !== bytes.byteLength - RECORD_HEADER_BYTES) {
    throw new MalformedStoredRecordError(`data length field ${dataLength} does not match the ${bytes.byteLength - RECORD_HEADER_BYTES} bytes present`)
  }
  return {
    mailbox: bytes.subarray(1, 33),
    namespace: view.readInt16BE(33),
    timestamp: readU64(view, 35, 'timestamp'),
    expiry: readU64(view, 43, 'expiry'),
    hash: bytes.subarray(51, 83),
    data: bytes.subarray(RECORD_HEADER_BYTES)
  }
}

export function writeU64 (out: Buffer, offset: number, value: number): void {
  out.writeUInt32BE(Math.floor(value / TWO_POW_32), offset)
  out.writeUInt32BE(value >>> 0, offset + 4)
}

function readU64 (view: Buffer, offset: number, field: string): number {
  const high = view.readUInt32BE(offset)
  if (high > MAX_SAFE_HIGH_WORD) throw new MalformedStoredRecordError(`${field} exceeds 2^53 - 1`)
  return high * TWO_POW_32 + view.readUInt32BE(offset + 4)
}
