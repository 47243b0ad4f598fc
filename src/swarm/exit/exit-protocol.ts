import { HASH_BYTES, MAILBOX_BYTES, MAX_KNOWN_HASHES } from '../sizes.js'
import { SIGNATURE_BYTES, deleteAllFields, deleteFields, retrieveFields, subscribeFields, type SignedFields } from '../auth.js'
import { SwarmProtocolError } from '../service-errors.js'
import { Reader, Writer } from '../wire.js'

/**
 * Bodies of SWARM exit requests (service 2, docs/protocol.md §10.3): what a
 * client sends through its circuit and the exit answers. All integers are
 * big-endian; every body has one encoding (decoders refuse trailing bytes).
 *
 *   STORE       1 | mailbox 32 | namespace i16 | ttlMs u64 | data (rest)
 *   RETRIEVE    2 | mailbox 32 | namespace i16 | timestamp u64 | maxBytes u32 | cursorLen u8 | cursor | signature 64
 *   DELETE      3 | mailbox 32 | namespace i16 | timestamp u64 | count u16 | count × hash 32 | signature 64
 *   DELETE_ALL  4 | mailbox 32 | flags u8 | namespace i16 | timestamp u64 | signature 64
 *   SUBSCRIBE   5 | mailbox 32 | namespace i16 | timestamp u64 | since u64 | waitMs u32 | maxBytes u32 | count u8 | count × hash 32 | signature 64
 *
 * SUBSCRIBE is answered like RETRIEVE (a page, never a cursor): the records at
 * or after `since` not among the listed hashes, at once when there are any,
 * else the first one stored within `waitMs`, else none (docs/protocol.md §10.8).
 */

export const SwarmExitOp = {
  STORE: 1,
  RETRIEVE: 2,
  DELETE: 3,
  DELETE_ALL: 4,
  SUBSCRIBE: 5
} as const
export type SwarmExitOp = typeof SwarmExitOp[keyof typeof SwarmExitOp]

export const MAX_CURSOR_BYTES = 255
export const MAX_DELETE_HASHES = 1024

export type SwarmExitRequest =
  | { op: typeof SwarmExitOp.STORE, mailbox: Uint8Array, namespace: number, ttlMs: number, data: Uint8Array }
  | { op: typeof SwarmExitOp.RETRIEVE, mailbox: Uint8Array, namespace: number, timestamp: number, maxBytes: number, cursor?: Uint8Array, signature: Uint8Array }
  | { op: typeof SwarmExitOp.DELETE, mailbox: Uint8Array, namespace: number, timestamp: number, hashes: Uint8Array[], signature: Uint8Array }
  | { op: typeof SwarmExitOp.DELETE_ALL, mailbox: Uint8Array, namespace?: number, timestamp: number, signature: Uint8Array }
  | { op: typeof SwarmExitOp.SUBSCRIBE, mailbox: Uint8Array, namespace: number, timestamp: number, since: number, waitMs: number, maxBytes: number, known: Uint8Array[], signature: Uint8Array }

/** STORE answer. */
export interface StoreReceipt {
  /** False when the swarm already held this message (a duplicate). */
  stored: boolean
  expiry: number
  hash: Uint8Array
  /** Peer ids of the members that held it durably when the exit acknowledged. */
  members: string[]
}

/** One message in a RETRIEVE answer. */
export interface RetrievedMessage {
  timestamp: number
  expiry: number
  hash: Uint8Array
  data: Uint8Array
}

