import { homedir } from 'node:os'
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../logging/logger.js'
import { join } from 'node:path'
import {
  DEFAULT_DOCUMENT_GRACE_MS, DEFAULT_DOCUMENT_INTERVAL_MS, DEFAULT_DROP_AFTER_MS, DEFAULT_MAX_CANDIDATES, DEFAULT_MAX_MEMBERS_PER_16,
  DEFAULT_MAX_MEMBERS_PER_24, DEFAULT_MAX_NEW_MEMBERS_PER_HOUR, DEFAULT_PROBATION_MS
} from '../membership/constants.js'
import { DEFAULT_MAX_ONION_MESSAGE_BYTES } from '../wire/onion-format.js'
import { DEFAULT_RATE_LIMIT_CONFIG, type RateLimitConfig } from '../ratelimit/config.js'
import {
  DEFAULT_MAILBOX_QUOTA_BYTES, DEFAULT_MAILBOX_QUOTA_RECORDS, DEFAULT_MAX_SWARM_MESSAGE_BYTES, DEFAULT_MAX_TTL_MS, DEFAULT_MIN_TTL_MS,
  DEFAULT_NODE_QUOTA_BYTES, DEFAULT_REPLICATION_FACTOR, DEFAULT_SWEEP_INTERVAL_MS, DEFAULT_VNODES_PER_NODE
} from '../swarm/constants.js'
import {
  DEFAULT_AUTH_WINDOW_MS, DEFAULT_MAX_PAGE_BYTES, DEFAULT_RECONCILE_INTERVAL_MS, DEFAULT_SWARM_REQUEST_TIMEOUT_MS, DEFAULT_WRITE_QUORUM
} from '../swarm/service-defaults.js'

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
    /** Of those, from one /24 (IPv4) or /48 (IPv6): half-open connections from a few prefixes cannot hold them all. */
    maxIncomingPendingPerPrefix: number
    /** Established connections from one /24 (IPv4) or /48 (IPv6), admitted members not counted; at the cap, its idlest is closed for a newcomer. */
    maxPerPrefix: number
    /** An inbound connection that has not finished its upgrade by then is closed. */
    upgradeTimeoutMs: number
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
    /**
     * A file (mode 0600) holding a token of at least 32 characters: ban and unban
     * are then served on any bind address to requests that carry it. Empty: only
     * while `host` is loopback.
     */
    adminTokenFile: string
  }
  onion: {
    /** Circuit length a client built on this node's code uses (the relay accepts any). */
    hops: number
    /** Lifetime of an onion key before the next one takes over. */
    keyEpochMs: number
    /** How long a rotated-out onion key still opens CREATEs (circuits built just before rotation). */
    keyGraceMs: number
    /** Offer the exit role (execute requests that end here). */
    exit: boolean
    /** Circuits through this node, all neighbours together. */
    maxCircuits: number
    /** Circuits one neighbour may hold through this node. */
    maxCircuitsPerPeer: number
    /** A circuit with no cell for this long is destroyed. */
    circuitIdleTimeoutMs: number
    /** Deadline for reaching the next hop while building a circuit. */
    extendTimeoutMs: number
    /** Largest request or response the ends reassemble. */
    maxMessageBytes: number
    /** Cells a link may hold unsent before it sheds (1 KiB each). */
    linkMaxQueuedCells: number
    /**
     * Memory peers can make the node hold (link queues, reassembly buffers,
     * executing requests); past it the biggest holders are closed.
     */
    maxQueuedBytes: number
    /** A partial request at the exit is dropped this long after its first fragment. */
    reassemblyTimeoutMs: number
    /** A link that accepts no data for this long is closed (a peer that never reads). */
    linkStallTimeoutMs: number
    /**
     * A neighbour the network admitted as a relay carries many circuits on one link:
     * its cell, byte and circuit budgets are this many times a client's.
     */
    relayBudgetFactor: number
  }
  memory: {
    /**
     * Resident memory the node keeps under. Past the high watermark it closes
     * the biggest holders and refuses new circuits, links and connections
     * until RSS is back under the low watermark.
     */
    maxRssBytes: number
    /** Share of maxRssBytes at which the node starts shedding. */
    highWatermark: number
    /** Share of maxRssBytes under which it stops. */
    lowWatermark: number
    /** How often RSS is sampled. */
    checkIntervalMs: number
  }
  network: {
    /**
     * The network's authorities (multiaddrs ending in /p2p/<id>, or just
     * /p2p/<id>): the trust root that admits relays. Empty: this node is the
     * only authority of its own one-node network.
     */
    authorities: string[]
    /** Signatures a membership document needs (k); 0 means a majority of the authorities. */
    authorityThreshold: number
    /** Length of a membership period: authorities vote a new document each period. */
    documentIntervalMs: number
    /** How long the last document stays in force after its period when no newer one arrives. */
    documentGraceMs: number
    /** Dial and admit loopback and private addresses (a loopback testnet, a private LAN). */
    allowPrivateAddresses: boolean
    admission: {
      /** Uptime a new relay needs before it is a guard, an exit or a swarm member (it relays as a middle hop at once). */
      probationMs: number
      /** Members per IPv4 /24 (IPv6 /48). */
      maxPer24: number
      /** Members per IPv4 /16 (IPv6 /32). */
      maxPer16: number
      /** New admissions per hour (allowlisted relays and authorities not counted). */
      maxNewPerHour: number
      /** A member that does not answer for this long is dropped. */
      dropAfterMs: number
      /** Admit only relays on the allowlist (`ghostnode authority admit`). */
      allowlistOnly: boolean
      /** Candidates (relays asking to be admitted) an authority tracks. */
      maxCandidates: number
    }
  }
  directory: {
    /** Verified node records held; past it, records of new peers are refused. */
    maxRecords: number
    /** How often the node pulls the directory from a few peers. */
    fetchIntervalMs: number
    /** One peer may ask for the full directory at most this often. */
    minServeIntervalMs: number
    /** Also put this node's record in the DHT. */
    publishToDht: boolean
  }
  swarm: {
    /** Replicas per mailbox (R): the first R distinct ring members clockwise (fewer on smaller networks). */
    replicas: number
    /** Copies a store waits for before acknowledging (W); 0 means a majority of the swarm. */
    writeQuorum: number
    /** Virtual nodes per member on the hash ring (see docs/swarm.md for why 2,048). */
    vnodesPerNode: number
    /** Shortest TTL a message may ask for. */
    minTtlMs: number
    /** Longest TTL a message may ask for. */
    maxTtlMs: number
    /** Largest message (data bytes). Clients also need onion.maxMessageBytes above it. */
    maxMessageBytes: number
    /** Per-mailbox quota in stored bytes (message data plus an 87-byte header each). */
    mailboxQuotaBytes: number
    /** Per-mailbox quota in messages. */
    mailboxQuotaRecords: number
    /** Quota on all swarm data this node stores. */
    nodeQuotaBytes: number
    /** How often expired messages are deleted. */
    sweepIntervalMs: number
    /** fsync every write batch (survives power loss, not only a crash), at a throughput cost. */
    sync: boolean
    /** Period of anti-entropy rounds with the other swarm members. */
    reconcileIntervalMs: number
    /** Deadline of one node-to-node swarm request. */
    requestTimeoutMs: number
    /** Largest page of messages one retrieve returns. */
    maxPageBytes: number
    /** Signed reads and deletes are accepted within this distance of the node's clock. */
    clockSkewMs: number
  }
  /** Token buckets and reputation (see src/ratelimit/config.ts for each default's reasoning). */
  rateLimit: RateLimitConfig
  /** SIGINT/SIGTERM: how long the node may take to drain and close before it is forced. */
  shutdownTimeoutMs: number
  reachability: {
    /** First self-test this long after start. */
    startupDelayMs: number
    /** A self-test (peers dial this node's announced TCP addresses back) this often; 0 turns it off. */
    intervalMs: number
  }
  log: {
    /** Lines below this level are dropped. */
    level: LogLevel
    /** `text`: one readable line per event with a timestamp; `json`: one JSON object per line (journald, log shippers). */
    format: LogFormat
    /** A heartbeat line (uptime, peers, circuits, cells, stored messages, RSS) this often; 0 turns it off. */
    heartbeatMs: number
  }
}

