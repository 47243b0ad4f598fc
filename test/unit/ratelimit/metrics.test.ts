import { expect } from 'chai'
import { Registry } from 'prom-client'
import { LIMIT_KINDS, TIERS, VIOLATIONS } from '../../../src/ratelimit/config.js'
import { RateLimiter } from '../../../src/ratelimit/limiter.js'
import { FakeClock } from '../../helpers/fake-clock.js'

const PEER_ID = '12D3KooWGhostPeerThatMustNeverBeALabel'

describe('rate limit metrics', () => {
  let clock: FakeClock
  let registry: Registry
  let rl: RateLimiter

  beforeEach(() => {
    clock = new FakeClock()
    registry = new Registry()
    rl = new RateLimiter({ now: clock.now, registry, config: { limits: { cells: { ratePerSecond: 1, burst: 1 } } } })
  })

  it('registers the documented metric names in the injected registry', async () => {
    const names = (await registry.getMetricsAsJSON()).map(m => m.name).sort()
    expect(names).to.deep.equal([
      'ghostnode_ratelimit_bans_total',
      'ghostnode_ratelimit_throttled_total',
      'ghostnode_reputation_peers',
      'ghostnode_reputation_score',
      'ghostnode_reputation_violations_total'
    ])
  })

  it('uses only fixed-enum label values, never peer ids', async () => {
    rl.check('cells', PEER_ID)
    rl.check('cells', PEER_ID)
    for (let i = 0; i < 3; i++) rl.penalize(PEER_ID, 'bad_signature')
    const allowed: Record<string, readonly string[]> = { kind: LIMIT_KINDS, tier: TIERS, violation: VIOLATIONS }
    for (const metric of await registry.getMetricsAsJSON()) {
      for (const value of metric.values) {
        for (const [label, labelValue] of Object.entries(value.labels)) {
          if (label === 'le') continue
          expect(allowed[label], `${metric.name} label ${label}`).to.not.equal(undefined)
          expect(allowed[label]).to.include(labelValue)
        }
      }
    }
    expect(await registry.metrics()).to.not.include(PEER_ID)
  })

  it('exports every kind and violation series from the start', async () => {
    const text = await registry.metrics()
    for (const kind of LIMIT_KINDS) expect(text).to.include(`ghostnode_ratelimit_throttled_total{kind="${kind}"} 0`)
    for (const violation of VIOLATIONS) expect(text).to.include(`ghostnode_reputation_violations_total{violation="${violation}"} 0`)
  })

  it('counts bans and peers by tier, and rebuilds the score histogram on scrape', async () => {
    for (let i = 0; i < 3; i++) rl.penalize('banned', 'bad_signature')
    rl.penalize('low', 'malformed_cell')
    rl.penalize('low', 'malformed_cell')
    rl.reward('neutral')
    const text = await registry.metrics()
    expect(text).to.include('ghostnode_ratelimit_bans_total 1')
    expect(text).to.include('ghostnode_reputation_peers{tier="low"} 2')
    expect(text).to.include('ghostnode_reputation_peers{tier="neutral"} 1')
    expect(text).to.include('ghostnode_reputation_peers{tier="high"} 0')
    expect(text).to.include('ghostnode_reputation_score_count 3')
    expect(text).to.include('ghostnode_reputation_score_bucket{le="10"} 1')
    // A second scrape must not double the observations.
    expect(await registry.metrics()).to.include('ghostnode_reputation_score_count 3')
  })

  it('uses a private registry when none is injected', async () => {
    const a = new RateLimiter({ registry: new Registry(), now: clock.now })
    const b = new RateLimiter({ registry: new Registry(), now: clock.now })
    expect(a.registry).to.not.equal(b.registry)
    expect((await a.registry.getMetricsAsJSON()).length).to.equal(5)
  })
})