export interface RetrievePage {
  messages: RetrievedMessage[]
  /** Present when more messages follow: pass it to the next retrieve. */
  cursor?: Uint8Array
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeSwarmExitRequest (req: SwarmExitRequest): Uint8Array {
  const w = new Writer(128 + (req.op === SwarmExitOp.STORE ? req.data.byteLength : 0)).u8(req.op)
  w.bytes(fixed(req.mailbox, MAILBOX_BYTES, 'mailbox'))
  switch (req.op) {
    case SwarmExitOp.STORE:
      return w.i16(req.namespace).u64(req.ttlMs).bytes(req.data).finish()
    case SwarmExitOp.RETRIEVE: {
      const cursor = req.cursor ?? new Uint8Array(0)
      if (cursor.byteLength > MAX_CURSOR_BYTES) throw new SwarmProtocolError('cursor too long')
      return w.i16(req.namespace).u64(req.timestamp).u32(req.maxBytes).u8(cursor.byteLength).bytes(cursor)
        .bytes(fixed(req.signature, SIGNATURE_BYTES, 'signature')).finish()
    }
    case SwarmExitOp.DELETE:
      if (req.hashes.length > MAX_DELETE_HASHES) throw new SwarmProtocolError(`at most ${MAX_DELETE_HASHES} hashes per delete`)
      w.i16(req.namespace).u64(req.timestamp).u16(req.hashes.length)
      for (const h of req.hashes) w.bytes(fixed(h, HASH_BYTES, 'hash'))
      return w.bytes(fixed(req.signature, SIGNATURE_BYTES, 'signature')).finish()
    case SwarmExitOp.DELETE_ALL:
      return w.u8(req.namespace === undefined ? 0 : 1).i16(req.namespace ?? 0).u64(req.timestamp)
        .bytes(fixed(req.signature, SIGNATURE_BYTES, 'signature')).finish()
    case SwarmExitOp.SUBSCRIBE:
      if (req.known.length > MAX_KNOWN_HASHES) throw new SwarmProtocolError(`at most ${MAX_KNOWN_HASHES} known hashes`)
      w.i16(req.namespace).u64(req.timestamp).u64(req.since).u32(req.waitMs).u32(req.maxBytes).u8(req.known.length)
      for (const h of req.known) w.bytes(fixed(h, HASH_BYTES, 'hash'))
      return w.bytes(fixed(req.signature, SIGNATURE_BYTES, 'signature')).finish()
  }
}

export function decodeSwarmExitRequest (body: Uint8Array): SwarmExitRequest {
  const r = new Reader(body)
  const op = r.u8('op')
  let req: SwarmExitRequest
  switch (op) {
    case SwarmExitOp.STORE: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const namespace = r.i16('namespace')
      const ttlMs = r.u64('ttlMs')
      return { op, mailbox, namespace, ttlMs, data: r.rest() }
    }
    case SwarmExitOp.RETRIEVE: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const namespace = r.i16('namespace')
      const timestamp = r.u64('timestamp')
      const maxBytes = r.u32('maxBytes')
      const cursor = r.bytesOf(r.u8('cursor length'), 'cursor')
      const signature = r.bytesOf(SIGNATURE_BYTES, 'signature')
      req = cursor.byteLength > 0
        ? { op, mailbox, namespace, timestamp, maxBytes, cursor, signature }
        : { op, mailbox, namespace, timestamp, maxBytes, signature }
      break
    }
    case SwarmExitOp.DELETE: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const namespace = r.i16('namespace')
      const timestamp = r.u64('timestamp')
      const n = r.u16('hash count')
      if (n > MAX_DELETE_HASHES) throw new SwarmProtocolError(`at most ${MAX_DELETE_HASHES} hashes per delete`)
      const hashes: Uint8Array[] = []
      for (let i = 0; i < n; i++) hashes.push(r.bytesOf(HASH_BYTES, 'hash'))
      req = { op, mailbox, namespace, timestamp, hashes, signature: r.bytesOf(SIGNATURE_BYTES, 'signature') }
      break
    }
    case SwarmExitOp.DELETE_ALL: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const flags = r.u8('flags')
      if (flags > 1) throw new SwarmProtocolError(`unknown DELETE_ALL flags ${flags}`)
      const namespace = r.i16('namespace')
      if (flags === 0 && namespace !== 0) throw new SwarmProtocolError('DELETE_ALL without a namespace must carry 0')
      const timestamp = r.u64('timestamp')
      const signature = r.bytesOf(SIGNATURE_BYTES, 'signature')
      req = flags === 1 ? { op, mailbox, namespace, timestamp, signature } : { op, mailbox, timestamp, signature }
      break
    }
    case SwarmExitOp.SUBSCRIBE: {
      const mailbox = r.bytesOf(MAILBOX_BYTES, 'mailbox')
      const namespace = r.i16('namespace')
      const timestamp = r.u64('timestamp')
      const since = r.u64('since')
      const waitMs = r.u32('waitMs')
      const maxBytes = r.u32('maxBytes')
      const n = r.u8('known count')
      if (n > MAX_KNOWN_HASHES) throw new SwarmProtocolError(`at most ${MAX_KNOWN_HASHES} known hashes`)
      const known: Uint8Array[] = []
      for (let i = 0; i < n; i++) known.push(r.bytesOf(HASH_BYTES, 'hash'))
      req = { op, mailbox, namespace, timestamp, since, waitMs, maxBytes, known, signature: r.bytesOf(SIGNATURE_BYTES, 'signature') }
      break
    }
    default:
      throw new SwarmProtocolError(`unknown swarm exit op ${op}`)
  }
  r.end('swarm exit request')
  return req
}