export const DEFAULT_HEARTBEAT_MS = 5 * 60_000

export const DEFAULT_TCP_PORT = 7400
export const DEFAULT_WS_PORT = 7401
export const DEFAULT_HTTP_PORT = 7402
export const DEFAULT_DATA_DIR = join(homedir(), '.ghostnode')
/** The RSS bound (512 MiB): a small VPS can run a relay beside other things. */
export const DEFAULT_MAX_RSS_BYTES = 512 * 1024 * 1024
/**
 * Peer-held memory (64 MiB). Filling it under attack measured ~4 bytes of RSS
 * per budgeted byte over an idle node's ~130 MiB (garbage awaiting GC, V8's
 * heap growth, allocator slack): ~380 MiB, inside the default RSS bound
 * without the watchdog having to act.
 */
export const DEFAULT_MAX_QUEUED_BYTES = 64 * 1024 * 1024

export const DEFAULT_CONFIG: GhostnodeConfig = {
  dataDir: DEFAULT_DATA_DIR,
  listen: [`/ip4/0.0.0.0/tcp/${DEFAULT_TCP_PORT}`, `/ip4/0.0.0.0/tcp/${DEFAULT_WS_PORT}/ws`],
  announce: [],
  bootstrap: [],
  connections: {
    max: 300,
    maxIncomingPending: 32,
    maxIncomingPendingPerPrefix: 8,
    maxPerPrefix: 64,
    upgradeTimeoutMs: 5_000,
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
    port: DEFAULT_HTTP_PORT,
    adminTokenFile: ''
  },
  onion: {
    hops: 3,
    keyEpochMs: 86_400_000,
    keyGraceMs: 7_200_000,
    exit: true,
    maxCircuits: 20_000,
    maxCircuitsPerPeer: 2_000,
    circuitIdleTimeoutMs: 300_000,
    extendTimeoutMs: 10_000,
    maxMessageBytes: DEFAULT_MAX_ONION_MESSAGE_BYTES,
    linkMaxQueuedCells: 4_096,
    maxQueuedBytes: DEFAULT_MAX_QUEUED_BYTES,
    reassemblyTimeoutMs: 30_000,
    linkStallTimeoutMs: 30_000,
    relayBudgetFactor: 20
  },
  memory: {
    maxRssBytes: DEFAULT_MAX_RSS_BYTES,
    highWatermark: 0.8,
    lowWatermark: 0.7,
    checkIntervalMs: 500
  },
  network: {
    authorities: [],
    authorityThreshold: 0,
    documentIntervalMs: DEFAULT_DOCUMENT_INTERVAL_MS,
    documentGraceMs: DEFAULT_DOCUMENT_GRACE_MS,
    allowPrivateAddresses: false,
    admission: {
      probationMs: DEFAULT_PROBATION_MS,
      maxPer24: DEFAULT_MAX_MEMBERS_PER_24,
      maxPer16: DEFAULT_MAX_MEMBERS_PER_16,
      maxNewPerHour: DEFAULT_MAX_NEW_MEMBERS_PER_HOUR,
      dropAfterMs: DEFAULT_DROP_AFTER_MS,
      allowlistOnly: false,
      maxCandidates: DEFAULT_MAX_CANDIDATES
    }
  },
  directory: {
    maxRecords: 10_000,
    fetchIntervalMs: 300_000,
    minServeIntervalMs: 10_000,
    publishToDht: true
  },
  swarm: {
    replicas: DEFAULT_REPLICATION_FACTOR,
    writeQuorum: DEFAULT_WRITE_QUORUM,
    vnodesPerNode: DEFAULT_VNODES_PER_NODE,
    minTtlMs: DEFAULT_MIN_TTL_MS,
    maxTtlMs: DEFAULT_MAX_TTL_MS,
    maxMessageBytes: DEFAULT_MAX_SWARM_MESSAGE_BYTES,
    mailboxQuotaBytes: DEFAULT_MAILBOX_QUOTA_BYTES,
    mailboxQuotaRecords: DEFAULT_MAILBOX_QUOTA_RECORDS,
    nodeQuotaBytes: DEFAULT_NODE_QUOTA_BYTES,
    sweepIntervalMs: DEFAULT_SWEEP_INTERVAL_MS,
    sync: false,
    reconcileIntervalMs: DEFAULT_RECONCILE_INTERVAL_MS,
    requestTimeoutMs: DEFAULT_SWARM_REQUEST_TIMEOUT_MS,
    maxPageBytes: DEFAULT_MAX_PAGE_BYTES,
    clockSkewMs: DEFAULT_AUTH_WINDOW_MS
  },
  rateLimit: structuredClone(DEFAULT_RATE_LIMIT_CONFIG) as RateLimitConfig,
  shutdownTimeoutMs: 10_000,
  reachability: { startupDelayMs: 20_000, intervalMs: 30 * 60_000 },
  log: { level: 'info', format: 'text', heartbeatMs: DEFAULT_HEARTBEAT_MS }
}

