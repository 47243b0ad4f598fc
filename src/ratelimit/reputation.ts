import { MAX_SCORE, MIN_SCORE, NEUTRAL_SCORE } from './config.js'
import { resolveReputationConfig } from './resolve-config.js'
import type { ReputationConfig, Tier, Violation } from './config.js'
import type { ReputationConfigInput } from './resolve-config.js'

export interface ReputationTrackerInit {
  /** Any subset of the reputation config, merged over the defaults. */
  config?: ReputationConfigInput
  /**
   * Clock in epoch milliseconds. Must be wall-clock time when scores are
   * persisted, since bans and recovery are computed from stored timestamps.
   * @default Date.now
   */
  now?: () => number
}

/** What is persisted per peer; everything else is derived or transient. */
export interface PeerScoreRecord {
  /** Score as of `updatedAt` (recovery since then is applied on read). */
  score: number
  updatedAt: number
  /** Epoch ms the ban ends, 0 when not banned. */
  bannedUntil: number
  lastSeen: number
}

/** One row of `ghostnode peers`. */
export interface PeerSummary {
  peer: string
  score: number
  tier: Tier
  /** Epoch ms the ban ends, or null when the peer is not banned. */
  bannedUntil: number | null
}

export type BanListener = (peer: string, bannedUntil: number) => void
export type TierChangeListener = (peer: string, oldTier: Tier, newTier: Tier) => void
export type ViolationListener = (peer: string, violation: Violation, penalised: boolean) => void

interface PeerEntry extends PeerScoreRecord {
  /** Tier last reported to listeners, so a change fires exactly once. */
  tier: Tier
  rewardWindowStart: number
  rewardInWindow: number
  /** Per violation, when its cooldown ends; only allocated for peers that hit one. */
  cooldownUntil: Partial<Record<Violation, number>> | undefined
  /** Why the current ban began (kept in memory only: after a restart it reads 'before restart'). */
  banReason?: string
}

/** A banned peer as an operator sees it. */
export interface BanSummary {
  peer: string
  score: number
  /** The violation that took the score to the threshold, or 'operator'. */
  reason: string
  until: number
}

const MS_PER_MINUTE = 60_000
/** Evict a tenth of the map at once so the sort behind eviction is amortised over many inserts. */
const EVICTION_FRACTION = 0.1

/**
 * Reputation scores 0-100 per peer, starting at neutral 50.
 *
 * - Violations subtract a penalty (config table); a score at or below the ban
 *   threshold bans the peer for `banDurationMs`. While banned the score is
 *   frozen; when the ban ends the peer resumes at least at `scoreAfterBan`.
 * - Scores below neutral recover with time at `recoveryPointsPerMinute`.
 *   Recovery is computed lazily from timestamps on access (no timers), so a
 *   tier change caused only by the passage of time is reported on the next
 *   access to that peer.
 * - Successful requests earn a small reward, capped per minute, which is the
 *   only way above neutral.
 * - The map is bounded: at `maxTrackedPeers` the entries carrying the least
 *   information go first: closest to neutral (in whole points), then least
 *   recently seen; banned peers only after every non-banned one.
 *
 * Lookups of unknown peers do not create entries, so merely talking to the
 * node costs no memory here.
 */
export class ReputationTracker {
  /** The config in force (replaced, not mutated, by setTiers). */
  config: ReputationConfig
  private readonly now: () => number
  private readonly peers = new Map<string, PeerEntry>()
  private readonly banListeners = new Set<BanListener>()
  private readonly tierListeners = new Set<TierChangeListener>()
  private readonly violationListeners = new Set<ViolationListener>()
  private changeListener: ((peer: string) => void) | undefined

  constructor (init: ReputationTrackerInit = {}) {
    this.config = resolveReputationConfig(init.config)
    this.now = init.now ?? Date.now
  }

  /** Peers currently tracked. */
  get size (): number { return this.peers.size }

  /** The tier a score falls in. */
  tierOf (score: number): Tier {
    const { lowMaxScore, highMinScore } = this.config.tiers
    if (score <= lowMaxScore) return 'low'
    if (score >= highMinScore) return 'high'
    return 'neutral'
  }

