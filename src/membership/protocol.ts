import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { Reader, Writer } from '../wire/bytes.js'
import { ED25519_SIGNATURE_BYTES } from '../crypto/sizes.js'
import { MAX_AUTHORITIES, MAX_DOCUMENT_BYTES } from './constants.js'
import { MembershipProtocolError } from './errors.js'
import type { AbortOptions, Stream } from '@libp2p/interface'

/**
 * `/ghostnode/membership/1.0.0` (docs/protocol.md §11.3): one request and one
 * reply per stream, each one length-prefixed frame.
 *
 *   request = format u8 (1) | kind u8 | body
 *     GET  (1): havePeriod u64 (the asker's period + 1; 0 = none)
 *     PUSH (2): a consensus document
 *     SYNC (3): authorities only: period u64 | voteCount u8 | voteCount × (len u32 | vote)
 *               | sigCount u8 | sigCount × (body hash 32 | index u8 | signature 64)
 *     ANNOUNCE (4): period u64 (I hold this period; GET it from me if you lack it)
 *   reply   = format u8 (1) | status u8 | body (GET OK: the document; SYNC OK: a SYNC body)
 */

export const MEMBERSHIP_WIRE_FORMAT = 1

export enum MembershipRequestKind { GET = 1, PUSH = 2, SYNC = 3, ANNOUNCE = 4 }

export enum MembershipStatus {
  OK = 0,
  /** The asker already holds this period or a later one. */
  NOT_MODIFIED = 1,
  /** No document in force here. */
  NONE = 2,
  RATE_LIMITED = 3,
  BAD_REQUEST = 4,
  /** The pushed document was refused (invalid, or signed by too few trusted authorities). */
  REJECTED = 5,
  /** SYNC from a peer that is not one of this node's authorities, or to a node that is not one. */
  UNAUTHORIZED = 6
}
const STATUSES = new Set(Object.values(MembershipStatus).filter(v => typeof v === 'number'))

/** Votes and signatures one authority hands another for a period. */
export interface SyncBody {
  period: number
  votes: Uint8Array[]
  signatures: Array<{ hash: Uint8Array, index: number, signature: Uint8Array }>
}

export type MembershipRequest =
  | { kind: MembershipRequestKind.GET, havePeriod: number }
  | { kind: MembershipRequestKind.PUSH, document: Uint8Array }
  | { kind: MembershipRequestKind.SYNC, sync: SyncBody }
  | { kind: MembershipRequestKind.ANNOUNCE, period: number }

/** A frame: a document or a SYNC of up to MAX_AUTHORITIES votes, plus headers. */
export const MAX_MEMBERSHIP_FRAME_BYTES = MAX_DOCUMENT_BYTES + 64
const fail = (message: string): Error => new MembershipProtocolError(message)

export function encodeMembershipRequest (request: MembershipRequest): Uint8Array {
  const w = new Writer(64).u8(MEMBERSHIP_WIRE_FORMAT).u8(request.kind)
  if (request.kind === MembershipRequestKind.GET) w.u64(request.havePeriod)
  else if (request.kind === MembershipRequestKind.PUSH) w.bytes(request.document)
  else if (request.kind === MembershipRequestKind.ANNOUNCE) w.u64(request.period)
  else writeSync(w, request.sync)
  return w.finish()
}

export function decodeMembershipRequest (frame: Uint8Array): MembershipRequest {
  const r = new Reader(frame, fail)
  if (r.u8('format') !== MEMBERSHIP_WIRE_FORMAT) throw new MembershipProtocolError('unsupported membership format')
  const kind = r.u8('kind')
  if (kind === MembershipRequestKind.GET) {
    const havePeriod = r.u64('havePeriod')
    r.end('GET')
    return { kind, havePeriod }
  }
  if (kind === MembershipRequestKind.PUSH) {
    const document = r.rest()
    if (document.byteLength === 0) throw new MembershipProtocolError('PUSH carries no document')
    return { kind, document }
  }
  if (kind === MembershipRequestKind.SYNC) return { kind, sync: readSync(r) }
  if (kind === MembershipRequestKind.ANNOUNCE) {
    const period = r.u64('period')
    r.end('ANNOUNCE')
    return { kind, period }
  }
  throw new MembershipProtocolError(`unknown membership request kind ${kind}`)
}