/** The fields a signed request's signature covers (see auth.ts). */
export function signedFieldsOf (req: Exclude<SwarmExitRequest, { op: typeof SwarmExitOp.STORE }>): SignedFields {
  switch (req.op) {
    case SwarmExitOp.RETRIEVE: return retrieveFields(req.mailbox, req.namespace, req.timestamp, req.cursor)
    case SwarmExitOp.DELETE: return deleteFields(req.mailbox, req.namespace, req.timestamp, req.hashes)
    case SwarmExitOp.DELETE_ALL: return deleteAllFields(req.mailbox, req.namespace, req.timestamp)
    case SwarmExitOp.SUBSCRIBE: return subscribeFields(req.mailbox, req.namespace, req.timestamp, req.since, req.waitMs, req.known)
  }
}

// ---- answers

/** STORE answer: stored u8 | expiry u64 | hash 32 | count u8 | count × (len u8 | peer id UTF-8) */
export function encodeStoreReceipt (r: StoreReceipt): Uint8Array {
  const w = new Writer(64 + r.members.length * 60).u8(r.stored ? 1 : 0).u64(r.expiry).bytes(fixed(r.hash, HASH_BYTES, 'hash')).u8(r.members.length)
  for (const m of r.members) {
    const b = encoder.encode(m)
    if (b.byteLength > 255) throw new SwarmProtocolError('peer id too long')
    w.u8(b.byteLength).bytes(b)
  }
  return w.finish()
}

export function decodeStoreReceipt (body: Uint8Array): StoreReceipt {
  const r = new Reader(body)
  const stored = r.u8('stored')
  if (stored > 1) throw new SwarmProtocolError('stored flag must be 0 or 1')
  const expiry = r.u64('expiry')
  const hash = r.bytesOf(HASH_BYTES, 'hash')
  const n = r.u8('member count')
  const members: string[] = []
  for (let i = 0; i < n; i++) members.push(decoder.decode(r.bytesOf(r.u8('peer id length'), 'peer id')))
  r.end('store receipt')
  return { stored: stored === 1, expiry, hash, members }
}

/** RETRIEVE answer: cursorLen u8 | cursor | count u16 | count × (timestamp u64 | expiry u64 | hash 32 | len u32 | data) */
export function encodeRetrievePage (page: RetrievePage): Uint8Array {
  const cursor = page.cursor ?? new Uint8Array(0)
  if (cursor.byteLength > MAX_CURSOR_BYTES) throw new SwarmProtocolError('cursor too long')
  const w = new Writer(8 + page.messages.reduce((n, m) => n + 52 + m.data.byteLength, 0)).u8(cursor.byteLength).bytes(cursor).u16(page.messages.length)
  for (const m of page.messages) w.u64(m.timestamp).u64(m.expiry).bytes(fixed(m.hash, HASH_BYTES, 'hash')).u32(m.data.byteLength).bytes(m.data)
  return w.finish()
}

export function decodeRetrievePage (body: Uint8Array): RetrievePage {
  const r = new Reader(body)
  const cursor = r.bytesOf(r.u8('cursor length'), 'cursor')
  const n = r.u16('message count')
  const messages: RetrievedMessage[] = []
  for (let i = 0; i < n; i++) {
    const timestamp = r.u64('timestamp')
    const expiry = r.u64('expiry')
    const hash = r.bytesOf(HASH_BYTES, 'hash')
    messages.push({ timestamp, expiry, hash, data: r.bytesOf(r.u32('data length'), 'data') })
  }
  r.end('retrieve page')
  return cursor.byteLength > 0 ? { messages, cursor } : { messages }
}

/** DELETE / DELETE_ALL answer: deleted u32. */
export function encodeDeleteCount (n: number): Uint8Array {
  return new Writer(4).u32(n).finish()
}

export function decodeDeleteCount (body: Uint8Array): number {
  const r = new Reader(body)
  const n = r.u32('count')
  r.end('delete answer')
  return n
}

function fixed (bytes: Uint8Array, length: number, what: string): Uint8Array {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) throw new SwarmProtocolError(`${what} must be ${length} bytes`)
  return bytes
}
