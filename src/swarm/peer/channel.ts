import { FrameDecoder, encodeFrame } from './frames.js'
import { decodeMessage, encodeRequestMessage, type SwarmRequest } from './protocol.js'
import { SwarmBusyError, SwarmChannelClosedError, SwarmProtocolError, SwarmRequestTimeoutError } from '../service-errors.js'
import type { Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/** Requests awaiting an answer on one channel. */
export const DEFAULT_CHANNEL_MAX_INFLIGHT = 256
/** Requests waiting for an in-flight slot before new ones are refused. */
export const DEFAULT_CHANNEL_MAX_QUEUED = 1024

export interface SwarmChannelInit {
  log: Logger
  /** @default 256 */
  maxInflight?: number
  /** @default 1024 */
  maxQueued?: number
  onClose?: (channel: SwarmChannel, err?: Error) => void
  /** The clock request deadlines read (tests use a fake one). @default Date.now */
  now?: () => number
}

export interface RawAnswer { status: number, body: Uint8Array }

interface Pending {
  resolve: (answer: RawAnswer) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * The requesting side of one long-lived swarm stream to a peer: many requests
 * in flight at once, matched to answers by id, bounded (in flight, then a
 * bounded wait queue, then SwarmBusyError). One deadline covers the wait for a
 * slot, the write and the answer. Any protocol error from the peer closes the
 * channel and fails everything pending on it; the pool opens a new one.
 */
export class SwarmChannel {
  readonly peer: PeerId
  readonly stream: Stream
  private readonly log: Logger
  private readonly maxInflight: number
  private readonly maxQueued: number
  private readonly onClose?: (channel: SwarmChannel, err?: Error) => void
  private readonly now: () => number
  private readonly decoder = new FrameDecoder()
  private readonly pending = new Map<number, Pending>()
  private waiters: Array<{ wake: () => void, fail: (err: Error) => void }> = []
  private nextId = 1
  private closed = false

  constructor (stream: Stream, peer: PeerId, init: SwarmChannelInit) {
    this.stream = stream
    this.peer = peer
    this.log = init.log
    this.maxInflight = init.maxInflight ?? DEFAULT_CHANNEL_MAX_INFLIGHT
    this.maxQueued = init.maxQueued ?? DEFAULT_CHANNEL_MAX_QUEUED
    this.onClose = init.onClose
    this.now = init.now ?? Date.now
    stream.addEventListener('message', (evt) => { this.onData(evt.data) })
    stream.addEventListener('close', (evt) => { this.finish(evt.error) })
    stream.addEventListener('remoteCloseWrite', () => { this.abort(new SwarmChannelClosedError('peer closed the swarm stream')) })
  }

  get isOpen (): boolean {
    return !this.closed
  }

  get inflight (): number {
    return this.pending.size
  }

  /** Sends one request; resolves with the peer's status and body (any status). */
  async request (request: SwarmRequest, timeoutMs: number): Promise<RawAnswer> {
    const deadline = this.now() + timeoutMs
    if (this.pending.size >= this.maxInflight) await this.waitForSlot(timeoutMs)
    if (this.closed) throw new SwarmChannelClosedError()
    const id = this.allocateId()
    const frame = encodeFrame(encodeRequestMessage(id, request))
    const answer = new Promise<RawAnswer>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) {
          reject(new SwarmRequestTimeoutError(timeoutMs))
          this.wakeOne()
        }
      }, Math.max(1, deadline - this.now()))
      this.pending.set(id, { resolve, reject, timer })
    })
    // handled here so a failure while the write below is pending is not an unhandled rejection
    answer.catch(() => {})
    try {
      if (!this.stream.send(frame)) await this.stream.onDrain({ signal: AbortSignal.timeout(Math.max(1, deadline - this.now())) })
    } catch (err) {
      this.abort(new SwarmChannelClosedError(`writing to the swarm stream failed: ${(err as Error).message}`, { cause: err }))
    }
    return answer
  }

  /** Closes gracefully; requests in flight fail. */
  close (): void {
    if (this.closed) return
    this.stream.close().catch((err: Error) => { this.stream.abort(err) })
    this.finish()
  }

  abort (err: Error): void {
    if (!this.closed) this.stream.abort(err)
    this.finish(err)
  }

  private allocateId (): number {
    for (;;) {
      const id = this.nextId
      this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1
      if (!this.pending.has(id)) return id
    }
  }

  private async waitForSlot (timeoutMs: number): Promise<void> {
    if (this.waiters.length >= this.maxQueued) throw new SwarmBusyError()
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        wake: () => { clearTimeout(timer); resolve() },
        fail: (err: Error) => { clearTimeout(timer); reject(err) }
      }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter(w => w !== waiter)
        reject(new SwarmRequestTimeoutError(timeoutMs))
      }, timeoutMs)
      this.waiters.push(waiter)
    })
  }

  private wakeOne (): void {
    if (this.pending.size < this.maxInflight) this.waiters.shift()?.wake()
  }

  private onData (data: Uint8Array | Uint8ArrayList): void {
    if (this.closed) return
    try {
      for (const frame of this.decoder.push(data)) {
        const message = decodeMessage(frame)
        if (message.type !== 'response') throw new SwarmProtocolError('the responder sent a request')
        const pending = this.pending.get(message.id)
        // an unknown id is an answer that arrived after its deadline
        if (pending === undefined) continue
        this.pending.delete(message.id)
        clearTimeout(pending.timer)
        pending.resolve({ status: message.status, body: message.body })
        this.wakeOne()
      }
    } catch (err) {
      this.log('malformed swarm answer from %p - %e', this.peer, err)
      this.abort(err as Error)
    }
  }

  private finish (err?: Error): void {
    if (this.closed) return
    this.closed = true
    const reason = new SwarmChannelClosedError(err != null ? `swarm stream closed: ${err.message}` : 'swarm stream closed', err != null ? { cause: err } : undefined)
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(reason)
    }
    this.pending.clear()
    for (const w of this.waiters.splice(0)) w.fail(reason)
    this.onClose?.(this, err)
  }
}
