import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify, type Identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { ping, type Ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { LevelDatastore } from 'datastore-level'
import { createLibp2p, type Libp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { bootstrapper, type Bootstrapper } from './discovery/bootstrapper.js'
import { peerConnector, type PeerConnector } from './discovery/peer-connector.js'
import { loadOrCreateIdentity } from './identity/key-file.js'
import { HttpServer } from './metrics/http-server.js'
import { NodeMetrics } from './metrics/node-metrics.js'
import { VERSION } from './version.js'
import type { GhostnodeConfig } from './config/defaults.js'
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface GhostServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  dht: KadDHT
  bootstrap: Bootstrapper
  connector: PeerConnector
}

export interface GhostnodeOptions {
  /**
   * Register libp2p's own metrics (@libp2p/prometheus-metrics). That module
   * keeps process-wide state, so only one node per process should enable it.
   * @default config.http.enabled
   */
  libp2pMetrics?: boolean
  /** Clock for uptime. @default Date.now */
  now?: () => number
}

export type NodeState = 'stopped' | 'starting' | 'running' | 'stopping'

export interface NodeHealth extends Record<string, unknown> {
  status: 'ok' | 'starting' | 'degraded' | 'stopping' | 'stopped'
  version: string
  peerId: string
  uptimeSeconds: number
  connectedPeers: number
  ready: boolean
  addrs: string[]
}

export interface PeerConnectionInfo {
  peerId: string
  addr: string
  direction: string
  encryption?: string
  muxer?: string
  openedAt: number
  streams: number
}

/** The protocol id the DHT speaks under the configured private prefix. */
export function dhtProtocol (prefix: string): string {
  return `${prefix}/kad/1.0.0`
}

/**
 * The composition root: one running relay. Build it with createGhostnode(),
 * then start() and stop() (both idempotent; stop waits for a start in flight).
 */
export class Ghostnode {
  readonly config: GhostnodeConfig
  readonly libp2p: Libp2p<GhostServices>
  readonly registry: Registry
  readonly metrics: NodeMetrics
  private readonly datastore: LevelDatastore
  private readonly http?: HttpServer
  private readonly now: () => number
  private state: NodeState = 'stopped'
  private startedAt = 0
  private transition: Promise<void> = Promise.resolve()

  constructor (config: GhostnodeConfig, libp2p: Libp2p<GhostServices>, datastore: LevelDatastore, registry: Registry, metrics: NodeMetrics, now: () => number) {
    this.config = config
    this.libp2p = libp2p
    this.datastore = datastore
    this.registry = registry
    this.metrics = metrics
    this.now = now
    if (config.http.enabled) {
      this.http = new HttpServer({
        host: config.http.host,
        port: config.http.port,
        registry,
        source: { health: () => this.health(), ready: () => this.isReady(), peers: () => this.peers() }
      })
    }
    libp2p.addEventListener('connection:open', (evt) => {
      metrics.connectionsOpened.inc({ direction: evt.detail.direction })
    })
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  get status (): NodeState {
    return this.state
  }

  async start (): Promise<void> {
    this.transition = this.transition.then(async () => {
      if (this.state !== 'stopped') return
      this.state = 'starting'
      try {
        await this.libp2p.start()
        await this.http?.start()
        this.startedAt = this.now()
        this.state = 'running'
      } catch (err) {
        await this.shutdown()
        throw err
      }
    })
    await this.transition
  }

  /** Stops accepting (HTTP, listeners), closes connections, flushes and closes storage. */
  async stop (): Promise<void> {
    this.transition = this.transition.catch(() => {}).then(async () => {
      if (this.state === 'stopped') return
      await this.shutdown()
    })
    await this.transition
  }

  private async shutdown (): Promise<void> {
    this.state = 'stopping'
    try {
      await this.http?.stop()
      await this.libp2p.stop()
    } finally {
      await this.datastore.close()
      this.state = 'stopped'
    }
  }

  getMultiaddrs (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  /** The HTTP endpoint's bound address, when enabled and running. */
  httpAddress (): { host: string, port: number } | undefined {
    return this.http?.address()
  }

  /** Listening, and connected to a peer whenever bootstrap peers are configured. */
  isReady (): boolean {
    if (this.state !== 'running' || this.libp2p.getMultiaddrs().length === 0) return false
    return this.config.bootstrap.length === 0 || this.libp2p.getPeers().length > 0
  }

  uptimeSeconds (): number {
    return this.state === 'running' ? Math.max(0, (this.now() - this.startedAt) / 1000) : 0
  }

  health (): NodeHealth {
    const ready = this.isReady()
    const status = this.state === 'running' ? (ready ? 'ok' : 'degraded') : this.state
    return {
      status,
      version: VERSION,
      peerId: this.peerId.toString(),
      uptimeSeconds: Math.round(this.uptimeSeconds()),
      connectedPeers: this.libp2p.getPeers().length,
      ready,
      addrs: this.getMultiaddrs().map(ma => ma.toString())
    }
  }

  peers (): PeerConnectionInfo[] {
    return this.libp2p.getConnections().map(conn => ({
      peerId: conn.remotePeer.toString(),
      addr: conn.remoteAddr.toString(),
      direction: conn.direction,
      encryption: conn.encryption,
      muxer: conn.multiplexer,
      openedAt: conn.timeline.open,
      streams: conn.streams.length
    }))
  }
}

/** Loads (or creates) the identity, opens the peer store and assembles libp2p. Nothing listens until start(). */
export async function createGhostnode (config: GhostnodeConfig, options: GhostnodeOptions = {}): Promise<Ghostnode> {
  const now = options.now ?? Date.now
  const identity = await loadOrCreateIdentity(config.dataDir)
  const datastore = new LevelDatastore(join(config.dataDir, 'datastore'))
  await datastore.open()
  const registry = new Registry()
  let node: Ghostnode | undefined
  const metricsRef: { current?: NodeMetrics } = {}
  try {
    const libp2pMetrics = options.libp2pMetrics ?? config.http.enabled
    const libp2p = await createLibp2p({
      start: false,
      privateKey: identity.privateKey,
      datastore,
      addresses: { listen: config.listen, announce: config.announce },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionManager: {
        maxConnections: config.connections.max,
        maxIncomingPendingConnections: config.connections.maxIncomingPending,
        dialTimeout: config.connections.dialTimeoutMs
      },
      ...(libp2pMetrics ? { metrics: prometheusMetrics({ registry, statfsLocation: config.dataDir }) } : {}),
      services: {
        identify: identify(),
        ping: ping(),
        dht: kadDHT({
          protocol: dhtProtocol(config.discovery.dhtProtocolPrefix),
          clientMode: false,
          peerInfoMapper: passthroughMapper
        }),
        bootstrap: bootstrapper({
          list: config.bootstrap,
          retryMinMs: config.discovery.bootstrapRetryMinMs,
          retryMaxMs: config.discovery.bootstrapRetryMaxMs,
          onDialFailure: () => metricsRef.current?.bootstrapDialFailures.inc()
        }),
        connector: peerConnector({
          targetPeers: config.connections.targetPeers,
          intervalMs: config.discovery.intervalMs,
          dialTimeoutMs: config.connections.dialTimeoutMs,
          onLookup: (outcome) => metricsRef.current?.discoveryLookups.inc({ outcome })
        })
      }
    })
    const metrics = new NodeMetrics(registry, {
      connectedPeers: () => libp2p.getPeers().length,
      openConnections: () => libp2p.getConnections().length,
      ready: () => node?.isReady() ?? false,
      uptimeSeconds: () => node?.uptimeSeconds() ?? 0
    })
    metricsRef.current = metrics
    node = new Ghostnode(config, libp2p, datastore, registry, metrics, now)
    return node
  } catch (err) {
    await datastore.close()
    throw err
  }
}
