import { FrameDecoder, encodeFrame } from './frames.js'
import {
  MESSAGE_HEADER_BYTES, SWARM_OP_NAMES, SwarmOp, decodeHeader, decodeRequestBody, encodeReason, encodeResponseMessage, requestCost,
  type SwarmRequest
} from './protocol.js'
import { BadSignatureError, SwarmFrameTooLargeError, SwarmProtocolError } from '../service-errors.js'
import { SwarmPeerStatus, peerStatusOf } from '../status.js'
import type { MemoryBudget } from '../../memory/budget.js'
import type { MemoryHolder } from '../../memory/relief.js'
import type { OwnerCheck } from './owner-check.js'
import type { LocalReplica } from '../replica.js'
import type { Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Requests one inbound stream may have running at once; more are answered BUSY. */
export const DEFAULT_SERVER_MAX_INFLIGHT = 256
/** An inbound stream with no frame for this long is closed (the requester reopens on demand). */
export const DEFAULT_SERVER_IDLE_TIMEOUT_MS = 120_000
/** Deadline of one request's work; past it the requester is told INTERNAL. */
export const DEFAULT_SERVER_REQUEST_TIMEOUT_MS = 5_000
/**
 * Largest frame read from a peer that is not a member here: enough for any
 * request header (which is all we read before refusing it), far from the
 * 4 MiB a member may send.
 */
export const DEFAULT_NON_MEMBER_MAX_FRAME_BYTES = 4096
/** A frame begun and not finished within this long closes its stream (a trickled frame pins memory). */
export const DEFAULT_PARTIAL_FRAME_TIMEOUT_MS = 10_000

export type SwarmViolation = 'malformed' | 'unauthorized'

/**
 * Who a requester is to this member: a verified swarm member; a peer whose
 * record this member does not hold (yet); or a peer whose record says it is
 * not a member (no SWARM capability, expired).
 */
export type SwarmPeerStanding = 'member' | 'unknown' | 'refused'

export interface SwarmServerInit {
  replica: LocalReplica
  log: Logger
  /** May this peer use the protocol at all (a verified SWARM node record)? */
  authorize: (peer: PeerId) => SwarmPeerStanding
  /**
   * A peer this member holds no record of sent a request (answered UNAUTHORIZED).
   * The gap may well be ours (just restarted, a record not fetched yet), so this
   * is where to catch up rather than to punish.
   */
  onUnknownPeer?: (peer: PeerId) => void
  /** Charges `cost` units (one per entry the request makes us look at) to the peer's rate limit; false refuses it. */
  allow: (peer: PeerId, cost: number) => boolean
  /** Verifies the mailbox owner's signature on reads and deletes (§10.5). */
  owner: OwnerCheck
  /** Is `peer` in `mailbox`'s swarm as this member sees the ring (with slack for churn)? Only then may it list or copy the mailbox. */
  inSwarm: (peer: PeerId, mailbox: Uint8Array) => boolean
  /** Charges one deposit to the mailbox's budget (as at an exit); false refuses the PUT. @default always allow */
  allowDeposit?: (mailbox: Uint8Array) => boolean
  onViolation?: (peer: PeerId, violation: SwarmViolation) => void
  /** Served requests by op name and status. */
  onServed?: (op: string, status: number) => void
  /** @default 256 */
  maxInflight?: number
  /** @default 120000 */
  idleTimeoutMs?: number
  /** @default 5000 */
  requestTimeoutMs?: number
  /** The node-wide budget of memory peers can make it hold: partial frames and requests in flight are charged to it. */
  budget?: MemoryBudget
  /** A stream the budget had no room for was closed. */
  onShed?: () => void
  /** @default 4096 */
  nonMemberMaxFrameBytes?: number
  /** @default 10000 */
  partialFrameTimeoutMs?: number
  /** Makes a request's deadline signal (tests pass one on a fake clock). @default AbortSignal.timeout */
  deadline?: (ms: number) => AbortSignal
}

interface InboundState {
  decoder: FrameDecoder
  since: number
  abort: (err: Error) => void
}

/**
 * The answering side of `/ghostnode/swarm/2.0.0`: decodes request frames from
 * an inbound stream, checks the peer (verified swarm member, rate limit),
 * runs each request against the local replica under its own deadline and
 * writes the answers back as they complete. A frame whose header cannot be
 * read ends the stream; a bad body is answered BAD_REQUEST.
 */
export class SwarmServer {
  private readonly init: SwarmServerInit
  private readonly streams = new Map<Stream, InboundState>()

  constructor (init: SwarmServerInit) {
    this.init = init
  }

  get openStreams (): number {
    return this.streams.size
  }

  readonly handle = (stream: Stream, connection: Connection): void => {
    const peer = connection.remotePeer
    // who the peer is decides how much of it we buffer: a stranger gets one small frame
    const standing = this.init.authorize(peer)
    const maxFrame = standing === 'member' ? undefined : this.init.nonMemberMaxFrameBytes ?? DEFAULT_NON_MEMBER_MAX_FRAME_BYTES
    const decoder = new FrameDecoder(maxFrame)
    const budget = this.init.budget
    const idleMs = this.init.idleTimeoutMs ?? DEFAULT_SERVER_IDLE_TIMEOUT_MS
    const partialMs = this.init.partialFrameTimeoutMs ?? DEFAULT_PARTIAL_FRAME_TIMEOUT_MS
    const maxInflight = this.init.maxInflight ?? DEFAULT_SERVER_MAX_INFLIGHT
    let inflight = 0
    // bytes of this stream charged to the budget: its partial frame (frames in flight are charged until served)
    let held = 0
    // aborted when the stream ends: work for a requester that has left stops
    const gone = new AbortController()
    let idle: ReturnType<typeof setTimeout> | undefined
    let partial: ReturnType<typeof setTimeout> | undefined
    const armIdle = (): void => {
      clearTimeout(idle)
      idle = setTimeout(() => { stream.abort(new SwarmProtocolError('swarm stream idle')) }, idleMs)
      idle.unref?.()
    }
    const abort = (err: Error): void => { stream.abort(err) }
    this.streams.set(stream, { decoder, since: Date.now(), abort })
    armIdle()
    stream.addEventListener('close', () => {
      clearTimeout(idle)
      clearTimeout(partial)
      budget?.release(held)
      held = 0
      this.streams.delete(stream)
      gone.abort(new SwarmProtocolError('the requester closed the stream'))
    })
    stream.addEventListener('message', (evt: { data: Uint8Array | Uint8ArrayList }) => {
      armIdle()
      const size = evt.data.byteLength
      // charged before the decoder keeps any of it
      if (budget != null && !budget.tryReserve(size)) {
        this.init.onShed?.()
        stream.abort(new SwarmProtocolError('memory budget spent: stream closed'))
        return
      }
      let framed = 0
      try {
        for (const frame of decoder.push(evt.data)) {
          framed += frame.byteLength
          const header = decodeHeader(frame)
          if (header.type !== 'request') throw new SwarmProtocolError('a requester sent an answer')
          if (inflight >= maxInflight) {
            budget?.release(frame.byteLength)
            framed -= frame.byteLength
            this.reply(stream, header.id, SwarmPeerStatus.BUSY, encodeReason('too many requests in flight'))
            continue
          }
          inflight++
          void this.serveFrame(stream, peer, header, frame, gone.signal)
            .catch((err: Error) => { this.init.log.error('swarm request from %p failed - %e', peer, err) })
            .finally(() => {
              inflight--
              budget?.release(frame.byteLength)
            })
        }
      } catch (err) {
        if (err instanceof SwarmFrameTooLargeError && standing !== 'member') {
          // a stranger (perhaps a member our document does not list yet) sent more than we read from strangers
          this.init.log('swarm frame from %p, not a member here, is over %d bytes - %e', peer, maxFrame, err)
          if (standing === 'unknown') this.init.onUnknownPeer?.(peer)
        } else {
          this.init.log('malformed swarm frame from %p - %e', peer, err)
          this.init.onViolation?.(peer, 'malformed')
        }
        budget?.release(size - framed)
        stream.abort(err as Error)
        return
      }
      // what the decoder holds now is this stream's charge; the rest of the chunk was framed (charged in flight) or dropped
      const now = decoder.bufferedBytes
      budget?.release(held + size - framed - now)
      held = now
      if (now === 0) {
        clearTimeout(partial)
        partial = undefined
      } else if (partial === undefined) {
        partial = setTimeout(() => { stream.abort(new SwarmProtocolError(`a frame was not finished within ${partialMs} ms`)) }, partialMs)
        partial.unref?.()
      }
    })
  }

  /** Streams holding partial frames, for the memory budget's pressure handler to weigh (and close). */
  holders (): MemoryHolder[] {
    const out: MemoryHolder[] = []
    for (const state of this.streams.values()) {
      if (state.decoder.bufferedBytes > 0) {
        out.push({ kind: 'stream', bytes: state.decoder.bufferedBytes, since: state.since, close: () => { state.abort(new SwarmProtocolError('stream closed: the memory budget is spent')) } })
      }
    }
    return out
  }

  /** Aborts every inbound stream (node stopping). */
  closeAll (err: Error): void {
    for (const s of [...this.streams.keys()]) s.abort(err)
    this.streams.clear()
  }

  private async serveFrame (stream: Stream, peer: PeerId, header: { id: number, code: number }, frame: Uint8Array, gone: AbortSignal): Promise<void> {
    const op = SWARM_OP_NAMES[header.code as SwarmOp] ?? 'unknown'
    const answer = (status: number, body: Uint8Array): void => {
      this.init.onServed?.(op, status)
      this.reply(stream, header.id, status, body)
    }
    const standing = this.init.authorize(peer)
    if (standing === 'unknown') {
      // not penalised: a member that restarted, or missed a record, would otherwise ban its
      // honest peers within a few requests. The request is still charged (floods overflow
      // the bucket, which penalises) and refused.
      this.init.allow(peer, 1)
      this.init.onUnknownPeer?.(peer)
      answer(SwarmPeerStatus.UNAUTHORIZED, encodeReason('no verified swarm record of this peer here (yet)'))
      return
    }
    if (standing === 'refused') {
      this.init.onViolation?.(peer, 'unauthorized')
      answer(SwarmPeerStatus.UNAUTHORIZED, encodeReason('not a verified swarm member'))
      return
    }
    if (op === 'unknown') {
      if (!this.init.allow(peer, 1)) answer(SwarmPeerStatus.RATE_LIMITED, encodeReason('rate limited'))
      else answer(SwarmPeerStatus.UNKNOWN_OP, encodeReason(`unknown op ${header.code}`))
      return
    }
    let request
    try {
      // decoding is bounded by the frame (and the per-request caps): the charge comes after it
      request = decodeRequestBody(header.code, frame.subarray(MESSAGE_HEADER_BYTES))
    } catch (err) {
      this.init.allow(peer, 1)
      this.init.onViolation?.(peer, 'malformed')
      answer(SwarmPeerStatus.BAD_REQUEST, encodeReason((err as Error).message))
      return
    }
    if (!this.init.allow(peer, requestCost(request))) {
      answer(SwarmPeerStatus.RATE_LIMITED, encodeReason('rate limited'))
      return
    }
    const refusal = this.refusal(peer, request)
    if (refusal !== undefined) {
      answer(refusal.status, encodeReason(refusal.reason))
      return
    }
    // the deadline reaches the work itself: it stops at the next entry, and this request's
    // in-flight slot is freed only once it has stopped, not when the answer goes out
    const deadline = this.init.deadline ?? AbortSignal.timeout
    const signal = AbortSignal.any([deadline(this.init.requestTimeoutMs ?? DEFAULT_SERVER_REQUEST_TIMEOUT_MS), gone])
    const work = this.init.replica.serve(request, { signal, mayList: (mailbox) => this.init.inSwarm(peer, mailbox), peer: peer.toString() })
    try {
      const body = await raceSignal(work, signal)
      answer(SwarmPeerStatus.OK, body)
    } catch (err) {
      if (request.op === SwarmOp.GET || request.op === SwarmOp.DELETE || request.op === SwarmOp.DELETE_ALL || request.op === SwarmOp.WATCH) this.init.owner.release(request)
      const status = peerStatusOf(err)
      if (status === SwarmPeerStatus.INTERNAL && !signal.aborted) this.init.log.error('swarm %s from %p failed - %e', op, peer, err)
      answer(status, encodeReason(status === SwarmPeerStatus.INTERNAL ? (signal.aborted ? 'deadline passed' : 'internal error') : (err as Error).message))
      await work.catch(() => {})
    }
  }

  /**
   * What a member may not ask even within its budget: a read or delete
   * without its owner's valid signature, a deposit past the mailbox's budget.
   */
  private refusal (peer: PeerId, request: SwarmRequest): { status: number, reason: string } | undefined {
    switch (request.op) {
      case SwarmOp.GET:
      case SwarmOp.DELETE:
      case SwarmOp.DELETE_ALL:
      case SwarmOp.WATCH:
        try {
          this.init.owner.check(request, this.init.inSwarm(peer, request.mailbox))
        } catch (err) {
          // an exit checks the signature before it asks us: only the asking member can have broken it.
          // A stale timestamp may be clock skew, a replay a delete passed on twice: not penalised.
          if (err instanceof BadSignatureError) this.init.onViolation?.(peer, 'unauthorized')
          return { status: peerStatusOf(err), reason: (err as Error).message }
        }
        return undefined
      case SwarmOp.PUSH:
        // only a member of the record's swarm can have stored it; anyone else's push is refused unread
        if (!this.init.inSwarm(peer, request.record.mailbox)) return { status: SwarmPeerStatus.UNAUTHORIZED, reason: 'not a member of this mailbox\'s swarm' }
        return undefined
      case SwarmOp.PUT:
        // a member's PUTs count against the mailbox's deposit budget here, as a client's do at its exit
        if (this.init.allowDeposit !== undefined && !this.init.allowDeposit(request.record.mailbox)) {
          return { status: SwarmPeerStatus.RATE_LIMITED, reason: 'too many deposits to this mailbox' }
        }
        return undefined
      default:
        return undefined
    }
  }

  private reply (stream: Stream, id: number, status: number, body: Uint8Array): void {
    if (stream.writeStatus !== 'writable') return
    try {
      // send() queues even under backpressure; the in-flight bound caps what can pile up
      stream.send(encodeFrame(encodeResponseMessage(id, status, body)))
    } catch (err) {
      stream.abort(err as Error)
    }
  }
}

async function raceSignal<T> (work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason as Error) }
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
