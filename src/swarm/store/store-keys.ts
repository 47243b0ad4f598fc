import { HASH_BYTES, MAILBOX_BYTES } from '../sizes.js'
import { writeU64 } from '../record-codec.js'

/**
 * LevelDB key layout of the message store (layout version 1). One keyspace,
 * split by a leading tag byte; integers big-endian so byte order is numeric
 * order. The namespace is stored biased (ns + 0x8000 as u16) so negative
 * namespaces sort before positive ones.
 *
 *   tag   key                                      value
 *   00 01 layout                                   u8 layout version
 *   00 02 node meta                                u64 records | u64 bytes | u64 next expiry-entry seq
 *   01    mailbox | ns | timestamp | hash   (75 B) encoded record (record-codec v1)
 *   02    bucket start | seq                (17 B) n x (mailbox | hash | u64 expiry), 72 B each
 *   03    mailbox | hash                    (65 B) ns | timestamp | expiry | u32 size
 *
 * 01 serves ordered per-mailbox reads with a cursor. 03 is the dedup lookup
 * and, sorted by hash within a mailbox, yields the anti-entropy digest and the
 * mailbox's usage without reading payloads; it is per mailbox rather than
 * global because a record's hash already covers its mailbox and every caller
 * knows the mailbox.
 *
 * 02 is the expiry index, bucketed: each put batch writes one entry per
 * expiry bucket it touches, listing pointers to its records, instead of one
 * key per record (an extra key per record measured ~2.5 µs of CPU per put).
 * A pointer is current while the hash index holds the same expiry for it; one
 * left behind by a delete or an expiry extension is dropped when its bucket
 * is swept. The bucket width only groups pointers and can change freely.
 *
 * Per-mailbox usage is not stored: it is the sum over the mailbox's 03
 * entries, computed on first use and then kept in memory by the single writer.
 * Node totals are stored (00 02) in every batch that changes them.
 */

export const LAYOUT_VERSION = 1

export const KEY_LAYOUT = Uint8Array.of(0x00, 0x01)
export const KEY_NODE_META = Uint8Array.of(0x00, 0x02)
const TAG_RECORD = 0x01
const TAG_EXPIRY = 0x02
const TAG_HASH = 0x03

const NS_BIAS = 0x8000
const LOCATOR_BYTES = MAILBOX_BYTES + 2 + 8
export const POINTER_BYTES = MAILBOX_BYTES + HASH_BYTES + 8
const CURSOR_VERSION = 1
export const CURSOR_BYTES = 1 + 8 + HASH_BYTES
const TWO_POW_32 = 2 ** 32

/** Where a record lives in the 01 keyspace, minus its hash. */
export interface Locator {
  mailbox: Uint8Array
  namespace: number
  timestamp: number
}

export interface Usage {
  records: number
  bytes: number
}

export interface NodeMeta extends Usage {
  /** Sequence number of the next expiry entry; keeps entry keys unique. */
  seq: number
}

export function recordKey (loc: Locator, hash: Uint8Array): Uint8Array {
  const k = Buffer.allocUnsafe(1 + LOCATOR_BYTES + HASH_BYTES)
  k[0] = TAG_RECORD
  writeLocator(k, 1, loc)
  k.set(hash, 1 + LOCATOR_BYTES)
  return k
}

/** Bounds of one mailbox's records, or of one namespace in it. */
export function recordRange (mailbox: Uint8Array, namespace?: number): { gte: Uint8Array, lt: Uint8Array } {
  const prefix = Buffer.allocUnsafe(namespace === undefined ? 33 : 35)
  prefix[0] = TAG_RECORD
  prefix.set(mailbox, 1)
  if (namespace !== undefined) prefix.writeUInt16BE(namespace + NS_BIAS, 33)
  return { gte: prefix, lt: prefixEnd(prefix) }
}

export function expiryEntryKey (bucketStart: number, seq: number): Uint8Array {
  const k = Buffer.allocUnsafe(17)
  k[0] = TAG_EXPIRY
  writeU64(k, 1, bucketStart)
  writeU64(k, 9, seq)
  return k
}

/** Expiry entries of buckets starting at or before `now`. */
export function dueExpiryRange (now: number): { gte: Uint8Array, lt: Uint8Array } {
  return { gte: Uint8Array.of(TAG_EXPIRY), lt: expiryEntryKey(now + 1, 0) }
}

/** A record an expiry entry points at, with the expiry it had when written. */
export interface ExpiryPointer {
  mailbox: Uint8Array
  hash: Uint8Array
  expiry: number
}

export function encodePointers (pointers: ExpiryPointer[]): Uint8Array {
  const v = Buffer.allocUnsafe(pointers.length * POINTER_BYTES)
  pointers.forEach((p, i) => {
    const o = i * POINTER_BYTES
    v.set(p.mailbox, o)
    v.set(p.hash, o + MAILBOX_BYTES)
    writeU64(v, o + MAILBOX_BYTES + HASH_BYTES, p.expiry)
  })
  return v
}

