import { KEEP_ALIVE } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { ComponentLogger, Libp2pEvents, Logger, PeerId, PeerStore, Startable, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import { inBackground } from '../background.js'

export const DEFAULT_BOOTSTRAP_RETRY_MIN_MS = 1_000
export const DEFAULT_BOOTSTRAP_RETRY_MAX_MS = 60_000
const BOOTSTRAP_TAG = 'ghostnode-bootstrap'

export interface BootstrapperInit {
  /** Multiaddrs ending in /p2p/<peer id>. */
  list: string[]
  /** @default 1000 */
  retryMinMs?: number
  /** @default 60000 */
  retryMaxMs?: number
  /** Called when a dial to a bootstrap peer fails (for metrics). */
  onDialFailure?: () => void
}

export interface BootstrapperComponents {
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

interface Target { peerId: PeerId, addrs: Multiaddr[], failures: number, timer?: ReturnType<typeof setTimeout> }

/**
 * Dials the configured bootstrap peers and keeps them connected: a failed dial
 * or a lost connection is retried with exponential backoff and jitter, so nodes
 * of a testnet may start in any order. (libp2p's own bootstrap module dials once.)
 */
export class Bootstrapper implements Startable {
  private readonly components: BootstrapperComponents
  private readonly log: Logger
  private readonly targets = new Map<string, Target>()
  private readonly retryMinMs: number
  private readonly retryMaxMs: number
  private readonly onDialFailure?: () => void
  private running = false
  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const target = this.targets.get(evt.detail.toString())
    if (target != null && this.running) this.schedule(target, this.retryMinMs)
  }

  constructor (components: BootstrapperComponents, init: BootstrapperInit) {
    this.components = components
    this.log = components.logger.forComponent('ghostnode:bootstrap')
    this.retryMinMs = init.retryMinMs ?? DEFAULT_BOOTSTRAP_RETRY_MIN_MS
    this.retryMaxMs = init.retryMaxMs ?? DEFAULT_BOOTSTRAP_RETRY_MAX_MS
    this.onDialFailure = init.onDialFailure
    for (const target of targetsOf(init.list)) this.targets.set(target.peerId.toString(), target)
  }

  /**
   * A new bootstrap list (a config reload): peers no longer listed stop being
   * redialled (their connections stay, like any other peer's), new ones are
   * dialled now, and kept ones take the new addresses.
   */
  setList (list: string[]): void {
    const next = new Map(targetsOf(list).map(t => [t.peerId.toString(), t]))
    for (const [id, target] of this.targets) {
      if (next.has(id)) continue
      clearTimeout(target.timer)
      this.targets.delete(id)
    }
    for (const [id, target] of next) {
      const kept = this.targets.get(id)
      if (kept != null) {
        kept.addrs = target.addrs
        continue
      }
      this.targets.set(id, target)
      if (this.running) inBackground('bootstrap dial', this.dial(target), this.log)
    }
  }

  readonly [Symbol.toStringTag] = 'ghostnode:bootstrapper'

  /** Peer ids of the bootstrap peers (their own node is skipped). */
  peers (): PeerId[] {
    return [...this.targets.values()].map(t => t.peerId)
  }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
  }

  /** Dials only once the transports listen, so a dial-back works. */
  afterStart (): void {
    for (const target of this.targets.values()) {
      inBackground('bootstrap dial', this.dial(target), this.log)
    }
  }

  async stop (): Promise<void> {
    this.running = false
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    for (const target of this.targets.values()) {
      clearTimeout(target.timer)
      target.timer = undefined
    }
  }

  private schedule (target: Target, delayMs: number): void {
    clearTimeout(target.timer)
    target.timer = setTimeout(() => { inBackground('bootstrap dial', this.dial(target), this.log) }, delayMs)
    target.timer.unref?.()
  }

  private async dial (target: Target): Promise<void> {
    target.timer = undefined
    if (!this.running) return
    if (this.components.connectionManager.getConnections(target.peerId).length > 0) {
      target.failures = 0
      return
    }
    try {
      await this.components.peerStore.merge(target.peerId, {
        multiaddrs: target.addrs,
        tags: { [BOOTSTRAP_TAG]: { value: 50 }, [KEEP_ALIVE]: { value: 1 } }
      })
      await this.components.connectionManager.openConnection(target.addrs)
      target.failures = 0
      this.log('connected to bootstrap peer %p', target.peerId)
    } catch (err) {
      if (!this.running) return
      target.failures++
      this.onDialFailure?.()
      const backoff = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(target.failures - 1, 20))
      const delay = Math.round(backoff * (0.75 + Math.random() * 0.5))
      this.log('bootstrap peer %p unreachable (attempt %d), retrying in %d ms - %e', target.peerId, target.failures, delay, err)
      this.schedule(target, delay)
    }
  }
}

/** One target per bootstrap peer, its addresses gathered (entries without /p2p/ are skipped: config validation requires it). */
function targetsOf (list: string[]): Target[] {
  const targets = new Map<string, Target>()
  for (const addr of list) {
    const ma = multiaddr(addr)
    const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
    if (id == null) continue
    const peerId = peerIdFromString(id)
    const existing = targets.get(peerId.toString())
    if (existing != null) existing.addrs.push(ma)
    else targets.set(peerId.toString(), { peerId, addrs: [ma], failures: 0 })
  }
  return [...targets.values()]
}

export function bootstrapper (init: BootstrapperInit): (components: BootstrapperComponents) => Bootstrapper {
  return (components) => new Bootstrapper(components, init)
}
