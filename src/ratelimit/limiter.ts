import { Registry } from 'prom-client'
import { LIMIT_KINDS } from './config.js'
import { PeerBannedError, RateLimitedError } from './errors.js'
import { KeyedBuckets } from './keyed-buckets.js'
import { RateLimitMetrics } from './metrics.js'
import { resolveRateLimitConfig } from './resolve-config.js'
import { ReputationTracker } from './reputation.js'
import type { LimitKind, RateLimitConfig, Violation } from './config.js'
import type { PeerSummary } from './reputation.js'
import type { RateLimitConfigInput } from './resolve-config.js'

export interface RateLimiterInit {
  /** Any subset of the config, merged over DEFAULT_RATE_LIMIT_CONFIG. */
  config?: RateLimitConfigInput
  /** Clock in epoch ms; must be wall-clock time when scores are persisted. @default Date.now */
  now?: () => number
  /** The node's registry, for the ratelimit/reputation metrics. */
  registry: Registry
  /**
   * A tracker to share (e.g. one already loaded by the ScoreStore). When
   * given, its own config wins over `config.reputation`.
   */
  reputation?: ReputationTracker
}

/** Why a request was refused. Stable: it may cross the wire as a status. */
export type DenyReason = 'rate_limited' | 'banned' | 'cost_exceeds_burst'

export type LimitDecision =
  | { readonly allowed: true }
  | {
    readonly allowed: false
    readonly reason: DenyReason
    /**
     * Milliseconds until the same request could pass: the bucket refill time,
     * or the rest of the ban. Infinity for `cost_exceeds_burst` (never).
     */
    readonly retryAfterMs: number
  }

/** Shared so the allowed path, the hot one, allocates nothing. */
const ALLOWED: LimitDecision = Object.freeze({ allowed: true })

/**
 * Kinds whose key is the peer id: each peer gets its own bucket, scaled by its
 * tier. The others are shared keys (an IP prefix, a mailbox) that many peers
 * draw from, so rescaling the shared bucket per caller would make it flap;
 * there the weight divides the cost instead (a low-tier peer's deposit costs
 * 10 tokens, a high-tier one's 0.5), which gives each peer the same weighted
 * share of the rate without disturbing the others.
 */
const PEER_KEYED: Readonly<Record<LimitKind, boolean>> = Object.freeze({
  connection: false,
  cells: true,
  bytes: true,
  circuits: true,
  swarm: true,
  deposit: false,
  subscribe: false
})

/**
 * Token-bucket rate limiting weighted by reputation. `check()` is the hot
 * path: O(1), never throws for a well-formed call, never waits. Over-limit
 * requests are refused (the caller sheds them), counted, and cost the peer a
 * bucket_overflow penalty; a banned peer is refused before any bucket is
 * touched.
 */
export class RateLimiter {
  /** The config in force (replaced, not mutated, by setLimits). */
  config: RateLimitConfig
  readonly reputation: ReputationTracker
  readonly registry: Registry
  private readonly now: () => number
  private readonly buckets: Record<LimitKind, KeyedBuckets>
  private readonly metrics: RateLimitMetrics
  private readonly unsubscribe: Array<() => void>

  constructor (init: RateLimiterInit) {
    this.config = resolveRateLimitConfig(init.config)
    this.now = init.now ?? Date.now
    this.reputation = init.reputation ?? new ReputationTracker({ config: this.config.reputation, now: this.now })
    this.registry = init.registry
    const buckets: Partial<Record<LimitKind, KeyedBuckets>> = {}
    for (const kind of LIMIT_KINDS) {
      const limit = this.config.limits[kind]
      buckets[kind] = new KeyedBuckets({ ...limit, now: this.now, maxEntries: this.config.maxBucketsPerKind })
    }
    this.buckets = buckets as Record<LimitKind, KeyedBuckets>
    this.metrics = new RateLimitMetrics(this.registry, this.reputation)
    this.unsubscribe = [
      this.reputation.onBan(() => { this.metrics.ban() }),
      this.reputation.onViolation((_peer, violation) => { this.metrics.violation(violation) }),
      // Eager rescale, so tokens after the change accrue at the new rate; the
      // weight passed in check() covers buckets created or touched later.
      this.reputation.onTierChange((peer, _old, tier) => {
        const weight = this.reputation.weightOfTier(tier)
        for (const kind of LIMIT_KINDS) if (PEER_KEYED[kind]) this.buckets[kind].setWeight(peer, weight)
      })
    ]
  }

