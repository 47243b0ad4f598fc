import { peerIdFromString } from '@libp2p/peer-id'
import { SwarmChannel, type SwarmChannelInit } from './channel.js'
import {
  SWARM_PROTOCOL, SwarmOp, decodeBucketsAnswer, decodeCountAnswer, decodeDigestAnswer, decodeHashesAnswer, decodePageAnswer, decodePutAnswer,
  decodeRangeAnswer, decodeReason, decodeRecordsAnswer, type DigestAnswer, type DigestEntry, type PageAnswer, type PutAnswer,
  type BucketEntry, type GetRequest, type RangeAnswer, type SignedDelete, type SwarmRequest, type WatchRequest
} from './protocol.js'
import { DEFAULT_SWARM_REQUEST_TIMEOUT_MS } from '../service-defaults.js'
import { SwarmChannelClosedError } from '../service-errors.js'
import { SwarmPeerStatus, errorOfPeerStatus } from '../status.js'
import type { RingRange } from '../ring.js'
import type { SwarmRecord } from '../record-codec.js'
import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export { DEFAULT_SWARM_REQUEST_TIMEOUT_MS }
/**
 * After a failed dial, calls to that member fail at once for this long (unless a connection to it
 * opens meanwhile), so a dead member costs one dial timeout, not one per request.
 */
export const DEFAULT_UNREACHABLE_BACKOFF_MS = 10_000
/** Outbound swarm streams per connection: one is normal, the rest is slack for reopening. */
export const SWARM_MAX_OUTBOUND_STREAMS = 4

export interface SwarmPeersInit {
  connectionManager: ConnectionManager
  log: Logger
  /** Addresses of a member that is not connected (its verified node record). */
  resolveAddrs: (peer: PeerId) => Multiaddr[]
  /** @default 5000 */
  requestTimeoutMs?: number
  maxInflight?: number
  maxQueued?: number
  /** @default 10000 */
  unreachableBackoffMs?: number
}

/**
 * The requesting side of the swarm protocol: one long-lived channel per
 * member (opened on first use, reopened after it closes), and a typed call per
 * op that turns a non-OK status into the matching error class.
 */
export class SwarmPeers {
  readonly requestTimeoutMs: number
  private readonly init: SwarmPeersInit
  private readonly channels = new Map<string, SwarmChannel>()
  private readonly opening = new Map<string, Promise<SwarmChannel>>()
  /** Members whose last dial failed, until when calls skip them. */
  private readonly unreachable = new Map<string, number>()
  private running = true

  constructor (init: SwarmPeersInit) {
    this.init = init
    this.requestTimeoutMs = init.requestTimeoutMs ?? DEFAULT_SWARM_REQUEST_TIMEOUT_MS
  }

  start (): void {
    this.running = true
  }

  /** Closes every channel; calls in flight fail with SwarmChannelClosedError. */
  stop (): void {
    this.running = false
    for (const channel of this.channels.values()) channel.abort(new SwarmChannelClosedError('node stopping'))
    this.channels.clear()
  }

  /** Open channels (tests and health). */
  get size (): number {
    return this.channels.size
  }

  /** Sends a request and returns the OK body; any other status throws its typed error. */
  async call (peer: string, request: SwarmRequest, timeoutMs = this.requestTimeoutMs): Promise<Uint8Array> {
    const channel = await this.channel(peer, timeoutMs)
    const answer = await channel.request(request, timeoutMs)
    if (answer.status !== SwarmPeerStatus.OK) throw errorOfPeerStatus(answer.status, decodeReason(answer.body))
    return answer.body
  }

  async put (peer: string, record: SwarmRecord): Promise<PutAnswer> {
    return decodePutAnswer(await this.call(peer, { op: SwarmOp.PUT, record }))
  }

  /** A read, carrying the owner's signature the member verifies. */
  async get (peer: string, request: GetRequest): Promise<PageAnswer> {
    return decodePageAnswer(await this.call(peer, request))
  }

  /** A WATCH for a subscribed client, carrying the owner's signature the member verifies. */
  async watch (peer: string, request: WatchRequest): Promise<PageAnswer> {
    return decodePageAnswer(await this.call(peer, request))
  }

