import type { Level } from 'level'
import { InvalidCursorError } from './errors.js'
import { MAILBOX_BYTES } from '../sizes.js'
import { decodeRecord, type SwarmRecord } from '../record-codec.js'
import {
  decodeCursor, encodeCursor, hashKey, hashRange, allHashesRange, parseHashValue, prefixEnd, recordKey, recordRange,
  type Usage
} from './store-keys.js'
import type { HashListing, RetrieveOptions, RetrieveResult } from './store-options.js'

type Db = Level<Uint8Array, Uint8Array>

/** Records read from the database per iterator round trip. */
const READ_CHUNK = 64

/** Iterator bounds for a page; throws {@link InvalidCursorError} on a foreign cursor. */
export function pageRange (mailbox: Uint8Array, namespace: number, cursor?: Uint8Array): { gt?: Uint8Array, gte?: Uint8Array, lt: Uint8Array } {
  const range = recordRange(mailbox, namespace)
  if (cursor === undefined) return range
  const c = decodeCursor(cursor)
  if (c === undefined) throw new InvalidCursorError('cursor is not one this store issued')
  return { gt: recordKey({ mailbox, namespace, timestamp: c.timestamp }, c.hash), lt: range.lt }
}

/**
 * One page of live records in key order, within the byte budget and limit.
 * Expired records not yet swept are skipped, never returned.
 */
export async function readPage (db: Db, range: { gt?: Uint8Array, gte?: Uint8Array, lt: Uint8Array }, options: RetrieveOptions, now: number): Promise<RetrieveResult> {
  const limit = options.limit ?? Infinity
  const records: SwarmRecord[] = []
  let bytes = 0
  let more = false
  const it = db.iterator(range)
  try {
    scan: for (let chunk = await it.nextv(READ_CHUNK); chunk.length > 0; chunk = await it.nextv(READ_CHUNK)) {
      for (const [, value] of chunk) {
        const record = decodeRecord(value)
        if (record.expiry <= now) continue
        if (records.length > 0 && (records.length >= limit || bytes + value.byteLength > options.maxBytes)) {
          more = true
          break scan
        }
        records.push(record)
        bytes += value.byteLength
      }
    }
  } finally {
    await it.close()
  }
  const last = records[records.length - 1]
  return more ? { records, nextCursor: encodeCursor(last.timestamp, last.hash) } : { records }
}

/** Live records' hashes of a mailbox in hash order, from the hash index alone. */
export async function readHashes (db: Db, mailbox: Uint8Array, now: number): Promise<HashListing[]> {
  const out: HashListing[] = []
  for await (const [key, value] of db.iterator(hashRange(mailbox))) {
    const e = parseHashValue(value)
    if (e.expiry > now) out.push({ hash: key.subarray(1 + MAILBOX_BYTES), namespace: e.namespace, expiry: e.expiry, timestamp: e.timestamp })
  }
  return out
}

/**
 * Every mailbox (after `after`, in byte order) with its live hash listing, in
 * one pass over the hash index: what anti-entropy needs of every mailbox,
 * without an iterator per mailbox. Mailboxes with nothing live are skipped.
 */
export async function * scanListings (db: Db, now: number, after?: Uint8Array): AsyncGenerator<{ mailbox: Uint8Array, listing: HashListing[] }> {
  const all = allHashesRange()
  let current: Uint8Array | undefined
  let listing: HashListing[] = []
  for await (const [key, value] of db.iterator(after === undefined ? all : { gte: hashRange(after).lt, lt: all.lt })) {
    const mailbox = key.subarray(1, 1 + MAILBOX_BYTES)
    if (current === undefined || Buffer.compare(viewOf(mailbox), viewOf(current)) !== 0) {
      if (current !== undefined && listing.length > 0) yield { mailbox: current, listing }
      current = Uint8Array.from(mailbox)
      listing = []
    }
    const e = parseHashValue(value)
    if (e.expiry > now) listing.push({ hash: key.slice(1 + MAILBOX_BYTES), namespace: e.namespace, expiry: e.expiry, timestamp: e.timestamp })
  }
  if (current !== undefined && listing.length > 0) yield { mailbox: current, listing }
}

/** The live record with this hash, via the hash index. */
export async function readRecord (db: Db, mailbox: Uint8Array, hash: Uint8Array, now: number): Promise<SwarmRecord | undefined> {
  const v = await db.get(hashKey(mailbox, hash))
  if (v === undefined) return undefined
  const entry = parseHashValue(v)
  if (entry.expiry <= now) return undefined
  const value = await db.get(recordKey({ mailbox, namespace: entry.namespace, timestamp: entry.timestamp }, hash))
  return value === undefined ? undefined : decodeRecord(value)
}

/** A mailbox's usage: the sum over its hash-index entries (small values, no payloads). */
export async function scanUsage (db: Db, mailbox: Uint8Array): Promise<Usage> {
  const u: Usage = { records: 0, bytes: 0 }
  for await (const value of db.values(hashRange(mailbox))) {
    u.records++
    u.bytes += parseHashValue(value).size
  }
  return u
}

/** Each mailbox with at least one record, jumping over its entries with seek. */
export async function * scanMailboxes (db: Db, after?: Uint8Array): AsyncGenerator<Uint8Array> {
  const all = allHashesRange()
  const it = db.keys(after === undefined ? all : { gte: hashRange(after).lt, lt: all.lt })
  try {
    for (let key = await it.next(); key !== undefined; key = await it.next()) {
      const mailbox = Uint8Array.from(key.subarray(1, 1 + MAILBOX_BYTES))
      yield mailbox
      it.seek(prefixEnd(key.subarray(0, 1 + MAILBOX_BYTES)))
    }
  } finally {
    await it.close()
  }
}

function viewOf (b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength)
}
