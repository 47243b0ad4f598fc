import type { ComponentLogger, Libp2pEvents, Logger, PeerId, PeerInfo, PeerRouting, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { inBackground } from '../background.js'

export const DEFAULT_DISCOVERY_INTERVAL_MS = 30_000
export const DEFAULT_TARGET_PEERS = 16
const LOOKUP_TIMEOUT_MS = 20_000

export interface PeerConnectorInit {
  /** Dial discovered peers until this many are connected. @default 16 */
  targetPeers?: number
  /** Interval between DHT self-lookups. @default 30000 */
  intervalMs?: number
  /** Deadline for one discovery dial. */
  dialTimeoutMs?: number
  /** Counts lookups by outcome (for metrics). */
  onLookup?: (outcome: 'ok' | 'error') => void
}

export interface PeerConnectorComponents {
  peerId: PeerId
  peerRouting: PeerRouting
  connectionManager: ConnectionManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/**
 * libp2p 3 no longer auto-dials: this loop looks the node itself up in the
 * DHT (which returns the peers closest to it) on a timer and right after the
 * first connection, and dials what it finds until `targetPeers` are connected.
 */
export class PeerConnector implements Startable {
  private readonly components: PeerConnectorComponents
  private readonly log: Logger
  private readonly targetPeers: number
  private readonly intervalMs: number
  private readonly dialTimeoutMs: number
  private readonly onLookup?: (outcome: 'ok' | 'error') => void
  private timer?: ReturnType<typeof setInterval>
  private shutdown?: AbortController
  private lookupRunning = false
  private readonly dialing = new Set<string>()
  private readonly onConnect = (): void => {
    // the first connection gives the DHT someone to ask
    if (this.components.connectionManager.getConnections().length === 1) inBackground('peer lookup', this.lookup(), this.log)
  }

  private readonly onDiscovery = (evt: CustomEvent<PeerInfo>): void => {
    inBackground('dialing a discovered peer', this.maybeDial(evt.detail), this.log)
  }

  constructor (components: PeerConnectorComponents, init: PeerConnectorInit = {}) {
    this.components = components
    this.log = components.logger.forComponent('ghostnode:discovery')
    this.targetPeers = init.targetPeers ?? DEFAULT_TARGET_PEERS
    this.intervalMs = init.intervalMs ?? DEFAULT_DISCOVERY_INTERVAL_MS
    this.dialTimeoutMs = init.dialTimeoutMs ?? 10_000
    this.onLookup = init.onLookup
  }

  readonly [Symbol.toStringTag] = 'ghostnode:peer-connector'

  start (): void {
    if (this.shutdown != null) return
    this.shutdown = new AbortController()
    this.components.events.addEventListener('peer:connect', this.onConnect)
    this.components.events.addEventListener('peer:discovery', this.onDiscovery)
  }

  afterStart (): void {
    this.timer = setInterval(() => { inBackground('peer lookup', this.lookup(), this.log) }, this.intervalMs)
    this.timer.unref?.()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.shutdown?.abort()
    this.shutdown = undefined
    this.components.events.removeEventListener('peer:connect', this.onConnect)
    this.components.events.removeEventListener('peer:discovery', this.onDiscovery)
  }

  private needsPeers (): boolean {
    return this.components.connectionManager.getConnections().length < this.targetPeers
  }

  /** Runs one DHT self-lookup and dials the peers it returns (one lookup at a time). */
  async lookup (): Promise<void> {
    const shutdown = this.shutdown
    if (shutdown == null || this.lookupRunning || !this.needsPeers()) return
    if (this.components.connectionManager.getConnections().length === 0) return
    this.lookupRunning = true
    try {
      const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(LOOKUP_TIMEOUT_MS)])
      for await (const peer of this.components.peerRouting.getClosestPeers(this.components.peerId.toMultihash().bytes, { signal })) {
        await this.maybeDial(peer)
      }
      this.onLookup?.('ok')
    } catch (err) {
      if (!shutdown.signal.aborted) {
        this.onLookup?.('error')
        this.log('DHT self-lookup failed - %e', err)
      }
    } finally {
      this.lookupRunning = false
    }
  }

  private async maybeDial (peer: PeerInfo): Promise<void> {
    const key = peer.id.toString()
    if (this.shutdown == null || peer.id.equals(this.components.peerId) || this.dialing.has(key) || !this.needsPeers()) return
    if (this.components.connectionManager.getConnections(peer.id).length > 0) return
    this.dialing.add(key)
    try {
      const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.dialTimeoutMs)])
      await this.components.connectionManager.openConnection(peer.multiaddrs.length > 0 ? peer.multiaddrs : peer.id, { signal })
      this.log('connected to discovered peer %p', peer.id)
    } catch (err) {
      this.log.trace('could not dial discovered peer %p - %e', peer.id, err)
    } finally {
      this.dialing.delete(key)
    }
  }
}

export function peerConnector (init: PeerConnectorInit = {}): (components: PeerConnectorComponents) => PeerConnector {
  return (components) => new PeerConnector(components, init)
}