  /** The rate/burst multiplier of a tier. */
  /**
   * New tier bounds and weights (a config reload). Every tracked peer is placed
   * in its tier again at once, and every peer whose weight changed has its
   * buckets rescaled (the tier listeners; an untracked peer's weight applies at
   * its next request).
   */
  setTiers (tiers: ReputationConfig['tiers']): void {
    const before = this.config.tiers
    this.config = resolveReputationConfig({ ...this.config, tiers })
    const now = this.now()
    for (const [peer, entry] of this.peers) {
      const score = this.effectiveScore(entry, now)
      const tier = this.tierOf(score)
      const weightBefore = entry.tier === 'low' ? before.lowWeight : entry.tier === 'high' ? before.highWeight : before.neutralWeight
      if (tier !== entry.tier || this.weightOfTier(tier) !== weightBefore) {
        const old = entry.tier
        entry.tier = tier
        emit(this.tierListeners, peer, old, tier)
      }
    }
  }

  weightOfTier (tier: Tier): number {
    const { tiers } = this.config
    return tier === 'low' ? tiers.lowWeight : tier === 'high' ? tiers.highWeight : tiers.neutralWeight
  }

  /** Current score; NEUTRAL_SCORE for a peer never seen. */
  score (peer: string): number {
    return this.settle(peer)?.score ?? NEUTRAL_SCORE
  }

  tier (peer: string): Tier {
    return this.settle(peer)?.tier ?? this.tierOf(NEUTRAL_SCORE)
  }

  /** Rate/burst multiplier for the peer's current tier. Marks the peer as seen. */
  weight (peer: string): number {
    const entry = this.settle(peer)
    if (entry === undefined) return this.weightOfTier(this.tierOf(NEUTRAL_SCORE))
    entry.lastSeen = this.now()
    return this.weightOfTier(entry.tier)
  }

  isBanned (peer: string): boolean {
    return this.bannedUntil(peer) !== 0
  }

  /** Epoch ms the peer's ban ends, or 0 when it is not banned. */
  bannedUntil (peer: string): number {
    return this.settle(peer)?.bannedUntil ?? 0
  }

  /**
   * Records a violation and, unless the peer is banned or the violation is in
   * its cooldown, subtracts the configured penalty; bans at the threshold.
   * Returns the new score.
   */
  penalize (peer: string, violation: Violation): number {
    const now = this.now()
    const entry = this.settleOrCreate(peer, now)
    entry.lastSeen = now
    const cooldown = this.config.penaltyCooldownsMs[violation]
    const cooling = cooldown > 0 && (entry.cooldownUntil?.[violation] ?? 0) > now
    // A banned peer is already cut off; stacking penalties would only lengthen nothing.
    const penalise = entry.bannedUntil === 0 && !cooling
    if (penalise) {
      if (cooldown > 0) (entry.cooldownUntil ??= {})[violation] = now + cooldown
      entry.score = Math.max(MIN_SCORE, entry.score - this.config.penalties[violation])
      if (entry.score <= this.config.banThresholdScore) {
        entry.bannedUntil = now + this.config.banDurationMs
        entry.banReason = violation
      }
      this.changed(peer)
    }
    emit(this.violationListeners, peer, violation, penalise)
    if (penalise && entry.bannedUntil !== 0) emit(this.banListeners, peer, entry.bannedUntil)
    this.updateTier(peer, entry)
    return entry.score
  }

  /** Credits `successes` successful requests, within the per-minute cap. Returns the new score. */
  reward (peer: string, successes = 1): number {
    const now = this.now()
    const entry = this.settleOrCreate(peer, now)
    entry.lastSeen = now
    if (entry.bannedUntil !== 0 || !(successes > 0)) return entry.score
    if (now - entry.rewardWindowStart >= MS_PER_MINUTE) {
      entry.rewardWindowStart = now
      entry.rewardInWindow = 0
    }
    const room = this.config.rewardMaxPointsPerMinute - entry.rewardInWindow
    const points = Math.min(successes * this.config.rewardPointsPerSuccess, room, MAX_SCORE - entry.score)
    if (points <= 0) return entry.score
    entry.score += points
    entry.rewardInWindow += points
    this.changed(peer)
    this.updateTier(peer, entry)
    return entry.score
  }

