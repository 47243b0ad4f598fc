import { HASH_BYTES, MAILBOX_BYTES, MAX_KNOWN_HASHES } from '../sizes.js'
import { decodeRecord, encodeRecord, type SwarmRecord } from '../record-codec.js'
import { SwarmProtocolError, UnsupportedSwarmVersionError } from '../service-errors.js'
import { Reader, Writer } from '../wire.js'
import { ED25519_SIGNATURE_BYTES as SIGNATURE_BYTES } from '../../crypto/sizes.js'
import type { RingRange } from '../ring.js'
import type { HashListing } from '../store/store-options.js'

/**
 * `/ghostnode/swarm/2.0.0`: the node-to-node protocol of swarm members
 * (docs/protocol.md §10.5). Frames are `length u32 | message`; a message is
 *
 *   version u8 (1) | type u8 (1 request, 2 response) | id u32 | code u8 | body
 *
 * where `code` is the op of a request and the status of a response. The side
 * that opened a stream sends requests on it, the other side answers them, in
 * any order, matched by id. Every body has exactly one encoding (decoders
 * refuse trailing bytes).
 */

export const SWARM_PROTOCOL = '/ghostnode/swarm/2.0.0'
/** 2: reads and deletes carry the mailbox owner's signature (§10.5). */
export const SWARM_WIRE_VERSION = 2
/** Largest frame either side sends or accepts. */
export const MAX_SWARM_FRAME_BYTES = 4 * 1024 * 1024
/** Largest byte budget of one GET page or FETCH answer between members. */
export const MAX_PEER_PAGE_BYTES = 1024 * 1024
/** Most ranges in one RANGE request, mailboxes in one RANGE answer, entries in one DIGEST. */
export const MAX_LIST_ENTRIES = 0xffff
/**
 * Per-request caps of the node-to-node protocol: each bounds the work one
 * request can cause (a DIGEST of 65,535 entries once cost 4.6 s of CPU; one
 * entry is a LevelDB scan of a mailbox's hash index, ~50-90 µs here). The
 * requesting side batches at these sizes.
 */
export const MAX_DIGEST_ENTRIES = 128
export const MAX_REQUEST_HASHES = 1024
export const MAX_RANGE_LIMIT = 512
/** Non-empty buckets one BUCKETS answer may list (a requester picks its bits to stay under). */
export const MAX_BUCKETS = 4096
/** Finest BUCKETS split: the top 32 bits of a ring position. */
export const MAX_BUCKET_BITS = 32
/** Bytes of a bucket digest (a truncated SHA-256). */
export const BUCKET_DIGEST_BYTES = 16
/** Longest UTF-8 reason in an error response. */
export const MAX_REASON_BYTES = 200
export const MESSAGE_HEADER_BYTES = 7
export const DIGEST_BYTES = 32

export const SwarmOp = {
  PUT: 1,
  GET: 2,
  DELETE: 3,
  DELETE_ALL: 4,
  DIGEST: 5,
  FETCH: 6,
  RANGE: 7,
  HANDOFF: 8,
  WATCH: 9,
  PUSH: 10,
  BUCKETS: 11
} as const
export type SwarmOp = typeof SwarmOp[keyof typeof SwarmOp]

/** Metric label of each op (a fixed set). */
export const SWARM_OP_NAMES: Record<SwarmOp, string> = {
  1: 'put', 2: 'get', 3: 'delete', 4: 'delete_all', 5: 'digest', 6: 'fetch', 7: 'range', 8: 'handoff', 9: 'watch', 10: 'push', 11: 'buckets'
}

const MessageType = { REQUEST: 1, RESPONSE: 2 } as const

/**
 * The mailbox owner's signature over a read or delete (docs/protocol.md
 * §10.4), exactly as the client sent it to the exit: every member verifies it
 * itself, so no member can read or delete a mailbox its owner did not ask for.
 */
export interface OwnerAuth { timestamp: number, signature: Uint8Array }

