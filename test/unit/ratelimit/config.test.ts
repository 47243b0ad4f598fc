import { expect } from 'chai'
import { DEFAULT_RATE_LIMIT_CONFIG } from '../../../src/ratelimit/config.js'
import { InvalidRateLimitConfigError } from '../../../src/ratelimit/errors.js'
import { resolveRateLimitConfig } from '../../../src/ratelimit/resolve-config.js'
import type { RateLimitConfigInput } from '../../../src/ratelimit/resolve-config.js'

describe('rate limit config', () => {
  it('is plain JSON-serialisable data', () => {
    expect(JSON.parse(JSON.stringify(DEFAULT_RATE_LIMIT_CONFIG))).to.deep.equal(DEFAULT_RATE_LIMIT_CONFIG)
  })

  it('has the documented tier defaults', () => {
    expect(DEFAULT_RATE_LIMIT_CONFIG.reputation.tiers).to.deep.equal({ lowMaxScore: 30, highMinScore: 70, lowWeight: 0.1, neutralWeight: 1, highWeight: 2 })
    expect(DEFAULT_RATE_LIMIT_CONFIG.reputation.banThresholdScore).to.equal(10)
    expect(DEFAULT_RATE_LIMIT_CONFIG.reputation.banDurationMs).to.equal(3_600_000)
  })

  it('cannot be mutated by accident', () => {
    expect(Object.isFrozen(DEFAULT_RATE_LIMIT_CONFIG.limits.cells)).to.equal(true)
    expect(Object.isFrozen(DEFAULT_RATE_LIMIT_CONFIG.reputation.penalties)).to.equal(true)
  })

  it('merges a partial config over the defaults into a fresh object', () => {
    const config = resolveRateLimitConfig({ limits: { cells: { burst: 5 } }, reputation: { tiers: { highWeight: 3 } } })
    expect(config.limits.cells).to.deep.equal({ ratePerSecond: DEFAULT_RATE_LIMIT_CONFIG.limits.cells.ratePerSecond, burst: 5 })
    expect(config.reputation.tiers.highWeight).to.equal(3)
    expect(config.reputation.tiers.lowWeight).to.equal(0.1)
    config.limits.swarm.burst = 1
    expect(DEFAULT_RATE_LIMIT_CONFIG.limits.swarm.burst).to.not.equal(1)
  })

  it('names the bad key and value', () => {
    const cases: Array<[RateLimitConfigInput, string, unknown]> = [
      [{ limits: { cells: { burst: -1 } } }, 'limits.cells.burst', -1],
      [{ limits: { bytes: { ratePerSecond: 'fast' as unknown as number } } }, 'limits.bytes.ratePerSecond', 'fast'],
      [{ reputation: { tiers: { lowMaxScore: 80 } } }, 'reputation.tiers.highMinScore', 70],
      [{ reputation: { banThresholdScore: 50 } }, 'reputation.banThresholdScore', 50],
      [{ reputation: { scoreAfterBan: 5 } }, 'reputation.scoreAfterBan', 5],
      [{ maxBucketsPerKind: 0 }, 'maxBucketsPerKind', 0]
    ]
    for (const [input, key, value] of cases) {
      expect(() => resolveRateLimitConfig(input), key).to.throw(InvalidRateLimitConfigError)
        .that.deep.include({ key, value, code: 'ERR_INVALID_RATE_LIMIT_CONFIG' })
    }
  })

  it('rejects unknown keys instead of ignoring a typo', () => {
    const input = { reputation: { banTreshold: 5 } } as unknown as RateLimitConfigInput
    expect(() => resolveRateLimitConfig(input)).to.throw(InvalidRateLimitConfigError, /reputation\.banTreshold.*unknown key/)
  })
})
