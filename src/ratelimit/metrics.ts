import { Counter, Gauge, Histogram } from 'prom-client'
import { LIMIT_KINDS, TIERS, VIOLATIONS } from './config.js'
import type { LimitKind, Tier, Violation } from './config.js'
import type { ReputationTracker } from './reputation.js'
import type { Registry } from 'prom-client'

/** Score histogram buckets: one per tenth of the scale, so tier boundaries at 30/70 fall on edges. */
const SCORE_BUCKETS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]

/**
 * Rate-limit and reputation metrics. Every label value comes from a fixed
 * enum (limit kind, tier, violation): never a peer id, which would make
 * cardinality unbounded and leak who talks to the node.
 * Per-peer figures (tiers, score distribution) are computed on scrape.
 */
export class RateLimitMetrics {
  private readonly throttled: Counter<'kind'>
  private readonly bans: Counter
  private readonly violations: Counter<'violation'>

  constructor (registry: Registry, reputation: ReputationTracker) {
    const registers = [registry]
    this.throttled = new Counter({
      name: 'ghostnode_ratelimit_throttled_total',
      help: 'Requests refused by a token bucket, by limit kind',
      labelNames: ['kind'],
      registers
    })
    this.bans = new Counter({
      name: 'ghostnode_ratelimit_bans_total',
      help: 'Peers banned (score at or below the ban threshold, or banned by an operator)',
      registers
    })
    this.violations = new Counter({
      name: 'ghostnode_reputation_violations_total',
      help: 'Violations reported, by kind (including ones absorbed by a ban or cooldown)',
      labelNames: ['violation'],
      registers
    })
    new Gauge({
      name: 'ghostnode_reputation_peers',
      help: 'Tracked peers, by reputation tier',
      labelNames: ['tier'],
      registers,
      collect () {
        const counts: Record<Tier, number> = { low: 0, neutral: 0, high: 0 }
        for (const row of reputation.peersSummary()) counts[row.tier]++
        for (const tier of TIERS) this.set({ tier }, counts[tier])
      }
    })
    new Histogram({
      name: 'ghostnode_reputation_score',
      help: 'Distribution of tracked peers\' reputation scores (0-100)',
      buckets: SCORE_BUCKETS,
      registers,
      collect () {
        // A snapshot, not a history: rebuilt from the current scores on every scrape.
        this.reset()
        for (const row of reputation.peersSummary()) this.observe(row.score)
      }
    })
    // Export zeros from the start so dashboards and alerts see every series.
    for (const kind of LIMIT_KINDS) this.throttled.inc({ kind }, 0)
    for (const violation of VIOLATIONS) this.violations.inc({ violation }, 0)
  }

  throttle (kind: LimitKind): void {
    this.throttled.inc({ kind })
  }

  ban (): void {
    this.bans.inc()
  }

  violation (violation: Violation): void {
    this.violations.inc({ violation })
  }
}