export type GetRequest = { op: typeof SwarmOp.GET, mailbox: Uint8Array, namespace: number, maxBytes: number, cursor?: Uint8Array, auth: OwnerAuth }
/** Deletes the listed records stored at or before `auth.timestamp`. */
export type DeleteRequest = { op: typeof SwarmOp.DELETE, mailbox: Uint8Array, namespace: number, hashes: Uint8Array[], auth: OwnerAuth }
/** Deletes the records of the mailbox (or one namespace) stored at or before `auth.timestamp`. */
export type DeleteAllRequest = { op: typeof SwarmOp.DELETE_ALL, mailbox: Uint8Array, namespace?: number, auth: OwnerAuth }
/**
 * An exit asks a member, for its subscribed client, for the records at or after
 * `since` it does not `know`; with none, the member registers the asker as a
 * watcher of the mailbox until `timestamp + waitMs` and PUSHes it the next new
 * record stored (docs/protocol.md §10.8). Signed by the owner (op "subscribe").
 */
export type WatchRequest = { op: typeof SwarmOp.WATCH, mailbox: Uint8Array, namespace: number, since: number, waitMs: number, maxBytes: number, known: Uint8Array[], auth: OwnerAuth }
/** A member hands a watcher the record it was waiting for. */
export type PushRequest = { op: typeof SwarmOp.PUSH, record: SwarmRecord }
/**
 * Anti-entropy's first look: the responder's mailboxes in `ranges` grouped by
 * the top `bits` bits of their ring position, one digest per non-empty bucket.
 */
export type BucketsRequest = { op: typeof SwarmOp.BUCKETS, bits: number, ranges: RingRange[] }
/** One non-empty bucket: its index, how many mailboxes it holds, and their digest. */
export interface BucketEntry { bucket: number, count: number, digest: Uint8Array }
/** An owner's signed delete: what a tombstone keeps, so the delete can be passed on. */
export type SignedDelete = DeleteRequest | DeleteAllRequest

export type SwarmRequest =
  | { op: typeof SwarmOp.PUT, record: SwarmRecord }
  | GetRequest
  | DeleteRequest
  | DeleteAllRequest
  | { op: typeof SwarmOp.DIGEST, entries: DigestEntry[] }
  | { op: typeof SwarmOp.FETCH, mailbox: Uint8Array, maxBytes: number, hashes: Uint8Array[] }
  | { op: typeof SwarmOp.RANGE, ranges: RingRange[], limit: number, after?: Uint8Array }
  | { op: typeof SwarmOp.HANDOFF, mailbox: Uint8Array, hashes: Uint8Array[] }
  | WatchRequest
  | PushRequest
  | BucketsRequest

export interface DigestEntry { mailbox: Uint8Array, digest: Uint8Array }

export type SwarmMessage =
  | { type: 'request', id: number, request: SwarmRequest }
  | { type: 'response', id: number, status: number, body: Uint8Array }

/** Answers, one shape per op. */
export interface PutAnswer { stored: boolean, expiry: number }
export interface PageAnswer { records: SwarmRecord[], nextCursor?: Uint8Array }
/** Per DIGEST entry: undefined when the digests matched, else the member's listing. */
export type DigestAnswer = Array<HashListing[] | undefined>
export interface RangeAnswer { mailboxes: DigestEntry[], more: boolean }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

// ---- messages

export function encodeRequestMessage (id: number, request: SwarmRequest): Uint8Array {
  const w = new Writer(request.op === SwarmOp.PUT ? 128 + request.record.data.byteLength : 256)
  w.u8(SWARM_WIRE_VERSION).u8(MessageType.REQUEST).u32(id).u8(request.op)
  writeRequestBody(w, request)
  return w.finish()
}

export function encodeResponseMessage (id: number, status: number, body: Uint8Array): Uint8Array {
  return new Writer(MESSAGE_HEADER_BYTES + body.byteLength)
    .u8(SWARM_WIRE_VERSION).u8(MessageType.RESPONSE).u32(id).u8(status).bytes(body).finish()
}

/** The header alone: lets a responder answer BAD_REQUEST to a request whose body is malformed. */
export function decodeHeader (bytes: Uint8Array): { type: 'request' | 'response', id: number, code: number } {
  const r = new Reader(bytes)
  const version = r.u8('version')
  if (version !== SWARM_WIRE_VERSION) throw new UnsupportedSwarmVersionError(version)
  const type = r.u8('type')
  if (type !== MessageType.REQUEST && type !== MessageType.RESPONSE) throw new SwarmProtocolError(`unknown message type ${type}`)
  return { type: type === MessageType.REQUEST ? 'request' : 'response', id: r.u32('id'), code: r.u8('code') }
}

export function decodeMessage (bytes: Uint8Array): SwarmMessage {
  const { type, id, code } = decodeHeader(bytes)
  const body = bytes.subarray(MESSAGE_HEADER_BYTES)
  if (type === 'response') return { type, id, status: code, body }
  return { type, id, request: decodeRequestBody(code, body) }
}

