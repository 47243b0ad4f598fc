/**
 * Rate-limit and reputation settings: one plain, JSON-serialisable object so
 * the node's config system can layer file/env/flags over it. Every default is
 * a named constant with its unit in the name.
 *
 * Sizing: the measured ceiling of one node is ~2-3k relayed cells/s in total,
 * so a single neutral peer is allowed a fraction of it, and a trusted (×2)
 * peer at most about half.
 */

/** What a bucket counts. `connection` is keyed by IP prefix, `deposit` and `subscribe` by mailbox, the rest by peer id. */
export type LimitKind = 'connection' | 'cells' | 'bytes' | 'circuits' | 'swarm' | 'deposit' | 'subscribe'
export const LIMIT_KINDS: readonly LimitKind[] = Object.freeze(['connection', 'cells', 'bytes', 'circuits', 'swarm', 'deposit', 'subscribe'])

/** Misbehaviour the wiring layer reports. Also the label values of the violations metric. */
export type Violation = 'bucket_overflow' | 'malformed_cell' | 'bad_mac' | 'bad_signature' | 'handshake_failure' | 'protocol_misuse'
export const VIOLATIONS: readonly Violation[] = Object.freeze(['bucket_overflow', 'malformed_cell', 'bad_mac', 'bad_signature', 'handshake_failure', 'protocol_misuse'])

/** Reputation tiers, lowest first. Also the label values of the peers-by-tier gauge. */
export type Tier = 'low' | 'neutral' | 'high'
export const TIERS: readonly Tier[] = Object.freeze(['low', 'neutral', 'high'])

/** Scores live on a fixed 0-100 scale; every new peer starts at neutral. */
export const MIN_SCORE = 0
export const MAX_SCORE = 100
export const NEUTRAL_SCORE = 50

export interface LimitConfig {
  /** Sustained rate in units per second (connections, cells, bytes...) at weight 1. */
  ratePerSecond: number
  /** Bucket capacity in units at weight 1: the largest burst a full bucket allows. */
  burst: number
}

export interface TierConfig {
  /** Scores at or below this are tier `low`. @default 30 */
  lowMaxScore: number
  /** Scores at or above this are tier `high`; in between is `neutral`. @default 70 */
  highMinScore: number
  /** Rate and burst multiplier for tier `low`. @default 0.1 */
  lowWeight: number
  /** Rate and burst multiplier for tier `neutral`. @default 1 */
  neutralWeight: number
  /** Rate and burst multiplier for tier `high`. @default 2 */
  highWeight: number
}

export interface ReputationConfig {
  tiers: TierConfig
  /** Points subtracted per violation. See DEFAULT_PENALTIES for the reasoning. */
  penalties: Record<Violation, number>
  /** Per peer, a violation of the same kind inside this window is counted but not penalised again. */
  penaltyCooldownsMs: Record<Violation, number>
  /** A score at or below this bans the peer. @default 10 */
  banThresholdScore: number
  /** How long a ban lasts. @default 3600000 (1 h) */
  banDurationMs: number
  /** Score a peer restarts from when its ban expires (if it was lower). @default 20 */
  scoreAfterBan: number
  /** Time-based recovery of scores below neutral, in points per minute. @default 1 */
  recoveryPointsPerMinute: number
  /** Points earned per successful request. @default 0.01 */
  rewardPointsPerSuccess: number
  /** Cap on reward points a peer earns per minute. @default 1 */
  rewardMaxPointsPerMinute: number
  /** Most peers whose score is kept in memory (and on disk). @default 10000 */
  maxTrackedPeers: number
}

export interface RateLimitConfig {
  limits: Record<LimitKind, LimitConfig>
  reputation: ReputationConfig
  /** Most buckets kept per limit kind; least recently used are evicted first. @default 10000 */
  maxBucketsPerKind: number
}

