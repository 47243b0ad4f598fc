import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import type { ComponentLogger, Connection, Logger, PeerId, PeerStore, Startable, Stream } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import { inBackground } from '../background.js'
import { GhostnodeError } from '../errors.js'
import { dialsBackAs } from '../membership/dial-back.js'
import { ipScope } from '../ratelimit/ip-prefix.js'

/**
 * The reachability self-test (docs/protocol.md §12): a node asks a few of its
 * peers to dial its announced TCP addresses back over a fresh connection, and
 * learns whether the rest of the network can reach it (Tor's ORPort
 * self-test; libp2p's AutoNAT is the same idea). A peer dials only addresses
 * on the IP the request came from, so nobody can use it to dial a third party,
 * answers each peer at most once a minute, and runs few dials at a time.
 */
export const REACHABILITY_PROTOCOL = '/ghostnode/reachability/1.0.0'

const VERSION = 1
const MAX_ADDRS = 8
const MAX_ADDR_BYTES = 256
const MAX_REQUEST_BYTES = 2 + MAX_ADDRS * (2 + MAX_ADDR_BYTES)
const STREAM_TIMEOUT_MS = 20_000
const DIAL_TIMEOUT_MS = 10_000
/** A peer gets one answer per this long; a request within it is refused (RATE_LIMITED). */
export const REACHABILITY_MIN_INTERVAL_MS = 60_000
const MAX_CONCURRENT_CHECKS = 4
const MAX_REMEMBERED_PEERS = 4096
/** Peers asked per check. */
const PEERS_PER_CHECK = 3
/** While there is no verdict, the next check comes this soon. */
const UNKNOWN_RETRY_MS = 10_000
/** A request whose connection went away (two crossing first dials: libp2p closes one) is retried this much later, once. */
const ASK_RETRY_MS = 500

export const DialBackResult = {
  REACHED: 0,
  UNREACHABLE: 1,
  /** Not on the IP the request came from, not TCP, or unsupported: not dialled. */
  REFUSED: 2,
  RATE_LIMITED: 3
} as const
export type DialBackResult = typeof DialBackResult[keyof typeof DialBackResult]

export class ReachabilityFrameError extends GhostnodeError {
  constructor (reason: string) {
    super(`bad reachability frame: ${reason}`, 'ERR_REACHABILITY_FRAME')
  }
}

/** `version u8 | count u8 | (len u16 | multiaddr bytes) × count` */
export function encodeDialBackRequest (addrs: Multiaddr[]): Uint8Array {
  const parts = addrs.slice(0, MAX_ADDRS).map(a => a.bytes)
  const out = new Uint8Array(2 + parts.reduce((n, p) => n + 2 + p.byteLength, 0))
  out[0] = VERSION
  out[1] = parts.length
  let at = 2
  for (const p of parts) {
    out[at] = p.byteLength >> 8
    out[at + 1] = p.byteLength & 0xff
    out.set(p, at + 2)
    at += 2 + p.byteLength
  }
  return out
}

export function decodeDialBackRequest (bytes: Uint8Array): Multiaddr[] {
  if (bytes.byteLength < 2 || bytes[0] !== VERSION) throw new ReachabilityFrameError('unknown version')
  const count = bytes[1]
  if (count > MAX_ADDRS) throw new ReachabilityFrameError(`more than ${MAX_ADDRS} addresses`)
  const addrs: Multiaddr[] = []
  let at = 2
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.byteLength) throw new ReachabilityFrameError('truncated')
    const len = (bytes[at] << 8) | bytes[at + 1]
    if (len > MAX_ADDR_BYTES || at + 2 + len > bytes.byteLength) throw new ReachabilityFrameError('address too long or truncated')
    try {
      addrs.push(multiaddr(bytes.subarray(at + 2, at + 2 + len)))
    } catch {
      throw new ReachabilityFrameError('not a multiaddr')
    }
    at += 2 + len
  }
  if (at !== bytes.byteLength) throw new ReachabilityFrameError('trailing bytes')
  return addrs
}