  /** Bans a peer now (operator action), whatever its score. */
  ban (peer: string, durationMs = this.config.banDurationMs): void {
    const now = this.now()
    const entry = this.settleOrCreate(peer, now)
    entry.bannedUntil = Math.max(entry.bannedUntil, now + durationMs)
    entry.banReason = 'operator'
    this.changed(peer)
    emit(this.banListeners, peer, entry.bannedUntil)
  }

  /**
   * Lifts a ban now (operator action). The peer resumes at `scoreAfterBan` at
   * least, as when a ban runs out. False when it was not banned.
   */
  unban (peer: string): boolean {
    const now = this.now()
    const entry = this.settle(peer)
    if (entry === undefined || entry.bannedUntil <= now) return false
    entry.score = Math.max(entry.score, this.config.scoreAfterBan)
    entry.bannedUntil = 0
    entry.banReason = undefined
    entry.updatedAt = now
    this.changed(peer)
    this.updateTier(peer, entry)
    return true
  }

  /** Peers banned now, with why and until when, soonest-ending first. */
  bans (): BanSummary[] {
    const now = this.now()
    const rows: BanSummary[] = []
    for (const [peer, entry] of this.peers) {
      if (entry.bannedUntil <= now) continue
      rows.push({ peer, score: this.effectiveScore(entry, now), reason: entry.banReason ?? 'before restart', until: entry.bannedUntil })
    }
    return rows.sort((a, b) => a.until - b.until)
  }

  /** Called after the peer is banned (by score or by `ban()`); the wiring disconnects it. Returns an unsubscribe function. */
  onBan (listener: BanListener): () => void {
    return subscribe(this.banListeners, listener)
  }

  /** Called when a peer's tier changes; the wiring rescales its buckets. Returns an unsubscribe function. */
  onTierChange (listener: TierChangeListener): () => void {
    return subscribe(this.tierListeners, listener)
  }

  /** Called for every reported violation; `penalised` is false when a ban or cooldown absorbed it. */
  onViolation (listener: ViolationListener): () => void {
    return subscribe(this.violationListeners, listener)
  }

  /** Every tracked peer with its score, tier and ban end, lowest score first. Side-effect free. */
  peersSummary (): PeerSummary[] {
    const now = this.now()
    const rows: PeerSummary[] = []
    for (const [peer, entry] of this.peers) {
      const score = this.effectiveScore(entry, now)
      const banned = entry.bannedUntil > now
      rows.push({ peer, score, tier: this.tierOf(score), bannedUntil: banned ? entry.bannedUntil : null })
    }
    return rows.sort((a, b) => a.score - b.score)
  }

  /** The persisted form of a tracked peer, or undefined when it is not tracked (deleted). */
  exportRecord (peer: string): PeerScoreRecord | undefined {
    const entry = this.peers.get(peer)
    if (entry === undefined) return undefined
    return { score: entry.score, updatedAt: entry.updatedAt, bannedUntil: entry.bannedUntil, lastSeen: entry.lastSeen }
  }

  /**
   * Loads a persisted record without firing listeners. A peer already tracked
   * keeps its in-memory state, which is newer. Returns whether it was loaded.
   */
  importRecord (peer: string, record: PeerScoreRecord): boolean {
    if (this.peers.has(peer)) return false
    this.makeRoom()
    const score = Math.min(MAX_SCORE, Math.max(MIN_SCORE, record.score))
    this.peers.set(peer, {
      score,
      updatedAt: record.updatedAt,
      bannedUntil: record.bannedUntil,
      lastSeen: record.lastSeen,
      tier: this.tierOf(this.effectiveScore({ ...record, score }, this.now())),
      rewardWindowStart: 0,
      rewardInWindow: 0,
      cooldownUntil: undefined
    })
    return true
  }

  /** One listener (the score store) told which peer's persisted state changed or was evicted. */
  setChangeListener (listener: ((peer: string) => void) | undefined): void {
    this.changeListener = listener
  }