/** New connections per /24 (IPv4) or /48 (IPv6) prefix per second. @default 2 */
export const DEFAULT_CONNECTIONS_PER_SECOND = 2
/** Connections a prefix may open at once (a NATed office reconnecting after an outage). @default 20 */
export const DEFAULT_CONNECTION_BURST = 20
/** Link cells per peer per second: a fifth of the node's measured relay capacity. @default 500 */
export const DEFAULT_CELLS_PER_SECOND = 500
/** @default 1000 */
export const DEFAULT_CELL_BURST = 1000
/** Link bytes per peer per second (500 cells of 2 KiB). @default 1048576 */
export const DEFAULT_BYTES_PER_SECOND = 1_048_576
/** @default 2097152 */
export const DEFAULT_BYTE_BURST_BYTES = 2_097_152
/**
 * Circuit CREATEs per peer per second. A neighbour relay forwards CREATEs of
 * many clients, so this is well above what one client needs; each CREATE costs
 * one X25519 (~43 µs), so 10/s is cheap. @default 10
 */
export const DEFAULT_CIRCUIT_CREATIONS_PER_SECOND = 10
/** @default 30 */
export const DEFAULT_CIRCUIT_BURST = 30
/** Swarm requests (store/retrieve/delete, node-to-node) per peer per second. @default 50 */
export const DEFAULT_SWARM_REQUESTS_PER_SECOND = 50
/** @default 100 */
export const DEFAULT_SWARM_REQUEST_BURST = 100
/** Deposits into one mailbox per second, whoever sends them (limits mailbox flooding). @default 5 */
export const DEFAULT_DEPOSITS_PER_SECOND = 5
/** A busy group chat may deliver a burst to one member. @default 50 */
export const DEFAULT_DEPOSIT_BURST = 50
/** Subscriptions to one mailbox per second (its owner's long polls: one per message delivered, or per wait). @default 5 */
export const DEFAULT_SUBSCRIBES_PER_SECOND = 5
/** @default 50 */
export const DEFAULT_SUBSCRIBE_BURST = 50

export const DEFAULT_LOW_TIER_MAX_SCORE = 30
export const DEFAULT_HIGH_TIER_MIN_SCORE = 70
export const DEFAULT_LOW_TIER_WEIGHT = 0.1
export const DEFAULT_NEUTRAL_TIER_WEIGHT = 1
export const DEFAULT_HIGH_TIER_WEIGHT = 2

/**
 * Penalty points, on the 0-100 scale, starting from neutral 50 with a ban at 10
 * (so 40 points separate a fresh peer from a ban):
 * - bucket_overflow 2: honest clients can be bursty, so one overflow is nearly
 *   free; with the 1 s cooldown a peer must keep flooding for ~20 s to be banned.
 * - malformed_cell 10: cells are fixed-size and framed, so an honest peer never
 *   sends one, but version skew or a bug can; four strikes.
 * - bad_mac 8: a MAC the sender itself computed that fails is tampering or a
 *   broken implementation; five strikes. Forwarded cells whose inner layer fails
 *   cannot be blamed on the neighbour and must not be reported as bad_mac
 *   (the neighbour cannot check our layer); the 1 s cooldown limits framing.
 * - bad_signature 15: over an authenticated transport a wrong signature is a
 *   forgery attempt, not noise; three strikes.
 * - handshake_failure 3: networks drop handshakes halfway; only repeated
 *   failures should matter.
 * - protocol_misuse 5: wrong command for the state, reused circuit id... Some
 *   are races with an honest peer (cells in flight after DESTROY), so moderate.
 */
export const DEFAULT_PENALTIES: Readonly<Record<Violation, number>> = Object.freeze({
  bucket_overflow: 2,
  malformed_cell: 10,
  bad_mac: 8,
  bad_signature: 15,
  handshake_failure: 3,
  protocol_misuse: 5
})

