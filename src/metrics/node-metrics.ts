import { Counter, Gauge, Registry } from 'prom-client'
import { VERSION } from '../version.js'

export type ConnectionDirection = 'inbound' | 'outbound'
export type LookupOutcome = 'ok' | 'error'

export interface NodeMetricsSource {
  /** Distinct connected peers now. */
  connectedPeers: () => number
  /** Open connections now. */
  openConnections: () => number
  ready: () => boolean
  uptimeSeconds: () => number
  /** The reputation tier of each connected peer (one entry per distinct peer). */
  connectedPeerTiers: () => string[]
  /** The reachability self-test's verdict. */
  reachability: () => 'unknown' | 'reachable' | 'unreachable'
}

const TIERS = ['low', 'neutral', 'high'] as const

/**
 * The node-level ghostnode metrics. The counters exist from the start (the
 * discovery services count into them); the gauges read the running node at
 * scrape time, so the node registers them (`observe`) once it exists.
 */
export class NodeMetrics {
  readonly connectionsOpened: Counter<'direction'>
  readonly bootstrapDialFailures: Counter
  readonly discoveryLookups: Counter<'outcome'>
  private readonly registry: Registry

  constructor (registry: Registry) {
    this.registry = registry
    const registers = [registry]
    new Gauge({ name: 'ghostnode_node_info', help: 'Constant 1, labelled with the running version', labelNames: ['version'], registers })
      .set({ version: VERSION }, 1)
    this.connectionsOpened = new Counter({ name: 'ghostnode_node_connections_opened_total', help: 'Connections opened, by direction', labelNames: ['direction'], registers })
    this.bootstrapDialFailures = new Counter({ name: 'ghostnode_bootstrap_dial_failures_total', help: 'Failed dials to bootstrap peers', registers })
    this.discoveryLookups = new Counter({ name: 'ghostnode_discovery_lookups_total', help: 'DHT self-lookups, by outcome', labelNames: ['outcome'], registers })
    for (const direction of ['inbound', 'outbound'] as const) this.connectionsOpened.inc({ direction }, 0)
    for (const outcome of ['ok', 'error'] as const) this.discoveryLookups.inc({ outcome }, 0)
  }

  /** Registers the gauges that read the node itself. */
  observe (source: NodeMetricsSource): void {
    const registers = [this.registry]
    new Gauge({ name: 'ghostnode_node_uptime_seconds', help: 'Seconds since the node started', registers, collect () { this.set(source.uptimeSeconds()) } })
    new Gauge({ name: 'ghostnode_node_connected_peers', help: 'Distinct peers with an open connection', registers, collect () { this.set(source.connectedPeers()) } })
    new Gauge({ name: 'ghostnode_node_open_connections', help: 'Open libp2p connections', registers, collect () { this.set(source.openConnections()) } })
    new Gauge({ name: 'ghostnode_node_ready', help: '1 when /health/ready answers 200', registers, collect () { this.set(source.ready() ? 1 : 0) } })
    new Gauge({
      name: 'ghostnode_node_reachable',
      help: 'Reachability self-test: 1 when a peer dialled this node\'s announced address back, 0 when none could, -1 before any peer answered',
      registers,
      collect () {
        const status = source.reachability()
        this.set(status === 'reachable' ? 1 : status === 'unreachable' ? 0 : -1)
      }
    })
    new Gauge({
      name: 'ghostnode_node_connected_peers_by_tier',
      help: 'Connected peers by reputation tier (a peer with no record yet is neutral)',
      labelNames: ['tier'],
      registers,
      collect () {
        const counts = new Map<string, number>(TIERS.map(t => [t, 0]))
        for (const tier of source.connectedPeerTiers()) counts.set(tier, (counts.get(tier) ?? 0) + 1)
        for (const [tier, n] of counts) this.set({ tier }, n)
      }
    })
  }
}