  /** Score at `now` without committing it: frozen while banned, then recovering toward neutral. */
  private effectiveScore (entry: PeerScoreRecord, now: number): number {
    let score = entry.score
    let from = entry.updatedAt
    if (entry.bannedUntil !== 0) {
      if (now < entry.bannedUntil) return score
      score = Math.max(score, this.config.scoreAfterBan)
      from = Math.max(from, entry.bannedUntil)
    }
    if (score < NEUTRAL_SCORE && now > from) {
      score = Math.min(NEUTRAL_SCORE, score + (now - from) * this.config.recoveryPointsPerMinute / MS_PER_MINUTE)
    }
    return score
  }

  /** Commits recovery and ban expiry up to now; fires a tier change if one happened. */
  private settle (peer: string, now = this.now()): PeerEntry | undefined {
    const entry = this.peers.get(peer)
    if (entry === undefined) return undefined
    const banEnded = entry.bannedUntil !== 0 && now >= entry.bannedUntil
    if (now > entry.updatedAt || banEnded) {
      entry.score = this.effectiveScore(entry, now)
      if (banEnded) entry.bannedUntil = 0
      entry.updatedAt = Math.max(entry.updatedAt, now)
      this.updateTier(peer, entry)
    }
    return entry
  }

  private settleOrCreate (peer: string, now: number): PeerEntry {
    const existing = this.settle(peer, now)
    if (existing !== undefined) return existing
    this.makeRoom()
    const entry: PeerEntry = {
      score: NEUTRAL_SCORE,
      updatedAt: now,
      bannedUntil: 0,
      lastSeen: now,
      tier: this.tierOf(NEUTRAL_SCORE),
      rewardWindowStart: now,
      rewardInWindow: 0,
      cooldownUntil: undefined
    }
    this.peers.set(peer, entry)
    return entry
  }

  private updateTier (peer: string, entry: PeerEntry): void {
    const tier = this.tierOf(entry.score)
    if (tier === entry.tier) return
    const old = entry.tier
    entry.tier = tier
    emit(this.tierListeners, peer, old, tier)
  }

  private changed (peer: string): void {
    this.changeListener?.(peer)
  }

  /** Makes room for one more entry, evicting a batch when the map is full. */
  private makeRoom (): void {
    const max = this.config.maxTrackedPeers
    if (this.peers.size < max) return
    const now = this.now()
    const candidates = [...this.peers].map(([peer, entry]) => ({
      peer,
      bannedUntil: entry.bannedUntil > now ? entry.bannedUntil : 0,
      // Whole points, so last-seen still orders peers a few rewards apart.
      distance: Math.floor(Math.abs(this.effectiveScore(entry, now) - NEUTRAL_SCORE)),
      lastSeen: entry.lastSeen
    }))
    candidates.sort((a, b) => {
      if ((a.bannedUntil === 0) !== (b.bannedUntil === 0)) return a.bannedUntil === 0 ? -1 : 1
      // Among banned peers, the ban closest to its end is the least to lose.
      if (a.bannedUntil !== 0) return a.bannedUntil - b.bannedUntil
      return a.distance - b.distance || a.lastSeen - b.lastSeen
    })
    const count = Math.max(1, this.peers.size - max + 1, Math.floor(max * EVICTION_FRACTION))
    for (let i = 0; i < count && i < candidates.length; i++) {
      this.peers.delete(candidates[i].peer)
      this.changed(candidates[i].peer)
    }
  }
}

function subscribe<T> (set: Set<T>, listener: T): () => void {
  set.add(listener)
  return () => { set.delete(listener) }
}

/**
 * Calls every listener. A throwing listener must not leave the tracker half
 * updated or starve the others, yet its bug must not vanish: it is rethrown
 * on a fresh task, like EventTarget does.
 */
function emit<A extends unknown[]> (listeners: Set<(...args: A) => void>, ...args: A): void {
  for (const listener of listeners) {
    try {
      listener(...args)
    } catch (err) {
      queueMicrotask(() => { throw err })
    }
  }
}