// ---- request bodies

function writeRequestBody (w: Writer, req: SwarmRequest): void {
  switch (req.op) {
    case SwarmOp.PUT:
      w.bytes(encodeRecord(req.record))
      return
    case SwarmOp.GET:
      w.bytes(fixed(req.mailbox, MAILBOX_BYTES, 'mailbox')).i16(req.namespace).u32(req.maxBytes)
      writeShortBytes(w, req.cursor ?? new Uint8Array(0), 'cursor')
      writeAuth(w, req.auth)
      return
    case SwarmOp.DELETE:
      w.bytes(fixed(req.mailbox, MAILBOX_BYTES, 'mailbox')).i16(req.namespace)
      writeHashes16(w, req.hashes)
      writeAuth(w, req.auth)
      return
    case SwarmOp.DELETE_ALL:
      w.bytes(fixed(req.mailbox, MAILBOX_BYTES, 'mailbox')).u8(req.namespace === undefined ? 0 : 1).i16(req.namespace ?? 0)
      writeAuth(w, req.auth)
      return
    case SwarmOp.DIGEST:
      count16(req.entries.length, 'digest entries')
      w.u16(req.entries.length)
      for (const e of req.entries) w.bytes(fixed(e.mailbox, MAILBOX_BYTES, 'mailbox')).bytes(fixed(e.digest, DIGEST_BYTES, 'digest'))
      return
    case SwarmOp.FETCH:
      w.bytes(fixed(req.mailbox, MAILBOX_BYTES, 'mailbox')).u32(req.maxBytes)
      writeHashes16(w, req.hashes)
      return
    case SwarmOp.RANGE:
      w.u16(req.limit)
      writeShortBytes(w, req.after === undefined ? new Uint8Array(0) : fixed(req.after, MAILBOX_BYTES, 'after'), 'after')
      count16(req.ranges.length, 'ranges')
      w.u16(req.ranges.length)
      for (const range of req.ranges) w.u64n(range.start).u64n(range.end)
      return
    case SwarmOp.HANDOFF:
      w.bytes(fixed(req.mailbox, MAILBOX_BYTES, 'mailbox')).u32(req.hashes.length)
      for (const h of req.hashes) w.bytes(fixed(h, HASH_BYTES, 'hash'))
      return
    case SwarmOp.WATCH:
      if (req.known.length > MAX_KNOWN_HASHES) throw new SwarmProtocolError(`at most ${MAX_KNOWN_HASHES} known hashes`)
      w.bytes(fixed(req.mailbox, MAILBOX_BYTES, 'mailbox')).i16(req.namespace).u64(req.since).u32(req.waitMs).u32(req.maxBytes).u8(req.known.length)
      for (const h of req.known) w.bytes(fixed(h, HASH_BYTES, 'hash'))
      writeAuth(w, req.auth)
      return
    case SwarmOp.PUSH:
      w.bytes(encodeRecord(req.record))
      return
    case SwarmOp.BUCKETS:
      count16(req.ranges.length, 'ranges')
      w.u8(req.bits).u16(req.ranges.length)
      for (const range of req.ranges) w.u64n(range.start).u64n(range.end)
  }
}