/** `version u8 | count u8 | result u8 × count` */
export function encodeDialBackReply (results: DialBackResult[]): Uint8Array {
  return Uint8Array.from([VERSION, results.length, ...results])
}

export function decodeDialBackReply (bytes: Uint8Array, expected: number): DialBackResult[] {
  if (bytes.byteLength !== 2 + expected || bytes[0] !== VERSION || bytes[1] !== expected) throw new ReachabilityFrameError('reply does not match the request')
  const results = [...bytes.subarray(2)]
  if (results.some(r => r > DialBackResult.RATE_LIMITED)) throw new ReachabilityFrameError('unknown result')
  return results as DialBackResult[]
}

/** The IP an address names, when it is a plain ip4/ip6 + tcp address (nothing else is dialled back). */
function tcpHost (addr: Multiaddr): string | undefined {
  const c = addr.getComponents()
  if (c.length < 2 || (c[0].name !== 'ip4' && c[0].name !== 'ip6') || c[1].name !== 'tcp') return undefined
  if (c.slice(2).some(x => x.name !== 'p2p')) return undefined
  return c[0].value
}

export type ReachabilityStatus = 'unknown' | 'reachable' | 'unreachable'

export interface ReachabilityState {
  status: ReachabilityStatus
  /** Epoch ms of the last check that got an answer (null: none yet). */
  checkedAt: number | null
  /** Addresses a peer reached in that check. */
  reached: string[]
  /** Peers that answered in that check. */
  answeredBy: number
}

export interface ReachabilityInit {
  /** First check this long after start (peers need time to connect). */
  startupDelayMs: number
  /** Then one check this often; 0 turns the self-test off (the node still answers others). */
  intervalMs: number
  onChange?: (state: ReachabilityState) => void
  now?: () => number
}

export interface ReachabilityComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  addressManager: AddressManager
  peerStore: PeerStore
  peerId: PeerId
  logger: ComponentLogger
}

export class ReachabilityService implements Startable {
  private readonly components: ReachabilityComponents
  private readonly init: ReachabilityInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly answered = new Map<string, number>()
  private checksRunning = 0
  private timer?: ReturnType<typeof setTimeout>
  private running = false
  private current: ReachabilityState = { status: 'unknown', checkedAt: null, reached: [], answeredBy: 0 }

  constructor (components: ReachabilityComponents, init: ReachabilityInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('ghostnode:reachability')
    this.now = init.now ?? Date.now
  }

  readonly [Symbol.toStringTag] = 'ghostnode:reachability'

  get state (): ReachabilityState {
    return this.current
  }

  async start (): Promise<void> {
    this.running = true
    await this.components.registrar.handle(REACHABILITY_PROTOCOL, (stream, connection) => {
      inBackground('answering a reachability request', this.answer(stream, connection), this.log)
    }, { maxInboundStreams: 2, maxOutboundStreams: 2 })
  }