export function decodePointers (value: Uint8Array): ExpiryPointer[] {
  const out: ExpiryPointer[] = []
  for (let o = 0; o + POINTER_BYTES <= value.byteLength; o += POINTER_BYTES) {
    out.push({
      mailbox: value.subarray(o, o + MAILBOX_BYTES),
      hash: value.subarray(o + MAILBOX_BYTES, o + MAILBOX_BYTES + HASH_BYTES),
      expiry: readU64(value, o + MAILBOX_BYTES + HASH_BYTES)
    })
  }
  return out
}

export function hashKey (mailbox: Uint8Array, hash: Uint8Array): Uint8Array {
  const k = Buffer.allocUnsafe(1 + MAILBOX_BYTES + HASH_BYTES)
  k[0] = TAG_HASH
  k.set(mailbox, 1)
  k.set(hash, 1 + MAILBOX_BYTES)
  return k
}

export function hashRange (mailbox: Uint8Array): { gte: Uint8Array, lt: Uint8Array } {
  const prefix = Buffer.allocUnsafe(1 + MAILBOX_BYTES)
  prefix[0] = TAG_HASH
  prefix.set(mailbox, 1)
  return { gte: prefix, lt: prefixEnd(prefix) }
}

/** The whole hash index, every mailbox. */
export function allHashesRange (): { gte: Uint8Array, lt: Uint8Array } {
  return { gte: Uint8Array.of(TAG_HASH), lt: Uint8Array.of(TAG_HASH + 1) }
}

/** The mailbox and record hash inside a hash-index key. */
export function parseHashKey (key: Uint8Array): { mailbox: Uint8Array, hash: Uint8Array } {
  return { mailbox: key.subarray(1, 1 + MAILBOX_BYTES), hash: key.subarray(1 + MAILBOX_BYTES) }
}

/** What the hash index knows about a stored record. */
export interface HashEntry {
  namespace: number
  timestamp: number
  expiry: number
  size: number
}

export function hashValue (e: HashEntry): Uint8Array {
  const v = Buffer.allocUnsafe(2 + 8 + 8 + 4)
  v.writeUInt16BE(e.namespace + NS_BIAS, 0)
  writeU64(v, 2, e.timestamp)
  writeU64(v, 10, e.expiry)
  v.writeUInt32BE(e.size, 18)
  return v
}

export function parseHashValue (value: Uint8Array): HashEntry {
  const b = view(value)
  return { namespace: b.readUInt16BE(0) - NS_BIAS, timestamp: readU64(b, 2), expiry: readU64(b, 10), size: b.readUInt32BE(18) }
}

export function encodeNodeMeta (m: NodeMeta): Uint8Array {
  const v = Buffer.allocUnsafe(24)
  writeU64(v, 0, m.records)
  writeU64(v, 8, m.bytes)
  writeU64(v, 16, m.seq)
  return v
}

export function decodeNodeMeta (value: Uint8Array | undefined): NodeMeta {
  if (value === undefined) return { records: 0, bytes: 0, seq: 0 }
  return { records: readU64(value, 0), bytes: readU64(value, 8), seq: readU64(value, 16) }
}

/**
 * Opaque retrieve cursor: version | timestamp | hash of the last record
 * returned. The mailbox and namespace come from the request it is used with.
 */
export function encodeCursor (timestamp: number, hash: Uint8Array): Uint8Array {
  const c = Buffer.allocUnsafe(CURSOR_BYTES)
  c[0] = CURSOR_VERSION
  writeU64(c, 1, timestamp)
  c.set(hash, 9)
  return new Uint8Array(c.buffer, c.byteOffset, c.byteLength)
}

/** Undefined when the bytes are not a cursor this layout issued. */
export function decodeCursor (cursor: Uint8Array): { timestamp: number, hash: Uint8Array } | undefined {
  if (cursor.byteLength !== CURSOR_BYTES || cursor[0] !== CURSOR_VERSION) return undefined
  // no stored record has a timestamp past 2^53 - 1: such a cursor was not issued here
  if (view(cursor).readUInt32BE(1) > MAX_SAFE_HIGH_WORD) return undefined
  return { timestamp: readU64(cursor, 1), hash: cursor.subarray(9) }
}

/** Largest high word of a u64 that still fits a safe integer (2^53 - 1). */
const MAX_SAFE_HIGH_WORD = 0x1fffff

/** Smallest key greater than every key starting with `prefix`. */
export function prefixEnd (prefix: Uint8Array): Uint8Array {
  const end = Uint8Array.from(prefix)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i]++
      return end.subarray(0, i + 1)
    }
  }
  // Unreachable for this layout: every prefix starts with a tag byte below 0xff.
  return Uint8Array.of(0xff, 0xff, 0xff, 0xff)
}

function writeLocator (out: Buffer, offset: number, loc: Locator): void {
  out.set(loc.mailbox, offset)
  out.writeUInt16BE(loc.namespace + NS_BIAS, offset + MAILBOX_BYTES)
  writeU64(out, offset + MAILBOX_BYTES + 2, loc.timestamp)
}

export function readU64 (bytes: Uint8Array, offset: number): number {
  const b = view(bytes)
  return b.readUInt32BE(offset) * TWO_POW_32 + b.readUInt32BE(offset + 4)
}

function view (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
