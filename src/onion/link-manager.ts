import { LinkClosedError } from './circuit-errors.js'
import { cellBytes, LINK_PROTOCOL, Link, type LinkEvents, type LinkOptions } from './link.js'
import { MemoryShedError } from './link-errors.js'
import type { Cell } from './cell.js'
import type { MemoryGuard } from '../memory/guard.js'
import type { AbortOptions, ComponentLogger, Connection, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

export const DEFAULT_LINK_OPEN_TIMEOUT_MS = 10_000
/** Link streams per connection: one each way is normal; a little slack for races. */
const MAX_LINK_STREAMS = 4

export interface LinkManagerComponents {
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
}

export interface LinkManagerInit extends LinkOptions {
  /** Accept inbound link streams (relays do; a client does not). @default true */
  acceptInbound?: boolean
  /** @default 10000 */
  openTimeoutMs?: number
  /** The memory watchdog: while it reports pressure, inbound link streams are refused. */
  memory?: MemoryGuard
}

/** Taps on what crosses the links, for tests and diagnostics. Never given cleartext beyond the link. */
export interface LinkTap {
  /** A cell as it arrived, before any processing (the bytes are a copy). */
  received?: (peer: PeerId, cell: Uint8Array) => void
  /** One stream write (one or more whole cells). */
  written?: (peer: PeerId, bytes: Uint8Array) => void
}

/** What the owner of the links (the relay or the client) handles. */
export interface LinkHandler {
  onCell: (link: Link, cell: Cell) => void
  onLinkClose: (link: Link, err?: Error) => void
  onChunk?: (link: Link, bytes: number) => void
  onMalformed?: (link: Link, err: Error) => void
}

/**
 * Keeps at most one outbound link per neighbour (plus whatever links they
 * opened to us) and hands every cell to one handler. Links are reused for all
 * circuits to that neighbour; a link is opened on first use.
 */
export class LinkManager implements Startable {
  private readonly components: LinkManagerComponents
  private readonly init: LinkManagerInit
  private readonly log: Logger
  private readonly links = new Map<string, Set<Link>>()
  private readonly opening = new Map<string, Promise<Link>>()
  private handler?: LinkHandler
  private resolveAddrs?: (peer: PeerId, options: AbortOptions) => Promise<Multiaddr[]>
  private tapListener?: LinkTap
  private running = false
  private readonly linkEvents: LinkEvents = {
    onCell: (link, cell) => {
      this.tapListener?.received?.(link.remotePeer, cellBytes(cell).slice())
      this.handler?.onCell(link, cell)
    },
    onWrite: (link, bytes) => { this.tapListener?.written?.(link.remotePeer, bytes.slice()) },
    onChunk: (link, bytes) => { this.handler?.onChunk?.(link, bytes) },
    onClose: (link, err) => {
      const set = this.links.get(link.remotePeer.toString())
      set?.delete(link)
      if (set?.size === 0) this.links.delete(link.remotePeer.toString())
      this.handler?.onLinkClose(link, err)
    },
    onMalformed: (link, err) => { this.handler?.onMalformed?.(link, err) }
  }

  constructor (components: LinkManagerComponents, init: LinkManagerInit = {}) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('ghostnode:link')
  }

  readonly [Symbol.toStringTag] = 'ghostnode:link-manager'

  setHandler (handler: LinkHandler): void {
    this.handler = handler
  }

  /** True once a cell handler is installed: the node installs it before the link protocol accepts a stream. */
  get hasHandler (): boolean {
    return this.handler !== undefined
  }

  /** Installs (or with undefined removes) a tap on every link. */
  tap (listener: LinkTap | undefined): void {
    this.tapListener = listener
  }

  /**
   * Where to find a neighbour's addresses (the directory's verified records).
   * Dials name the peer id, so Noise proves the far end is that peer.
   */
  setAddressResolver (resolve: (peer: PeerId, options: AbortOptions) => Promise<Multiaddr[]>): void {
    this.resolveAddrs = resolve
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    if (this.init.acceptInbound !== false) {
      await this.components.registrar.handle(LINK_PROTOCOL, (stream, connection) => { this.onInbound(stream, connection) }, {
        maxInboundStreams: MAX_LINK_STREAMS,
        maxOutboundStreams: MAX_LINK_STREAMS
      })
    }
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.init.acceptInbound !== false) await this.components.registrar.unhandle(LINK_PROTOCOL)
    for (const link of this.all()) link.abort(new LinkClosedError('node stopping'))
    this.links.clear()
  }

  /** Every open link. */
  all (): Link[] {
    return [...this.links.values()].flatMap(set => [...set])
  }

  /** Returns an open link to `peer`, opening one (and a connection) if needed. */
  async getLink (peer: PeerId, options: AbortOptions = {}): Promise<Link> {
    const key = peer.toString()
    const existing = this.openLinkTo(key)
    if (existing != null) return existing
    let pending = this.opening.get(key)
    if (pending == null) {
      pending = this.open(peer, options).finally(() => { this.opening.delete(key) })
      this.opening.set(key, pending)
    }
    return pending
  }

  /** An open link to the peer, if there is one (no dial, no wait). */
  openLink (peer: PeerId): Link | undefined {
    return this.openLinkTo(peer.toString())
  }

  private openLinkTo (key: string): Link | undefined {
    for (const link of this.links.get(key) ?? []) {
      if (link.isOpen) return link
    }
    return undefined
  }

  private async open (peer: PeerId, options: AbortOptions): Promise<Link> {
    if (!this.running) throw new LinkClosedError('link manager is stopped')
    const signal = AbortSignal.any([AbortSignal.timeout(this.init.openTimeoutMs ?? DEFAULT_LINK_OPEN_TIMEOUT_MS), ...(options.signal != null ? [options.signal] : [])])
    let stream: Stream
    try {
      const connected = this.components.connectionManager.getConnections(peer).length > 0
      const known = connected ? [] : await this.resolveAddrs?.(peer, { signal }) ?? []
      const target = known.length > 0
        ? known.map(ma => ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${peer.toString()}`))
        : peer
      const connection = await this.components.connectionManager.openConnection(target, { signal })
      stream = await connection.newStream(LINK_PROTOCOL, { signal, maxOutboundStreams: MAX_LINK_STREAMS })
    } catch (err) {
      throw new LinkClosedError(`cannot open a link: ${(err as Error).message}`, { cause: err })
    }
    const link = this.add(stream, peer, true)
    if (link == null) throw new LinkClosedError('cannot open a link: the stream closed as it opened')
    return link
  }

  private onInbound (stream: Stream, connection: Connection): void {
    if (!this.running) {
      stream.abort(new LinkClosedError('node stopping'))
      return
    }
    if (this.init.memory?.underPressure === true) {
      // a new link is new queues to fill: not while the process is near its memory bound
      this.init.memory.shed('link_refused')
      stream.abort(new MemoryShedError('link refused: the node is short of memory'))
      return
    }
    this.add(stream, connection.remotePeer, false)
  }

  /** The new link, or undefined when its stream had already closed. */
  private add (stream: Stream, peer: PeerId, initiator: boolean): Link | undefined {
    const link = new Link(stream, peer, initiator, this.linkEvents, this.log, this.init)
    if (!link.isOpen) return undefined
    const key = peer.toString()
    let set = this.links.get(key)
    if (set == null) {
      set = new Set()
      this.links.set(key, set)
    }
    set.add(link)
    this.log.trace('%s link open (%d total)', initiator ? 'outbound' : 'inbound', this.all().length)
    return link
  }
}

export function linkManager (init: LinkManagerInit = {}): (components: LinkManagerComponents) => LinkManager {
  return (components) => new LinkManager(components, init)
}