/** What a single leaf key accepts. */
export type LeafSpec =
  | { kind: 'path', optional?: boolean }
  | { kind: 'int', min: number, max: number }
  | { kind: 'number', min: number, max: number }
  | { kind: 'bool' }
  | { kind: 'host' }
  | { kind: 'multiaddrs', requirePeerId?: boolean, nonEmpty?: boolean }
  | { kind: 'protocolPrefix' }
  | { kind: 'enum', values: readonly string[] }

export interface KeySpec { spec: LeafSpec, doc: string }

const DAY_MS = 86_400_000
/** An idle node is ~130 MB of RSS on Node 24: a bound below 192 MiB could never be met. */
const MIN_MAX_RSS_BYTES = 192 * 1024 * 1024

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
  'connections.maxIncomingPendingPerPrefix': { spec: { kind: 'int', min: 1, max: 10_000 }, doc: 'inbound connections upgrading at once from one /24 (IPv4) or /48 (IPv6)' },
  'connections.maxPerPrefix': { spec: { kind: 'int', min: 1, max: 100_000 }, doc: 'established connections from one /24 (IPv4) or /48 (IPv6), admitted members not counted; at the cap the idlest one is closed for a newcomer, or the newcomer is refused' },
  'connections.upgradeTimeoutMs': { spec: { kind: 'int', min: 500, max: 120_000 }, doc: 'close an inbound connection whose handshake has not finished by then (ms)' },
  'connections.dialTimeoutMs': { spec: { kind: 'int', min: 100, max: 300_000 }, doc: 'outbound dial deadline (ms)' },
  'connections.targetPeers': { spec: { kind: 'int', min: 0, max: 10_000 }, doc: 'peers the discovery loop dials up to' },
  'discovery.dhtProtocolPrefix': { spec: { kind: 'protocolPrefix' }, doc: 'Kademlia protocol prefix' },
  'discovery.intervalMs': { spec: { kind: 'int', min: 1_000, max: DAY_MS }, doc: 'DHT self-lookup interval (ms)' },
  'discovery.bootstrapRetryMinMs': { spec: { kind: 'int', min: 10, max: DAY_MS }, doc: 'first bootstrap retry delay (ms)' },
  'discovery.bootstrapRetryMaxMs': { spec: { kind: 'int', min: 10, max: DAY_MS }, doc: 'longest bootstrap retry delay (ms)' },
  'http.enabled': { spec: { kind: 'bool' }, doc: 'serve /metrics and /health*' },
  'http.host': { spec: { kind: 'host' }, doc: 'HTTP bind address' },
  'http.port': { spec: { kind: 'int', min: 0, max: 65_535 }, doc: 'HTTP port (0 picks a free one)' },
  'http.adminTokenFile': { spec: { kind: 'path', optional: true }, doc: 'token file (0600, at least 32 characters) that lets ban/unban be served on a non-loopback http.host; empty: loopback only' },
  'onion.hops': { spec: { kind: 'int', min: 1, max: 5 }, doc: 'circuit length for clients (default 3, at most 5)' },
  'onion.keyEpochMs': { spec: { kind: 'int', min: 60_000, max: 30 * DAY_MS }, doc: 'onion key lifetime (ms)' },
  'onion.keyGraceMs': { spec: { kind: 'int', min: 0, max: 7 * DAY_MS }, doc: 'grace period of a rotated-out onion key (ms)' },
  'onion.exit': { spec: { kind: 'bool' }, doc: 'offer the exit role' },
  'onion.maxCircuits': { spec: { kind: 'int', min: 1, max: 10_000_000 }, doc: 'circuits through this node' },
  'onion.maxCircuitsPerPeer': { spec: { kind: 'int', min: 1, max: 1_000_000 }, doc: 'circuits one neighbour may hold through this node' },
  'onion.circuitIdleTimeoutMs': { spec: { kind: 'int', min: 1_000, max: DAY_MS }, doc: 'idle circuit timeout (ms)' },
  'onion.extendTimeoutMs': { spec: { kind: 'int', min: 100, max: 300_000 }, doc: 'deadline to reach the next hop (ms)' },
  'onion.maxMessageBytes': { spec: { kind: 'int', min: 1_024, max: 16 * 1024 * 1024 }, doc: 'largest request/response reassembled (bytes)' },
  'onion.linkMaxQueuedCells': { spec: { kind: 'int', min: 64, max: 1_000_000 }, doc: 'unsent cells a link may hold before shedding' },
  'onion.maxQueuedBytes': { spec: { kind: 'int', min: 1_048_576, max: 64 * 1024 * 1024 * 1024 }, doc: 'memory peers can make the node hold: link queues, reassembly buffers, executing requests (bytes; at most memory.maxRssBytes / 4)' },
  'onion.reassemblyTimeoutMs': { spec: { kind: 'int', min: 1_000, max: 600_000 }, doc: 'drop a partial request at the exit this long after its first fragment (ms)' },
  'onion.linkStallTimeoutMs': { spec: { kind: 'int', min: 1_000, max: 600_000 }, doc: 'close a link that accepts no data for this long (ms)' },
  'onion.relayBudgetFactor': { spec: { kind: 'int', min: 1, max: 10_000 }, doc: 'budget multiplier for neighbours the network admitted as relays' },
  'memory.maxRssBytes': { spec: { kind: 'int', min: MIN_MAX_RSS_BYTES, max: 1024 * 1024 * 1024 * 1024 }, doc: 'resident memory (RSS) the node keeps under: near it, it sheds the biggest holders and refuses new circuits, links and connections (bytes)' },
  'memory.highWatermark': { spec: { kind: 'number', min: 0.5, max: 0.99 }, doc: 'share of memory.maxRssBytes at which shedding starts' },
  'memory.lowWatermark': { spec: { kind: 'number', min: 0.3, max: 0.98 }, doc: 'share of memory.maxRssBytes under which shedding stops (below memory.highWatermark)' },
  'memory.checkIntervalMs': { spec: { kind: 'int', min: 50, max: 60_000 }, doc: 'RSS sampling interval (ms)' },
  'network.authorities': { spec: { kind: 'multiaddrs', requirePeerId: true }, doc: 'the network\'s authorities (/p2p/<id> or a multiaddr ending in it); empty: this node is its own one-node network' },
  'network.authorityThreshold': { spec: { kind: 'int', min: 0, max: 32 }, doc: 'authority signatures a membership document needs (k); 0 = majority' },
  'network.documentIntervalMs': { spec: { kind: 'int', min: 1_000, max: DAY_MS }, doc: 'membership period: a new document is voted each period (ms)' },
  'network.documentGraceMs': { spec: { kind: 'int', min: 0, max: 30 * DAY_MS }, doc: 'how long the last membership document stays in force past its period (ms)' },
  'network.allowPrivateAddresses': { spec: { kind: 'bool' }, doc: 'dial and admit loopback and private addresses (testnets, private LANs)' },
  'network.admission.probationMs': { spec: { kind: 'int', min: 0, max: 365 * DAY_MS }, doc: 'uptime before a new relay is a guard, exit or swarm member (ms)' },
  'network.admission.maxPer24': { spec: { kind: 'int', min: 1, max: 1_000_000 }, doc: 'members per IPv4 /24 (IPv6 /48)' },
  'network.admission.maxPer16': { spec: { kind: 'int', min: 1, max: 1_000_000 }, doc: 'members per IPv4 /16 (IPv6 /32)' },
  'network.admission.maxNewPerHour': { spec: { kind: 'int', min: 1, max: 1_000_000 }, doc: 'new admissions per hour' },
  'network.admission.dropAfterMs': { spec: { kind: 'int', min: 1_000, max: 30 * DAY_MS }, doc: 'drop a member that has not answered for this long (ms)' },
  'network.admission.allowlistOnly': { spec: { kind: 'bool' }, doc: 'admit only relays on the authority\'s allowlist' },
  'network.admission.maxCandidates': { spec: { kind: 'int', min: 1, max: 1_000_000 }, doc: 'candidates an authority tracks' },
  'directory.maxRecords': { spec: { kind: 'int', min: 3, max: 1_000_000 }, doc: 'verified node records held' },
  'directory.fetchIntervalMs': { spec: { kind: 'int', min: 1_000, max: DAY_MS }, doc: 'directory pull interval (ms)' },
  'directory.minServeIntervalMs': { spec: { kind: 'int', min: 0, max: DAY_MS }, doc: 'minimum interval between two full directory requests of one peer (ms)' },
  'directory.publishToDht': { spec: { kind: 'bool' }, doc: 'put this node\'s record in the DHT too' },
  'swarm.replicas': { spec: { kind: 'int', min: 1, max: 16 }, doc: 'replicas per mailbox (R; fewer on smaller networks)' },
  'swarm.writeQuorum': { spec: { kind: 'int', min: 0, max: 16 }, doc: 'copies acknowledged before a store succeeds (W); 0 = majority' },
  'swarm.vnodesPerNode': { spec: { kind: 'int', min: 1, max: 65_536 }, doc: 'virtual nodes per member on the hash ring' },
  'swarm.minTtlMs': { spec: { kind: 'int', min: 1_000, max: 365 * DAY_MS }, doc: 'shortest message TTL (ms)' },
  'swarm.maxTtlMs': { spec: { kind: 'int', min: 1_000, max: 365 * DAY_MS }, doc: 'longest message TTL (ms)' },
  'swarm.maxMessageBytes': { spec: { kind: 'int', min: 1, max: 1024 * 1024 }, doc: 'largest message (bytes of data); clients also need onion.maxMessageBytes above it' },
  'swarm.mailboxQuotaBytes': { spec: { kind: 'int', min: 1_024, max: Number.MAX_SAFE_INTEGER }, doc: 'per-mailbox quota (stored bytes)' },
  'swarm.mailboxQuotaRecords': { spec: { kind: 'int', min: 1, max: 100_000_000 }, doc: 'per-mailbox quota (messages)' },
  'swarm.nodeQuotaBytes': { spec: { kind: 'int', min: 1_024, max: Number.MAX_SAFE_INTEGER }, doc: 'quota on all swarm data this node stores (bytes)' },
  'swarm.sweepIntervalMs': { spec: { kind: 'int', min: 100, max: DAY_MS }, doc: 'expired-message sweep interval (ms)' },
  'swarm.sync': { spec: { kind: 'bool' }, doc: 'fsync every write batch (power-loss durability, slower)' },
  'swarm.reconcileIntervalMs': { spec: { kind: 'int', min: 1_000, max: DAY_MS }, doc: 'anti-entropy interval with the other swarm members (ms)' },
  'swarm.requestTimeoutMs': { spec: { kind: 'int', min: 100, max: 300_000 }, doc: 'deadline of one node-to-node swarm request (ms)' },
  'swarm.maxPageBytes': { spec: { kind: 'int', min: 1_024, max: 1024 * 1024 }, doc: 'largest page one retrieve returns (bytes)' },
  'swarm.clockSkewMs': { spec: { kind: 'int', min: 1_000, max: 3_600_000 }, doc: 'accepted clock distance of signed reads and deletes (ms)' },
  ...rateLimitSpec(),
  shutdownTimeoutMs: { spec: { kind: 'int', min: 100, max: 600_000 }, doc: 'graceful shutdown deadline (ms)' },
  'reachability.startupDelayMs': { spec: { kind: 'int', min: 0, max: DAY_MS }, doc: 'first reachability self-test this long after start (ms)' },
  'reachability.intervalMs': { spec: { kind: 'int', min: 0, max: 7 * DAY_MS }, doc: 'reachability self-test interval (ms): peers dial this node\'s announced TCP addresses back; 0 turns it off' },
  'log.level': { spec: { kind: 'enum', values: LOG_LEVELS }, doc: 'lowest level logged: error, warn, info or debug (DEBUG=libp2p:* still turns on libp2p\'s own debug output)' },
  'log.format': { spec: { kind: 'enum', values: LOG_FORMATS }, doc: 'text (readable, timestamped) or json (one object per line)' },
  'log.heartbeatMs': { spec: { kind: 'int', min: 0, max: 7 * DAY_MS }, doc: 'heartbeat line interval (ms); 0 turns it off' }
}