  afterStart (): void {
    if (this.init.intervalMs > 0) this.schedule(this.init.startupDelayMs)
  }

  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.components.registrar.unhandle(REACHABILITY_PROTOCOL)
  }

  private schedule (delayMs: number): void {
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      inBackground('reachability self-test', this.check().finally(() => {
        // no verdict yet (no peer, or none could answer): try again soon rather than in half an hour
        if (this.running) this.schedule(this.current.status === 'unknown' ? Math.min(this.init.intervalMs, UNKNOWN_RETRY_MS) : this.init.intervalMs)
      }), this.log)
    }, delayMs)
    this.timer.unref?.()
  }

  /** Asks up to three connected peers that speak the protocol to dial this node's TCP addresses back. */
  async check (): Promise<ReachabilityState> {
    const addrs = this.components.addressManager.getAddresses()
      .map(a => a.decapsulateCode(421)) // drop /p2p/<self>
      .filter(a => tcpHost(a) !== undefined)
    if (addrs.length === 0) return this.current
    const peers: PeerId[] = []
    for (const conn of this.components.connectionManager.getConnections()) {
      if (peers.some(p => p.equals(conn.remotePeer))) continue
      const known = await this.components.peerStore.get(conn.remotePeer).catch(() => undefined)
      if (known?.protocols.includes(REACHABILITY_PROTOCOL) === true) peers.push(conn.remotePeer)
    }
    const asked = peers.sort(() => Math.random() - 0.5).slice(0, PEERS_PER_CHECK)
    const answers = await Promise.all(asked.map(async (peer) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.ask(peer, addrs)
        } catch (err) {
          this.log('asking %p for a dial-back failed - %e', peer, err)
          if (attempt > 0 || !this.running) return undefined
          await new Promise(resolve => setTimeout(resolve, ASK_RETRY_MS))
        }
      }
    }))
    const tested = answers.filter((r): r is DialBackResult[] => r != null && r.some(x => x === DialBackResult.REACHED || x === DialBackResult.UNREACHABLE))
    if (tested.length === 0) return this.current
    const reached = addrs.filter((_, i) => tested.some(r => r[i] === DialBackResult.REACHED)).map(String)
    this.update({ status: reached.length > 0 ? 'reachable' : 'unreachable', checkedAt: this.now(), reached, answeredBy: tested.length })
    return this.current
  }

  private update (next: ReachabilityState): void {
    const changed = next.status !== this.current.status || next.reached.join() !== this.current.reached.join()
    this.current = next
    if (changed) this.init.onChange?.(next)
  }

  private async ask (peer: PeerId, addrs: Multiaddr[]): Promise<DialBackResult[]> {
    const signal = AbortSignal.timeout(STREAM_TIMEOUT_MS)
    const stream = await this.components.connectionManager.openStream(peer, REACHABILITY_PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
      const sent = addrs.slice(0, MAX_ADDRS)
      await lp.write(encodeDialBackRequest(sent), { signal })
      const reply = decodeDialBackReply((await lp.read({ signal })).subarray(), sent.length)
      await stream.close({ signal })
      return reply
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  /** Responder: dials back what is on the requester's own IP, once a minute per peer, a few at a time. */
  private async answer (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(STREAM_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    try {
      const addrs = decodeDialBackRequest((await lp.read({ signal })).subarray())
      const peer = connection.remotePeer
      const last = this.answered.get(peer.toString()) ?? 0
      if (this.now() - last < REACHABILITY_MIN_INTERVAL_MS || this.checksRunning >= MAX_CONCURRENT_CHECKS) {
        await lp.write(encodeDialBackReply(addrs.map(() => DialBackResult.RATE_LIMITED)), { signal })
        await stream.close({ signal })
        return
      }
      this.remember(peer.toString())
      const from = tcpHost(connection.remoteAddr) ?? connection.remoteAddr.getComponents()[0]?.value
      this.checksRunning++
      let results: DialBackResult[]
      try {
        results = []
        for (const addr of addrs) results.push(await this.dialBack(peer, addr, from))
      } finally {
        this.checksRunning--
      }
      await lp.write(encodeDialBackReply(results), { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  private async dialBack (peer: PeerId, addr: Multiaddr, from: string | undefined): Promise<DialBackResult> {
    const host = tcpHost(addr)
    // only the requester's own IP: otherwise anyone could have this node dial a third party
    if (host === undefined || from === undefined || host !== from || ipScope(host) === 'unspecified' || ipScope(host) === 'invalid') return DialBackResult.REFUSED
    const p2p = addr.getComponents().find(c => c.name === 'p2p')?.value
    if (p2p != null && p2p !== peer.toString()) return DialBackResult.REFUSED
    return await dialsBackAs(this.components.connectionManager, addr, peer, DIAL_TIMEOUT_MS) ? DialBackResult.REACHED : DialBackResult.UNREACHABLE
  }

  private remember (peer: string): void {
    this.answered.delete(peer)
    this.answered.set(peer, this.now())
    if (this.answered.size > MAX_REMEMBERED_PEERS) this.answered.delete(this.answered.keys().next().value as string)
  }
}

export function reachability (init: ReachabilityInit): (components: ReachabilityComponents) => ReachabilityService {
  return (components) => new ReachabilityService(components, init)
}