export function decodeRequestBody (op: number, body: Uint8Array): SwarmRequest {
  const r = new Reader(body)
  let req: SwarmRequest
  switch (op) {
    case SwarmOp.PUT:
      return { op, record: decodeRecord(r.rest()) }
    case SwarmOp.GET: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const namespace = r.i16('namespace')
      const maxBytes = r.u32('maxBytes')
      const cursor = r.bytesOf(r.u8('cursor length'), 'cursor')
      const auth = readAuth(r)
      req = cursor.byteLength === 0 ? { op, mailbox, namespace, maxBytes, auth } : { op, mailbox, namespace, maxBytes, cursor, auth }
      break
    }
    case SwarmOp.DELETE: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const namespace = r.i16('namespace')
      const hashes = readHashes(r, capped(r.u16('hash count'), MAX_REQUEST_HASHES, 'hashes'))
      req = { op, mailbox, namespace, hashes, auth: readAuth(r) }
      break
    }
    case SwarmOp.DELETE_ALL: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const flags = r.u8('flags')
      if (flags > 1) throw new SwarmProtocolError(`unknown DELETE_ALL flags ${flags}`)
      const namespace = r.i16('namespace')
      if (flags === 0 && namespace !== 0) throw new SwarmProtocolError('DELETE_ALL without a namespace must carry 0')
      const auth = readAuth(r)
      req = flags === 1 ? { op, mailbox, namespace, auth } : { op, mailbox, auth }
      break
    }
    case SwarmOp.DIGEST: {
      const n = capped(r.u16('entry count'), MAX_DIGEST_ENTRIES, 'digest entries')
      expectBytes(r, n * (MAILBOX_BYTES + DIGEST_BYTES), 'digest entries')
      const entries: DigestEntry[] = []
      for (let i = 0; i < n; i++) entries.push({ mailbox: r.bytesOf(MAILBOX_BYTES), digest: r.bytesOf(DIGEST_BYTES) })
      req = { op, entries }
      break
    }
    case SwarmOp.FETCH: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const maxBytes = r.u32('maxBytes')
      req = { op, mailbox, maxBytes, hashes: readHashes(r, capped(r.u16('hash count'), MAX_REQUEST_HASHES, 'hashes')) }
      break
    }
    case SwarmOp.RANGE: {
      const limit = capped(r.u16('limit'), MAX_RANGE_LIMIT, 'RANGE limit')
      const afterLength = r.u8('after length')
      if (afterLength !== 0 && afterLength !== MAILBOX_BYTES) throw new SwarmProtocolError(`RANGE after must be 0 or ${MAILBOX_BYTES} bytes`)
      const after = r.bytesOf(afterLength, 'after')
      const n = r.u16('range count')
      expectBytes(r, n * 16, 'ranges')
      const ranges: RingRange[] = []
      for (let i = 0; i < n; i++) ranges.push({ start: r.u64n(), end: r.u64n() })
      req = afterLength === 0 ? { op, ranges, limit } : { op, ranges, limit, after }
      break
    }
    case SwarmOp.HANDOFF: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      req = { op, mailbox, hashes: readHashes(r, capped(r.u32('hash count'), MAX_REQUEST_HASHES, 'hashes')) }
      break
    }
    case SwarmOp.WATCH: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const namespace = r.i16('namespace')
      const since = r.u64('since')
      const waitMs = r.u32('waitMs')
      const maxBytes = r.u32('maxBytes')
      const known = readHashes(r, capped(r.u8('known count'), MAX_KNOWN_HASHES, 'known hashes'))
      req = { op, mailbox, namespace, since, waitMs, maxBytes, known, auth: readAuth(r) }
      break
    }
    case SwarmOp.PUSH:
      return { op, record: decodeRecord(r.rest()) }
    case SwarmOp.BUCKETS: {
      const bits = r.u8('bits')
      if (bits > MAX_BUCKET_BITS) throw new SwarmProtocolError(`BUCKETS bits must be at most ${MAX_BUCKET_BITS}`)
      const n = r.u16('range count')
      expectBytes(r, n * 16, 'ranges')
      const ranges: RingRange[] = []
      for (let i = 0; i < n; i++) ranges.push({ start: r.u64n(), end: r.u64n() })
      req = { op, bits, ranges }
      break
    }
    default:
      throw new SwarmProtocolError(`unknown swarm op ${op}`)
  }
  r.end('request')
  return req
}

// ---- answers

export function encodePutAnswer (a: PutAnswer): Uint8Array {
  return new Writer(9).u8(a.stored ? 1 : 0).u64(a.expiry).finish()
}

export function decodePutAnswer (body: Uint8Array): PutAnswer {
  const r = new Reader(body)
  const stored = r.u8('stored')
  if (stored > 1) throw new SwarmProtocolError('PUT answer flag must be 0 or 1')
  const expiry = r.u64('expiry')
  r.end('PUT answer')
  return { stored: stored === 1, expiry }
}

/** GET answers: cursor (empty when this is the last page) and the records. */
export function encodePageAnswer (a: PageAnswer): Uint8Array {
  const w = new Writer(64 + a.records.reduce((n, rec) => n + rec.data.byteLength + 100, 0))
  writeShortBytes(w, a.nextCursor ?? new Uint8Array(0), 'cursor')
  writeRecords(w, a.records)
  return w.finish()
}

export function decodePageAnswer (body: Uint8Array): PageAnswer {
  const r = new Reader(body)
  const cursor = r.bytesOf(r.u8('cursor length'), 'cursor')
  const records = readRecords(r)
  r.end('GET answer')
  return cursor.byteLength === 0 ? { records } : { records, nextCursor: cursor }
}