  /** Hands a watching exit the record it waits for. */
  async push (peer: string, record: SwarmRecord): Promise<void> {
    await this.call(peer, { op: SwarmOp.PUSH, record })
  }

  /** A DELETE or DELETE_ALL, carrying the owner's signature the member verifies. */
  async delete (peer: string, request: SignedDelete): Promise<number> {
    return decodeCountAnswer(await this.call(peer, request))
  }

  async digest (peer: string, entries: DigestEntry[]): Promise<DigestAnswer> {
    return decodeDigestAnswer(await this.call(peer, { op: SwarmOp.DIGEST, entries }))
  }

  async fetch (peer: string, mailbox: Uint8Array, hashes: Uint8Array[], maxBytes: number): Promise<SwarmRecord[]> {
    return decodeRecordsAnswer(await this.call(peer, { op: SwarmOp.FETCH, mailbox, hashes, maxBytes }))
  }

  async range (peer: string, ranges: RingRange[], limit: number, after?: Uint8Array): Promise<RangeAnswer> {
    return decodeRangeAnswer(await this.call(peer, { op: SwarmOp.RANGE, ranges, limit, ...(after !== undefined ? { after } : {}) }))
  }

  async buckets (peer: string, ranges: RingRange[], bits: number): Promise<BucketEntry[]> {
    return decodeBucketsAnswer(await this.call(peer, { op: SwarmOp.BUCKETS, bits, ranges }))
  }

  async handoff (peer: string, mailbox: Uint8Array, hashes: Uint8Array[]): Promise<Uint8Array[]> {
    return decodeHashesAnswer(await this.call(peer, { op: SwarmOp.HANDOFF, mailbox, hashes }))
  }

  private async channel (peer: string, timeoutMs: number): Promise<SwarmChannel> {
    if (!this.running) throw new SwarmChannelClosedError('node stopping')
    const open = this.channels.get(peer)
    if (open?.isOpen === true) return open
    const until = this.unreachable.get(peer)
    if (until !== undefined) {
      if (until > Date.now() && this.init.connectionManager.getConnections(peerIdFromString(peer)).length === 0) {
        throw new SwarmChannelClosedError('swarm member unreachable (a recent dial failed)')
      }
      this.unreachable.delete(peer)
    }
    let pending = this.opening.get(peer)
    if (pending === undefined) {
      pending = this.open(peer, { signal: AbortSignal.timeout(timeoutMs) }).finally(() => { this.opening.delete(peer) })
      this.opening.set(peer, pending)
    }
    return pending
  }

  private async open (peer: string, options: AbortOptions): Promise<SwarmChannel> {
    const peerId = peerIdFromString(peer)
    const cm = this.init.connectionManager
    let stream
    try {
      const known = cm.getConnections(peerId).length > 0 ? [] : this.init.resolveAddrs(peerId)
      const target = known.length > 0
        ? known.map(ma => ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${peer}`))
        : peerId
      const connection = await cm.openConnection(target, options)
      stream = await connection.newStream(SWARM_PROTOCOL, { ...options, maxOutboundStreams: SWARM_MAX_OUTBOUND_STREAMS })
    } catch (err) {
      if (this.running) this.unreachable.set(peer, Date.now() + (this.init.unreachableBackoffMs ?? DEFAULT_UNREACHABLE_BACKOFF_MS))
      throw new SwarmChannelClosedError(`cannot reach swarm member: ${(err as Error).message}`, { cause: err })
    }
    const init: SwarmChannelInit = {
      log: this.init.log,
      onClose: (c) => { if (this.channels.get(peer) === c) this.channels.delete(peer) },
      ...(this.init.maxInflight !== undefined ? { maxInflight: this.init.maxInflight } : {}),
      ...(this.init.maxQueued !== undefined ? { maxQueued: this.init.maxQueued } : {})
    }
    const channel = new SwarmChannel(stream, peerId, init)
    if (!this.running) {
      channel.abort(new SwarmChannelClosedError('node stopping'))
      throw new SwarmChannelClosedError('node stopping')
    }
    this.channels.set(peer, channel)
    return channel
  }
}