  /**
   * New rates and bursts (a config reload): every bucket of every kind takes
   * them at once, keeping its fill fraction and its peer's weight.
   */
  setLimits (limits: RateLimitConfig['limits']): void {
    const next = resolveRateLimitConfig({ ...this.config, limits })
    for (const kind of LIMIT_KINDS) this.buckets[kind].setLimit(next.limits[kind].ratePerSecond, next.limits[kind].burst)
    this.config = next
  }

  /**
   * Charges `cost` units (1 connection, 1 cell, n bytes...) to `key`'s bucket
   * of `kind`. `key` is the peer id for cells/bytes/circuits/swarm, the
   * ipPrefixKey() for connection, the mailbox for deposit. `peer` is whose
   * reputation applies; it defaults to `key` for the peer-keyed kinds and may
   * be omitted for connection attempts whose peer is not known yet.
   * `blame` false charges and refuses as usual but costs the peer no
   * reputation: for an admitted relay, whose link carries what its clients
   * send, an overflow may be their doing, not its own.
   */
  check (kind: LimitKind, key: string, cost = 1, peer?: string, blame = true): LimitDecision {
    const who = peer ?? (PEER_KEYED[kind] ? key : undefined)
    let weight = 1
    if (who !== undefined) {
      const bannedUntil = this.reputation.bannedUntil(who)
      if (bannedUntil !== 0) return { allowed: false, reason: 'banned', retryAfterMs: bannedUntil - this.now() }
      weight = this.reputation.weight(who)
    }
    const wait = PEER_KEYED[kind]
      ? this.buckets[kind].take(key, cost, weight)
      : this.buckets[kind].take(key, cost / weight)
    if (wait === 0) return ALLOWED
    this.metrics.throttle(kind)
    if (who !== undefined && blame) this.reputation.penalize(who, 'bucket_overflow')
    return wait === Infinity
      ? { allowed: false, reason: 'cost_exceeds_burst', retryAfterMs: Infinity }
      : { allowed: false, reason: 'rate_limited', retryAfterMs: wait }
  }

  /** Reports misbehaviour the handlers detect (malformed cell, bad MAC...). Returns the new score. */
  penalize (peer: string, violation: Violation): number {
    return this.reputation.penalize(peer, violation)
  }

  /** Reports `successes` completed requests. Returns the new score. */
  reward (peer: string, successes = 1): number {
    return this.reputation.reward(peer, successes)
  }

  isBanned (peer: string): boolean {
    return this.reputation.isBanned(peer)
  }

  /** Every tracked peer's score, tier and ban end, lowest score first. */
  peersSummary (): PeerSummary[] {
    return this.reputation.peersSummary()
  }

  /** Buckets currently held for `kind` (bounded by maxBucketsPerKind). */
  bucketCount (kind: LimitKind): number {
    return this.buckets[kind].size
  }

  /** Detaches from the tracker (which may outlive the limiter). Safe to call twice. */
  dispose (): void {
    for (const off of this.unsubscribe.splice(0)) off()
  }
}

/**
 * The typed error for a denied decision, for handlers that fail a promise or
 * answer with an error code rather than dropping silently.
 */
export function denialError (kind: LimitKind, decision: LimitDecision & { allowed: false }): RateLimitedError | PeerBannedError {
  return decision.reason === 'banned'
    ? new PeerBannedError(decision.retryAfterMs)
    : new RateLimitedError(kind, decision.retryAfterMs)
}