/**
 * One numeric key per leaf of the rate-limit config. Their ranges and relations
 * are checked by the rate limiter's own validator (see load.ts); here they only
 * have to be non-negative numbers.
 */
function rateLimitSpec (): Record<string, KeySpec> {
  const out: Record<string, KeySpec> = {}
  const walk = (obj: Record<string, unknown>, path: string): void => {
    for (const [key, value] of Object.entries(obj)) {
      const full = `${path}.${key}`
      if (typeof value === 'object' && value != null) walk(value as Record<string, unknown>, full)
      else out[full] = { spec: { kind: 'number', min: 0, max: Number.MAX_SAFE_INTEGER }, doc: rateLimitDoc(full) }
    }
  }
  walk(DEFAULT_RATE_LIMIT_CONFIG as unknown as Record<string, unknown>, 'rateLimit')
  return out
}

function rateLimitDoc (key: string): string {
  const parts = key.split('.')
  if (parts[1] === 'limits') return `token bucket for ${parts[2]}: ${parts[3] === 'burst' ? 'burst (bucket size)' : 'refill rate per second'}`
  if (parts[2] === 'penalties') return `score penalty for ${parts[3]}`
  if (parts[2] === 'penaltyCooldownsMs') return `minimum ms between two ${parts[3]} penalties`
  if (parts[2] === 'tiers') return `reputation tier setting ${parts[3]}`
  return `rate limiting: ${parts.slice(1).join('.')}`
}
