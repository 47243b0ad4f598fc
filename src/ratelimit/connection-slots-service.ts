import { peerIdFromString } from '@libp2p/peer-id'
import { ipPrefixKey } from './ip-prefix.js'
import type { ConnectionSlots, SlotConnection } from './connection-slots.js'
import type { StreamGuard } from './stream-guard.js'
import type { ComponentLogger, Connection, Libp2pEvents, Logger, Startable, TypedEventTarget } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { ConnectionManager } from '@libp2p/interface-internal'

/** How often idle connections are pruned when the node is near connections.max. */
export const DEFAULT_CONNECTION_SWEEP_INTERVAL_MS = 2_000

export interface ConnectionSlotsComponents {
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

export interface ConnectionSlotsServiceInit {
  slots: ConnectionSlots
  /** Closes the connections of a peer it reports for failed negotiations. */
  guard?: StreamGuard
  /** @default 2000 */
  sweepIntervalMs?: number
}

/**
 * Keeps connection slots for those who use them, as a libp2p service: each
 * inbound connection that opens is weighed by `ConnectionSlots` (its prefix's
 * cap, room near connections.max) and closed if refused; idle connections are
 * pruned on a timer; and the stream guard's abusers are disconnected.
 */
export class ConnectionSlotsService implements Startable {
  private readonly components: ConnectionSlotsComponents
  private readonly init: ConnectionSlotsServiceInit
  private readonly log: Logger
  private timer?: ReturnType<typeof setInterval>

  constructor (components: ConnectionSlotsComponents, init: ConnectionSlotsServiceInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('ghostnode:connection-slots')
  }

  readonly [Symbol.toStringTag] = 'ghostnode:connection-slots'

  start (): void {
    if (this.timer !== undefined) return
    this.components.events.addEventListener('connection:open', this.onOpen)
    this.timer = setInterval(() => { this.init.slots.sweep(this.open()) }, this.init.sweepIntervalMs ?? DEFAULT_CONNECTION_SWEEP_INTERVAL_MS)
    this.timer.unref?.()
    this.init.guard?.setCloser((peer) => {
      void this.components.connectionManager.closeConnections(peerIdFromString(peer)).catch((err: Error) => { this.log('closing the connections of %s failed - %e', peer, err) })
    })
  }

  stop (): void {
    this.components.events.removeEventListener('connection:open', this.onOpen)
    clearInterval(this.timer)
    this.timer = undefined
  }

  private readonly onOpen = (evt: CustomEvent<Connection>): void => {
    const conn = evt.detail
    if (conn.direction !== 'inbound') return
    const others = this.open().filter(c => c.connection !== conn)
    if (this.init.slots.admit(conn.remotePeer.toString(), prefixOf(conn.remoteAddr), others) === 'refuse') {
      this.log('refused a connection: its prefix is at its cap and none of its connections is idle')
      conn.abort(new Error('connection refused: its network prefix is at connections.maxPerPrefix'))
    }
  }

  /** The open connections as slot keeping sees them. */
  private open (): Array<SlotConnection & { connection: Connection }> {
    return this.components.connectionManager.getConnections().map(c => ({
      connection: c,
      remotePeer: c.remotePeer.toString(),
      prefix: prefixOf(c.remoteAddr),
      opened: c.timeline.open,
      streams: c.streams.length,
      close: () => { void c.close().catch(() => { c.abort(new Error('pruned')) }) }
    }))
  }
}

function prefixOf (addr: Multiaddr): string | undefined {
  try {
    return ipPrefixKey(addr)
  } catch {
    return undefined // not an IP transport
  }
}

/** libp2p-style factory: `services: { slots: connectionSlotsService({ slots, guard }) }`. */
export function connectionSlotsService (init: ConnectionSlotsServiceInit): (components: ConnectionSlotsComponents) => ConnectionSlotsService {
  return (components) => new ConnectionSlotsService(components, init)
}