export function encodeCountAnswer (count: number): Uint8Array {
  return new Writer(4).u32(count).finish()
}

export function decodeCountAnswer (body: Uint8Array): number {
  const r = new Reader(body)
  const n = r.u32('count')
  r.end('count answer')
  return n
}

export function encodeDigestAnswer (a: DigestAnswer): Uint8Array {
  count16(a.length, 'digest answers')
  const w = new Writer(2 + a.length * 5)
  w.u16(a.length)
  for (const listing of a) {
    if (listing === undefined) {
      w.u8(1)
      continue
    }
    w.u8(0).u32(listing.length)
    for (const e of listing) w.bytes(fixed(e.hash, HASH_BYTES, 'hash')).i16(e.namespace).u64(e.expiry)
  }
  return w.finish()
}

export function decodeDigestAnswer (body: Uint8Array): DigestAnswer {
  const r = new Reader(body)
  const n = r.u16('entry count')
  const out: DigestAnswer = []
  for (let i = 0; i < n; i++) {
    const match = r.u8('match')
    if (match > 1) throw new SwarmProtocolError('DIGEST match flag must be 0 or 1')
    if (match === 1) {
      out.push(undefined)
      continue
    }
    const count = r.u32('listing count')
    expectBytes(r, count * (HASH_BYTES + 10), 'listing')
    const listing: HashListing[] = []
    for (let j = 0; j < count; j++) listing.push({ hash: r.bytesOf(HASH_BYTES), namespace: r.i16(), expiry: r.u64('expiry') })
    out.push(listing)
  }
  r.end('DIGEST answer')
  return out
}

export function encodeRecordsAnswer (records: SwarmRecord[]): Uint8Array {
  const w = new Writer(16 + records.reduce((n, rec) => n + rec.data.byteLength + 100, 0))
  writeRecords(w, records)
  return w.finish()
}

export function decodeRecordsAnswer (body: Uint8Array): SwarmRecord[] {
  const r = new Reader(body)
  const records = readRecords(r)
  r.end('FETCH answer')
  return records
}

export function encodeRangeAnswer (a: RangeAnswer): Uint8Array {
  count16(a.mailboxes.length, 'range answer')
  const w = new Writer(3 + a.mailboxes.length * 64).u8(a.more ? 1 : 0).u16(a.mailboxes.length)
  for (const e of a.mailboxes) w.bytes(fixed(e.mailbox, MAILBOX_BYTES, 'mailbox')).bytes(fixed(e.digest, DIGEST_BYTES, 'digest'))
  return w.finish()
}

export function decodeRangeAnswer (body: Uint8Array): RangeAnswer {
  const r = new Reader(body)
  const more = r.u8('more')
  if (more > 1) throw new SwarmProtocolError('RANGE more flag must be 0 or 1')
  const n = r.u16('mailbox count')
  expectBytes(r, n * (MAILBOX_BYTES + DIGEST_BYTES), 'mailboxes')
  const mailboxes: DigestEntry[] = []
  for (let i = 0; i < n; i++) mailboxes.push({ mailbox: r.bytesOf(MAILBOX_BYTES), digest: r.bytesOf(DIGEST_BYTES) })
  r.end('RANGE answer')
  return { mailboxes, more: more === 1 }
}

export function encodeBucketsAnswer (entries: BucketEntry[]): Uint8Array {
  if (entries.length > MAX_BUCKETS) throw new SwarmProtocolError(`too many buckets: ${entries.length} > ${MAX_BUCKETS}`)
  const w = new Writer(2 + entries.length * (8 + BUCKET_DIGEST_BYTES)).u16(entries.length)
  for (const e of entries) w.u32(e.bucket).u32(e.count).bytes(fixed(e.digest, BUCKET_DIGEST_BYTES, 'bucket digest'))
  return w.finish()
}

export function decodeBucketsAnswer (body: Uint8Array): BucketEntry[] {
  const r = new Reader(body)
  const n = r.u16('bucket count')
  if (n > MAX_BUCKETS) throw new SwarmProtocolError(`too many buckets: ${n} > ${MAX_BUCKETS}`)
  expectBytes(r, n * (8 + BUCKET_DIGEST_BYTES), 'buckets')
  const out: BucketEntry[] = []
  for (let i = 0; i < n; i++) out.push({ bucket: r.u32('bucket'), count: r.u32('count'), digest: r.bytesOf(BUCKET_DIGEST_BYTES) })
  r.end('BUCKETS answer')
  return out
}