/** Flood-type violations arrive by the thousand per second; penalise them once per second. */
export const DEFAULT_PENALTY_COOLDOWNS_MS: Readonly<Record<Violation, number>> = Object.freeze({
  bucket_overflow: 1000,
  malformed_cell: 0,
  bad_mac: 1000,
  bad_signature: 0,
  handshake_failure: 0,
  protocol_misuse: 0
})

export const DEFAULT_BAN_THRESHOLD_SCORE = 10
export const DEFAULT_BAN_DURATION_MS = 3_600_000
/** Low tier, above the ban threshold: a returning peer is on probation, not re-banned by its first slip. */
export const DEFAULT_SCORE_AFTER_BAN = 20
/** From the ban threshold back to neutral in 40 minutes of good behaviour. */
export const DEFAULT_RECOVERY_POINTS_PER_MINUTE = 1
/** 100 successful requests per point. */
export const DEFAULT_REWARD_POINTS_PER_SUCCESS = 0.01
/** A fresh identity needs at least 20 minutes of good traffic to reach the ×2 tier (limits Sybil gain). */
export const DEFAULT_REWARD_MAX_POINTS_PER_MINUTE = 1
export const DEFAULT_MAX_TRACKED_PEERS = 10_000
export const DEFAULT_MAX_BUCKETS_PER_KIND = 10_000

export const DEFAULT_RATE_LIMIT_CONFIG: Readonly<RateLimitConfig> = deepFreeze({
  limits: {
    connection: { ratePerSecond: DEFAULT_CONNECTIONS_PER_SECOND, burst: DEFAULT_CONNECTION_BURST },
    cells: { ratePerSecond: DEFAULT_CELLS_PER_SECOND, burst: DEFAULT_CELL_BURST },
    bytes: { ratePerSecond: DEFAULT_BYTES_PER_SECOND, burst: DEFAULT_BYTE_BURST_BYTES },
    circuits: { ratePerSecond: DEFAULT_CIRCUIT_CREATIONS_PER_SECOND, burst: DEFAULT_CIRCUIT_BURST },
    swarm: { ratePerSecond: DEFAULT_SWARM_REQUESTS_PER_SECOND, burst: DEFAULT_SWARM_REQUEST_BURST },
    deposit: { ratePerSecond: DEFAULT_DEPOSITS_PER_SECOND, burst: DEFAULT_DEPOSIT_BURST },
    subscribe: { ratePerSecond: DEFAULT_SUBSCRIBES_PER_SECOND, burst: DEFAULT_SUBSCRIBE_BURST }
  },
  reputation: {
    tiers: {
      lowMaxScore: DEFAULT_LOW_TIER_MAX_SCORE,
      highMinScore: DEFAULT_HIGH_TIER_MIN_SCORE,
      lowWeight: DEFAULT_LOW_TIER_WEIGHT,
      neutralWeight: DEFAULT_NEUTRAL_TIER_WEIGHT,
      highWeight: DEFAULT_HIGH_TIER_WEIGHT
    },
    penalties: { ...DEFAULT_PENALTIES },
    penaltyCooldownsMs: { ...DEFAULT_PENALTY_COOLDOWNS_MS },
    banThresholdScore: DEFAULT_BAN_THRESHOLD_SCORE,
    banDurationMs: DEFAULT_BAN_DURATION_MS,
    scoreAfterBan: DEFAULT_SCORE_AFTER_BAN,
    recoveryPointsPerMinute: DEFAULT_RECOVERY_POINTS_PER_MINUTE,
    rewardPointsPerSuccess: DEFAULT_REWARD_POINTS_PER_SUCCESS,
    rewardMaxPointsPerMinute: DEFAULT_REWARD_MAX_POINTS_PER_MINUTE,
    maxTrackedPeers: DEFAULT_MAX_TRACKED_PEERS
  },
  maxBucketsPerKind: DEFAULT_MAX_BUCKETS_PER_KIND
})

function deepFreeze<T extends object> (value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child)
  }
  return Object.freeze(value)
}
