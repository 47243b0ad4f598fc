import { ALL_CAPABILITIES, type VerifiedNodeRecord } from './node-record.js'
import type { MembershipService } from '../membership/service.js'
import type { RecordRejectReason } from './record-errors.js'
import type { NodeRecordVerifier } from './record-verifier.js'
import type { ComponentLogger, ContentRouting, Libp2pEvents, PeerId, PrivateKey, TypedEventTarget } from '@libp2p/interface'
import type { AddressManager, ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Registry } from 'prom-client'

/** Options, components and events of the directory service (see directory.ts). */

/**
 * What the directory needs of the relay's onion keys (the onion layer's
 * OnionKeyManager provides it): the key to publish, how long a record may
 * claim it, and word of each rotation.
 */
export interface OnionKeySource {
  current: () => { epoch: number, publicKey: Uint8Array }
  acceptedUntil: (epoch: number) => number
  /** Returns the unsubscribe function. */
  onRotate: (listener: () => void) => () => void
}

export const DEFAULT_DIRECTORY_FETCH_INTERVAL_MS = 300_000
export const DEFAULT_DIRECTORY_FETCH_PEERS = 3
export const DEFAULT_DIRECTORY_SWEEP_INTERVAL_MS = 60_000
export const DEFAULT_DIRECTORY_STREAM_TIMEOUT_MS = 30_000
export const DEFAULT_DIRECTORY_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
export const DEFAULT_DIRECTORY_MIN_SERVE_INTERVAL_MS = 10_000
export const DEFAULT_DIRECTORY_DHT_REPUBLISH_INTERVAL_MS = 3_600_000
/** Per connection: a fetch on identify, a push and a periodic fetch may overlap. */
export const DEFAULT_DIRECTORY_MAX_INBOUND_STREAMS = 4
export const DEFAULT_DIRECTORY_MAX_OUTBOUND_STREAMS = 4

/**
 * Records of peers that are not members a GET reply may carry before the
 * rest of the reply is refused and its sender penalised: a few are an honest
 * race between membership periods, a flood is not.
 */
export const DIRECTORY_UNADMITTED_TOLERANCE = 8
/** Missing records of new members looked up in the DHT after a membership change, at most. */
export const DIRECTORY_MAX_MISSING_LOOKUPS = 32

export interface DirectoryInit {
  /** Capability bits this node advertises (see `Capability`). @default RELAY | EXIT | SWARM */
  capabilities?: number
  /** Most records held (own record not counted). @default 10000 */
  maxRecords?: number
  /** How often to fetch the directory from a few connected peers. @default 300000 */
  fetchIntervalMs?: number
  /** Peers asked per periodic round. @default 3 */
  fetchPeersPerRound?: number
  /** How often expired records are dropped. @default 60000 */
  sweepIntervalMs?: number
  /** Deadline of one directory stream, inbound or outbound. @default 30000 */
  streamTimeoutMs?: number
  /** Largest GET reply served or accepted (sum of record bytes). @default 8388608 */
  maxResponseBytes?: number
  /** A peer asking for the whole directory again sooner is told RATE_LIMITED. @default 10000 */
  minServeIntervalMs?: number
  /** Put the own record into the DHT (needs kad-dht with nodeRecordDhtValidators). @default true */
  publishToDht?: boolean
  /** Re-put the own record into the DHT this often. @default 3600000 */
  dhtRepublishIntervalMs?: number
  /** Concurrent inbound directory streams per connection. @default 4 */
  maxInboundStreams?: number
  /** Concurrent outbound directory streams per connection. @default 4 */
  maxOutboundStreams?: number
  /** The node's verifier (shared with the DHT validator, counting on the node's registry). */
  verifier: NodeRecordVerifier
  /** The node's registry (`ghostnode_directory_records`). */
  registry: Registry
  /** @default Date.now */
  now?: () => number
  /** Told when a peer served or pushed a record that failed verification (feed to reputation). */
  onInvalidRecord?: (peer: PeerId, reason: RecordRejectReason) => void
}

/** What the directory uses of the membership service. */
export type DirectoryMembership = Pick<MembershipService, 'view' | 'isAuthority' | 'intervalMs' | 'metrics' | 'setOwnRecord' | 'observeCandidate' | 'authorityPeers'>

export interface DirectoryComponents {
  peerId: PeerId
  privateKey: PrivateKey
  registrar: Registrar
  connectionManager: ConnectionManager
  addressManager: AddressManager
  contentRouting: ContentRouting
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  onionKeys: OnionKeySource
  /** Who the network admitted: the directory holds and serves only their records. */
  membership: DirectoryMembership
}

export interface DirectoryEvents {
  'record:added': CustomEvent<VerifiedNodeRecord>
  'record:updated': CustomEvent<VerifiedNodeRecord>
  'record:expired': CustomEvent<VerifiedNodeRecord>
}

/** Outcome counts of one fetch. */
export interface FetchResult {
  added: number
  updated: number
  stale: number
  full: number
  rejected: number
  unadmitted: number
  /** Only what changed since the previous fetch from this peer (false: its whole directory). */
  incremental: boolean
  /** Encoded record bytes received. */
  bytes: number
}

/** DirectoryInit with every tunable resolved to a value. */
export type ResolvedDirectoryOptions = Required<Pick<DirectoryInit, 'capabilities' | 'fetchIntervalMs' | 'fetchPeersPerRound' |
'sweepIntervalMs' | 'streamTimeoutMs' | 'maxResponseBytes' | 'minServeIntervalMs' | 'publishToDht' | 'dhtRepublishIntervalMs' |
'maxInboundStreams' | 'maxOutboundStreams'>>

export function resolveDirectoryOptions (init: DirectoryInit): ResolvedDirectoryOptions {
  return {
    capabilities: init.capabilities ?? ALL_CAPABILITIES,
    fetchIntervalMs: init.fetchIntervalMs ?? DEFAULT_DIRECTORY_FETCH_INTERVAL_MS,
    fetchPeersPerRound: init.fetchPeersPerRound ?? DEFAULT_DIRECTORY_FETCH_PEERS,
    sweepIntervalMs: init.sweepIntervalMs ?? DEFAULT_DIRECTORY_SWEEP_INTERVAL_MS,
    streamTimeoutMs: init.streamTimeoutMs ?? DEFAULT_DIRECTORY_STREAM_TIMEOUT_MS,
    maxResponseBytes: init.maxResponseBytes ?? DEFAULT_DIRECTORY_MAX_RESPONSE_BYTES,
    minServeIntervalMs: init.minServeIntervalMs ?? DEFAULT_DIRECTORY_MIN_SERVE_INTERVAL_MS,
    publishToDht: init.publishToDht ?? true,
    dhtRepublishIntervalMs: init.dhtRepublishIntervalMs ?? DEFAULT_DIRECTORY_DHT_REPUBLISH_INTERVAL_MS,
    maxInboundStreams: init.maxInboundStreams ?? DEFAULT_DIRECTORY_MAX_INBOUND_STREAMS,
    maxOutboundStreams: init.maxOutboundStreams ?? DEFAULT_DIRECTORY_MAX_OUTBOUND_STREAMS
  }
}