function writeSync (w: Writer, sync: SyncBody): void {
  w.u64(sync.period).u8(sync.votes.length)
  for (const v of sync.votes) w.u32(v.byteLength).bytes(v)
  w.u8(sync.signatures.length)
  for (const s of sync.signatures) w.bytes(s.hash).u8(s.index).bytes(s.signature)
}

function readSync (r: Reader): SyncBody {
  const period = r.u64('period')
  const voteCount = r.u8('vote count')
  if (voteCount > MAX_AUTHORITIES) throw new MembershipProtocolError('too many votes')
  const votes: Uint8Array[] = []
  for (let i = 0; i < voteCount; i++) votes.push(r.bytesOf(r.u32('vote length'), 'vote').slice())
  const sigCount = r.u8('signature count')
  if (sigCount > 4 * MAX_AUTHORITIES) throw new MembershipProtocolError('too many signatures')
  const signatures: SyncBody['signatures'] = []
  for (let i = 0; i < sigCount; i++) {
    signatures.push({ hash: r.bytesOf(32, 'hash').slice(), index: r.u8('index'), signature: r.bytesOf(ED25519_SIGNATURE_BYTES, 'signature').slice() })
  }
  r.end('SYNC')
  return { period, votes, signatures }
}

export function encodeMembershipReply (status: MembershipStatus, body?: Uint8Array | SyncBody): Uint8Array {
  const w = new Writer(64).u8(MEMBERSHIP_WIRE_FORMAT).u8(status)
  if (body instanceof Uint8Array) w.bytes(body)
  else if (body != null) writeSync(w, body)
  return w.finish()
}

export function decodeMembershipReply (frame: Uint8Array): { status: MembershipStatus, body: Uint8Array } {
  if (frame.byteLength < 2 || frame[0] !== MEMBERSHIP_WIRE_FORMAT || !STATUSES.has(frame[1])) {
    throw new MembershipProtocolError('malformed membership reply')
  }
  return { status: frame[1] as MembershipStatus, body: frame.subarray(2) }
}

export function decodeSyncBody (body: Uint8Array): SyncBody {
  return readSync(new Reader(body, fail))
}

function membershipLp (stream: Stream, maxFrameBytes = MAX_MEMBERSHIP_FRAME_BYTES): LengthPrefixedStream<Stream> {
  return lpStream(stream, { maxDataLength: maxFrameBytes, maxBufferSize: maxFrameBytes + 1024 })
}

/** A GET request's size: all a peer that is not a member may send (it cannot make the node buffer more). */
export const GET_REQUEST_BYTES = 10

/** Requester side: one request, one reply, then close. The stream is aborted on any error. */
export async function membershipExchange (stream: Stream, request: MembershipRequest, options: AbortOptions): Promise<{ status: MembershipStatus, body: Uint8Array }> {
  try {
    const lp = membershipLp(stream)
    await lp.write(encodeMembershipRequest(request), options)
    const reply = decodeMembershipReply((await lp.read(options)).subarray())
    await stream.close(options)
    return reply
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/**
 * Responder side: reads one request of at most `maxRequestBytes`, writes what
 * `answer` returns, closes. Aborts the stream on error.
 */
export async function serveMembershipRequest (stream: Stream, maxRequestBytes: number, answer: (request: MembershipRequest) => Promise<Uint8Array>, options: AbortOptions): Promise<void> {
  const lp = membershipLp(stream, maxRequestBytes)
  try {
    let request: MembershipRequest
    try {
      request = decodeMembershipRequest((await lp.read(options)).subarray())
    } catch (err) {
      await lp.write(encodeMembershipReply(MembershipStatus.BAD_REQUEST), options)
      throw err
    }
    await lp.write(await answer(request), options)
    await stream.close(options)
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
