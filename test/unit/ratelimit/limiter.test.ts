import { expect } from 'chai'
import { Registry } from 'prom-client'
import { DEFAULT_MAX_BUCKETS_PER_KIND, DEFAULT_MAX_TRACKED_PEERS, LIMIT_KINDS } from '../../../src/ratelimit/config.js'
import { PeerBannedError, RateLimitedError } from '../../../src/ratelimit/errors.js'
import { RateLimiter, denialError } from '../../../src/ratelimit/limiter.js'
import { ReputationTracker } from '../../../src/ratelimit/reputation.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import type { LimitKind } from '../../../src/ratelimit/config.js'

const HOUR = 3_600_000
/** Reward settings that let a test reach the high tier in one call. */
const FAST_REWARDS = { rewardPointsPerSuccess: 1, rewardMaxPointsPerMinute: 100 }

describe('RateLimiter', () => {
  let clock: FakeClock

  beforeEach(() => {
    clock = new FakeClock()
  })

  function limiter (registry = new Registry()): RateLimiter {
    return new RateLimiter({
      now: clock.now,
      registry,
      config: { limits: { cells: { ratePerSecond: 10, burst: 20 } }, reputation: FAST_REWARDS }
    })
  }

  function allowedCount (rl: RateLimiter, kind: LimitKind, key: string, peer?: string): number {
    let n = 0
    while (rl.check(kind, key, 1, peer).allowed) n++
    return n
  }

  it('allows the burst, then refuses with rate_limited and the refill wait', () => {
    const rl = limiter()
    expect(allowedCount(rl, 'cells', 'peer')).to.equal(20)
    expect(rl.check('cells', 'peer')).to.deep.equal({ allowed: false, reason: 'rate_limited', retryAfterMs: 100 })
  })

  it('gives each tier exactly its weighted rate and burst', () => {
    const rl = limiter()
    rl.penalize('low', 'malformed_cell')
    rl.penalize('low', 'malformed_cell')
    // 80, not 70: the overflow that ends each drain costs 2 points, and the
    // high peer must stay high for the second round.
    rl.reward('high', 30)
    expect(rl.reputation.tier('low')).to.equal('low')
    expect(rl.reputation.tier('high')).to.equal('high')
    const expected: Array<[string, number, number]> = [['low', 2, 1], ['neutral', 20, 10], ['high', 40, 20]]
    for (const [peer, burst] of expected) expect(allowedCount(rl, 'cells', peer), `${peer} burst`).to.equal(burst)
    clock.advance(1000)
    for (const [peer, , rate] of expected) expect(allowedCount(rl, 'cells', peer), `${peer} rate`).to.equal(rate)
  })

  it('rescales a peer\'s existing buckets when its tier changes', () => {
    const rl = limiter()
    expect(rl.check('cells', 'p', 10).allowed).to.equal(true)
    rl.reward('p', 20)
    // Half of burst 20 left becomes half of burst 40.
    expect(allowedCount(rl, 'cells', 'p')).to.equal(20)
  })

  it('penalises the peer and counts the metric when a bucket overflows', async () => {
    const registry = new Registry()
    const rl = limiter(registry)
    allowedCount(rl, 'cells', 'p')
    expect(rl.reputation.score('p')).to.equal(48)
    const throttled = await registry.getSingleMetric('ghostnode_ratelimit_throttled_total')?.get()
    expect(throttled?.values.find(v => v.labels.kind === 'cells')?.value).to.equal(1)
    const violations = await registry.getSingleMetric('ghostnode_reputation_violations_total')?.get()
    expect(violations?.values.find(v => v.labels.violation === 'bucket_overflow')?.value).to.equal(1)
  })

  it('always denies a banned peer with reason banned', () => {
    const rl = limiter()
    rl.reputation.ban('p', HOUR)
    for (const kind of LIMIT_KINDS) {
      expect(rl.check(kind, 'key-for-' + kind, 1, 'p'), kind).to.deep.equal({ allowed: false, reason: 'banned', retryAfterMs: HOUR })
    }
    expect(rl.check('cells', 'p')).to.include({ allowed: false, reason: 'banned' })
    expect(rl.isBanned('p')).to.equal(true)
    clock.advance(HOUR)
    expect(rl.check('cells', 'p').allowed).to.equal(true)
  })

  it('bans a peer that keeps flooding', () => {
    const rl = limiter()
    const bans: string[] = []
    rl.reputation.onBan(peer => bans.push(peer))
    let seconds = 0
    while (!rl.isBanned('flood') && seconds < 120) {
      allowedCount(rl, 'cells', 'flood')
      clock.advance(1000)
      seconds++
    }
    expect(bans).to.deep.equal(['flood'])
    expect(seconds).to.be.within(15, 30)
  })

  it('divides the cost of shared keys by the caller\'s weight', () => {
    const rl = new RateLimiter({ registry: new Registry(), now: clock.now, config: { limits: { deposit: { ratePerSecond: 1, burst: 20 } }, reputation: FAST_REWARDS } })
    rl.penalize('low', 'malformed_cell')
    rl.penalize('low', 'malformed_cell')
    rl.reward('high', 20)
    expect(allowedCount(rl, 'deposit', 'mailbox-1', 'low')).to.equal(2)
    expect(allowedCount(rl, 'deposit', 'mailbox-2', 'neutral')).to.equal(20)
    expect(allowedCount(rl, 'deposit', 'mailbox-3', 'high')).to.equal(40)
  })

  it('limits connection attempts per prefix without tracking unknown peers', () => {
    const rl = new RateLimiter({ registry: new Registry(), now: clock.now })
    expect(allowedCount(rl, 'connection', 'ip4:192.0.2.0/24')).to.equal(20)
    expect(rl.check('connection', 'ip4:198.51.100.0/24').allowed).to.equal(true)
    expect(rl.reputation.size).to.equal(0)
  })

  it('refuses a cost above the burst as cost_exceeds_burst', () => {
    const rl = limiter()
    expect(rl.check('cells', 'p', 21)).to.deep.equal({ allowed: false, reason: 'cost_exceeds_burst', retryAfterMs: Infinity })
    expect(rl.check('cells', 'p', 20).allowed).to.equal(true)
  })

  it('keeps bucket and peer maps bounded under 100,000 distinct keys', () => {
    const rl = new RateLimiter({ registry: new Registry(), now: clock.now, config: { limits: { swarm: { ratePerSecond: 1, burst: 1 } } } })
    for (let i = 0; i < 100_000; i++) {
      rl.check('swarm', `peer-${i}`, 1)
      rl.check('swarm', `peer-${i}`, 1)
    }
    expect(rl.bucketCount('swarm')).to.be.at.most(DEFAULT_MAX_BUCKETS_PER_KIND)
    expect(rl.reputation.size).to.be.at.most(DEFAULT_MAX_TRACKED_PEERS)
    expect(rl.reputation.size).to.be.above(0)
  })

  it('shares a tracker passed in, keeping its config', () => {
    const reputation = new ReputationTracker({ now: clock.now, config: { banThresholdScore: 45, scoreAfterBan: 46 } })
    const rl = new RateLimiter({ registry: new Registry(), now: clock.now, reputation })
    rl.penalize('p', 'malformed_cell')
    expect(reputation.isBanned('p')).to.equal(true)
    expect(rl.check('swarm', 'p').allowed).to.equal(false)
  })

  it('summarises tracked peers', () => {
    const rl = limiter()
    rl.penalize('p', 'bad_mac')
    expect(rl.peersSummary()).to.deep.equal([{ peer: 'p', score: 42, tier: 'neutral', bannedUntil: null }])
  })

  it('stops updating metrics from a shared tracker after dispose', async () => {
    const registry = new Registry()
    const reputation = new ReputationTracker({ now: clock.now })
    const rl = new RateLimiter({ now: clock.now, registry, reputation })
    rl.dispose()
    reputation.penalize('p', 'bad_mac')
    const violations = await registry.getSingleMetric('ghostnode_reputation_violations_total')?.get()
    expect(violations?.values.find(v => v.labels.violation === 'bad_mac')?.value).to.equal(0)
  })

  it('turns a denial into the typed error for its reason', () => {
    const rl = limiter()
    allowedCount(rl, 'cells', 'p')
    const limited = rl.check('cells', 'p')
    if (limited.allowed) throw new Error('expected a denial')
    expect(denialError('cells', limited)).to.be.instanceOf(RateLimitedError).and.include({ code: 'ERR_RATE_LIMITED', retryAfterMs: 100 })
    rl.reputation.ban('p', HOUR)
    const banned = rl.check('cells', 'p')
    if (banned.allowed) throw new Error('expected a denial')
    expect(denialError('cells', banned)).to.be.instanceOf(PeerBannedError).and.include({ code: 'ERR_PEER_BANNED', retryAfterMs: HOUR })
  })
})
