import { homedir } from 'node:os'
import { join } from 'node:path'

/**
 * The whole configuration of a node. Every key has a default below and a spec
 * in CONFIG_SPEC; load.ts layers file < GHOSTNODE_* environment < CLI flags on
 * top of the defaults and validates the result against the spec.
 */
export interface GhostnodeConfig {
  /** Directory for the identity key, peer store and databases. */
  dataDir: string
  /** libp2p listen multiaddrs (TCP for relays, WebSockets for web clients). */
  listen: string[]
  /** Multiaddrs to advertise instead of the listen addresses (e.g. behind NAT). */
  announce: string[]
  /** Peers to dial at start and keep dialling until connected; each must end in /p2p/<peer id>. */
  bootstrap: string[]
  connections: {
    /** Hard cap on open connections. */
    max: number
    /** Inbound connections still upgrading (Noise + yamux) at once. */
    maxIncomingPending: number
    /** Deadline for one outbound dial including the handshake. */
    dialTimeoutMs: number
    /** The discovery loop dials newly found peers until this many are connected. */
    targetPeers: number
  }
  discovery: {
    /** Kademlia protocol prefix; nodes with another prefix form another network. */
    dhtProtocolPrefix: string
    /** How often the node looks itself up in the DHT to find new peers. */
    intervalMs: number
    /** First retry delay for an unreachable bootstrap peer (doubles up to the max). */
    bootstrapRetryMinMs: number
    /** Longest delay between retries of an unreachable bootstrap peer. */
    bootstrapRetryMaxMs: number
  }
  http: {
    /** Serve /metrics and /health*; `ghostnode status` and `peers` need it. */
    enabled: boolean
    /** Bind address. Keep it on loopback unless a firewall guards the port. */
    host: string
    port: number
  }
  /** SIGINT/SIGTERM: how long the node may take to drain and close before it is forced. */
  shutdownTimeoutMs: number
}

export const DEFAULT_TCP_PORT = 7400
export const DEFAULT_WS_PORT = 7401
export const DEFAULT_HTTP_PORT = 7402
export const DEFAULT_DATA_DIR = join(homedir(), '.ghostnode')

export const DEFAULT_CONFIG: GhostnodeConfig = {
  dataDir: DEFAULT_DATA_DIR,
  listen: [`/ip4/0.0.0.0/tcp/${DEFAULT_TCP_PORT}`, `/ip4/0.0.0.0/tcp/${DEFAULT_WS_PORT}/ws`],
  announce: [],
  bootstrap: [],
  connections: {
    max: 300,
    maxIncomingPending: 32,
    dialTimeoutMs: 10_000,
    targetPeers: 16
  },
  discovery: {
    dhtProtocolPrefix: '/ghostnode',
    intervalMs: 30_000,
    bootstrapRetryMinMs: 1_000,
    bootstrapRetryMaxMs: 60_000
  },
  http: {
    enabled: true,
    host: '127.0.0.1',
    port: DEFAULT_HTTP_PORT
  },
  shutdownTimeoutMs: 10_000
}

/** What a single leaf key accepts. */
export type LeafSpec =
  | { kind: 'path' }
  | { kind: 'int', min: number, max: number }
  | { kind: 'bool' }
  | { kind: 'host' }
  | { kind: 'multiaddrs', requirePeerId?: boolean, nonEmpty?: boolean }
  | { kind: 'protocolPrefix' }

export interface KeySpec { spec: LeafSpec, doc: string }

const DAY_MS = 86_400_000

/**
 * One entry per leaf key, by dotted path. Kept beside the defaults so a new key
 * is added in one place; a test checks both describe the same keys.
 */
export const CONFIG_SPEC: Record<string, KeySpec> = {
  dataDir: { spec: { kind: 'path' }, doc: 'data directory (identity key, peer store, databases)' },
  listen: { spec: { kind: 'multiaddrs', nonEmpty: true }, doc: 'listen multiaddrs' },
  announce: { spec: { kind: 'multiaddrs' }, doc: 'multiaddrs to announce instead of listen addresses' },
  bootstrap: { spec: { kind: 'multiaddrs', requirePeerId: true }, doc: 'bootstrap peers (must include /p2p/<id>)' },
  'connections.max': { spec: { kind: 'int', min: 1, max: 100_000 }, doc: 'maximum open connections' },
  'connections.maxIncomingPending': { spec: { kind: 'int', min: 1, max: 10_000 }, doc: 'inbound connections upgrading at once' },
  'connections.dialTimeoutMs': { spec: { kind: 'int', min: 100, max: 300_000 }, doc: 'outbound dial deadline (ms)' },
  'connections.targetPeers': { spec: { kind: 'int', min: 0, max: 10_000 }, doc: 'peers the discovery loop dials up to' },
  'discovery.dhtProtocolPrefix': { spec: { kind: 'protocolPrefix' }, doc: 'Kademlia protocol prefix' },
  'discovery.intervalMs': { spec: { kind: 'int', min: 1_000, max: DAY_MS }, doc: 'DHT self-lookup interval (ms)' },
  'discovery.bootstrapRetryMinMs': { spec: { kind: 'int', min: 10, max: DAY_MS }, doc: 'first bootstrap retry delay (ms)' },
  'discovery.bootstrapRetryMaxMs': { spec: { kind: 'int', min: 10, max: DAY_MS }, doc: 'longest bootstrap retry delay (ms)' },
  'http.enabled': { spec: { kind: 'bool' }, doc: 'serve /metrics and /health*' },
  'http.host': { spec: { kind: 'host' }, doc: 'HTTP bind address' },
  'http.port': { spec: { kind: 'int', min: 0, max: 65_535 }, doc: 'HTTP port (0 picks a free one)' },
  shutdownTimeoutMs: { spec: { kind: 'int', min: 100, max: 600_000 }, doc: 'graceful shutdown deadline (ms)' }
}
