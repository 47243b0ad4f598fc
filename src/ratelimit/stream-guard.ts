import { Counter, type Registry } from 'prom-client'
import { TokenBucket } from './token-bucket.js'
import type { Stream, StreamMuxer, StreamMuxerFactory } from '@libp2p/interface'

/** Inbound streams a connection may open per second, and in a burst. */
export const DEFAULT_STREAM_OPENS_PER_SECOND = 32
export const DEFAULT_STREAM_OPEN_BURST = 256
/** Inbound streams on one connection that may end without a protocol agreed, in a burst (refilled one per 10 s), before the connection is closed. */
export const DEFAULT_MAX_FAILED_NEGOTIATIONS = 64
const FAILED_NEGOTIATIONS_PER_SECOND = 0.1

export interface StreamGuardInit {
  now: () => number
  /** @default 32 */
  opensPerSecond?: number
  /** @default 256 */
  burst?: number
  /** @default 64 */
  maxFailedNegotiations?: number
  /** A connection's peer opened streams past its budget or failed too many negotiations (the caller penalises it). */
  onAbuse?: (peer: string, reason: 'stream_flood' | 'failed_negotiations') => void
  /** The node's registry. */
  registry: Registry
}

type Listener = ((evt: Event) => void) | { handleEvent: (evt: Event) => void }
/** The muxer's EventTarget methods, as the wrapper replaces them. */
interface ListenerTarget {
  addEventListener: (type: string, listener: Listener | null, options?: unknown) => void
  removeEventListener: (type: string, listener: Listener | null, options?: unknown) => void
}

interface MuxerState {
  muxer: StreamMuxer
  bucket: TokenBucket
  failed: TokenBucket
  floods: number
  peer?: string
  closed: boolean
}

/**
 * Inbound streams cost their opener, per connection: multistream-select
 * negotiation, a protocol the node does not speak, is work a peer can ask for
 * at no cost of its own (5,000 negotiations once cost 1.35 s of CPU). Each
 * connection's inbound streams are drawn from a token bucket (over it, a new
 * stream is reset before negotiation starts), and a connection whose streams
 * keep ending without an agreed protocol is closed and its peer reported.
 *
 * It wraps the stream muxer factory. The peer is bound by the connection
 * gater's upgraded-connection check, which libp2p runs right after it creates
 * the muxer for that connection (`bindPeer`).
 */
export class StreamGuard {
  private readonly init: StreamGuardInit
  private readonly unbound: MuxerState[] = []
  private closer?: (peer: string) => void
  private readonly refused: Counter<'reason'>

  constructor (init: StreamGuardInit) {
    this.init = init
    const registers = [init.registry]
    this.refused = new Counter({ name: 'ghostnode_inbound_streams_refused_total', help: 'Inbound streams reset, by reason (rate: over the connection\'s stream budget; negotiation: the connection closed after too many streams without an agreed protocol)', labelNames: ['reason'], registers })
    for (const reason of ['rate', 'negotiation']) this.refused.inc({ reason }, 0)
  }

  /** Wraps a libp2p stream muxer (e.g. `guard.wrap(yamux())`). */
  wrap<C> (inner: (components: C) => StreamMuxerFactory): (components: C) => StreamMuxerFactory {
    return (components) => {
      const factory = inner(components)
      return {
        protocol: factory.protocol,
        createStreamMuxer: (maConn) => {
          const muxer = factory.createStreamMuxer(maConn)
          this.watch(muxer)
          return muxer
        }
      }
    }
  }

  /** How to close a peer's connections once it failed too many negotiations (the node's connection manager). */
  setCloser (close: (peer: string) => void): void {
    this.closer = close
  }

  /** The connection whose muxer was created last belongs to `peer` (see the class comment). */
  bindPeer (peer: string): void {
    const state = this.unbound.pop()
    this.unbound.length = 0
    if (state !== undefined) state.peer = peer
  }

  private watch (muxer: StreamMuxer): void {
    const state: MuxerState = {
      muxer,
      bucket: new TokenBucket({ ratePerSecond: this.init.opensPerSecond ?? DEFAULT_STREAM_OPENS_PER_SECOND, burst: this.init.burst ?? DEFAULT_STREAM_OPEN_BURST, now: this.init.now }),
      failed: new TokenBucket({ ratePerSecond: FAILED_NEGOTIATIONS_PER_SECOND, burst: this.init.maxFailedNegotiations ?? DEFAULT_MAX_FAILED_NEGOTIATIONS, now: this.init.now }),
      floods: 0,
      closed: false
    }
    this.unbound.push(state)
    // The connection's own 'stream' listener is wrapped rather than a listener of ours added: a muxer
    // holds the streams that arrive before any listener exists and hands them to the first one added,
    // which must be the connection's. The guard runs first; a refused stream never reaches negotiation.
    const target = muxer as unknown as ListenerTarget
    const add = target.addEventListener.bind(muxer)
    const remove = target.removeEventListener.bind(muxer)
    const wrapped = new WeakMap<Listener, Listener>()
    target.addEventListener = (type, listener, options) => {
      if (type !== 'stream' || listener == null) {
        add(type, listener, options)
        return
      }
      const call = typeof listener === 'function' ? listener : (evt: Event) => { listener.handleEvent(evt) }
      const inner = (evt: Event): void => {
        if (this.admit(state, (evt as CustomEvent<Stream>).detail)) call(evt)
      }
      wrapped.set(listener, inner)
      add('stream', inner, options)
    }
    target.removeEventListener = (type, listener, options) => {
      remove(type, type === 'stream' && listener != null ? wrapped.get(listener) ?? listener : listener, options)
    }
  }

  /** Charges an inbound stream to its connection; false when it was refused (and reset). */
  private admit (state: MuxerState, stream: Stream): boolean {
    if (!state.bucket.tryTake(1)) {
      this.refused.inc({ reason: 'rate' })
      stream.abort(new Error('too many inbound streams on this connection'))
      // one report per 64 refused streams: a penalty each would ban on one burst
      if (state.peer !== undefined && state.floods++ % 64 === 0) this.init.onAbuse?.(state.peer, 'stream_flood')
      return false
    }
    stream.addEventListener('close', () => {
      // a stream that ends with no protocol agreed was a failed (or abandoned) negotiation
      if (stream.protocol != null && stream.protocol !== '') return
      if (state.failed.tryTake(1) || state.closed) return
      state.closed = true
      this.refused.inc({ reason: 'negotiation' })
      state.muxer.abort(new Error('too many inbound streams without an agreed protocol'))
      if (state.peer !== undefined) {
        this.init.onAbuse?.(state.peer, 'failed_negotiations')
        // the muxer is aborted; the connection under it goes too
        this.closer?.(state.peer)
      }
    })
    return true
  }
}