/** HANDOFF answer: the hashes the new owner does not hold yet. */
export function encodeHashesAnswer (hashes: Uint8Array[]): Uint8Array {
  const w = new Writer(4 + hashes.length * HASH_BYTES).u32(hashes.length)
  for (const h of hashes) w.bytes(fixed(h, HASH_BYTES, 'hash'))
  return w.finish()
}

export function decodeHashesAnswer (body: Uint8Array): Uint8Array[] {
  const r = new Reader(body)
  const hashes = readHashes(r, r.u32('hash count'))
  r.end('HANDOFF answer')
  return hashes
}

export function encodeReason (message: string): Uint8Array {
  const bytes = encoder.encode(message)
  if (bytes.byteLength <= MAX_REASON_BYTES) return bytes
  // cut on a character boundary so the reason stays valid UTF-8
  return encoder.encode(decoder.decode(bytes.subarray(0, MAX_REASON_BYTES)).replace(/\uFFFD$/, ''))
}

export function decodeReason (body: Uint8Array): string {
  return decoder.decode(body.subarray(0, MAX_REASON_BYTES))
}

// ---- helpers

function fixed (bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) throw new SwarmProtocolError(`${what} must be ${length} bytes`)
  return bytes
}

function capped (n: number, max: number, what: string): number {
  if (n > max) throw new SwarmProtocolError(`${what}: ${n} is over the per-request cap of ${max}`)
  return n
}

/** Entries one swarm-bucket token pays for: a maximal request costs at most 64 tokens, under the default burst. */
export const ENTRIES_PER_TOKEN = 16

/**
 * What a decoded request costs its sender in swarm-bucket tokens: one per
 * ENTRIES_PER_TOKEN entries it makes this member look at, at least one.
 */
export function requestCost (req: SwarmRequest): number {
  const entries = req.op === SwarmOp.DIGEST
    ? req.entries.length
    : req.op === SwarmOp.FETCH || req.op === SwarmOp.DELETE || req.op === SwarmOp.HANDOFF ? req.hashes.length : 1
  return Math.max(1, Math.ceil(entries / ENTRIES_PER_TOKEN))
}

function count16 (n: number, what: string): void {
  if (n > MAX_LIST_ENTRIES) throw new SwarmProtocolError(`too many ${what}: ${n} > ${MAX_LIST_ENTRIES}`)
}

function expectBytes (r: Reader, n: number, what: string): void {
  if (r.remaining < n) throw new SwarmProtocolError(`truncated ${what}: need ${n} bytes, ${r.remaining} left`)
}

function writeAuth (w: Writer, auth: OwnerAuth): void {
  w.u64(auth.timestamp).bytes(fixed(auth.signature, SIGNATURE_BYTES, 'signature'))
}

function readAuth (r: Reader): OwnerAuth {
  return { timestamp: r.u64('timestamp'), signature: r.bytesOf(SIGNATURE_BYTES, 'signature') }
}

function writeShortBytes (w: Writer, bytes: Uint8Array, what: string): void {
  if (bytes.byteLength > 255) throw new SwarmProtocolError(`${what} longer than 255 bytes`)
  w.u8(bytes.byteLength).bytes(bytes)
}

function writeHashes16 (w: Writer, hashes: Uint8Array[]): void {
  count16(hashes.length, 'hashes')
  w.u16(hashes.length)
  for (const h of hashes) w.bytes(fixed(h, HASH_BYTES, 'hash'))
}

function readHashes (r: Reader, n: number): Uint8Array[] {
  expectBytes(r, n * HASH_BYTES, 'hashes')
  const out: Uint8Array[] = []
  for (let i = 0; i < n; i++) out.push(r.bytesOf(HASH_BYTES))
  return out
}

function writeRecords (w: Writer, records: SwarmRecord[]): void {
  count16(records.length, 'records')
  w.u16(records.length)
  for (const rec of records) {
    const bytes = encodeRecord(rec)
    w.u32(bytes.byteLength).bytes(bytes)
  }
}

function readRecords (r: Reader): SwarmRecord[] {
  const n = r.u16('record count')
  const records: SwarmRecord[] = []
  for (let i = 0; i < n; i++) records.push(decodeRecord(r.bytesOf(r.u32('record length'), 'record')))
  return records
}
