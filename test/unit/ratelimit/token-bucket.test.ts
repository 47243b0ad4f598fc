import { expect } from 'chai'
import { InvalidCostError, InvalidRateLimitConfigError } from '../../../src/ratelimit/errors.js'
import { TokenBucket } from '../../../src/ratelimit/token-bucket.js'
import { FakeClock } from '../../helpers/fake-clock.js'

describe('TokenBucket', () => {
  let clock: FakeClock

  beforeEach(() => {
    clock = new FakeClock()
  })

  function drain (bucket: TokenBucket): number {
    let taken = 0
    while (bucket.tryTake()) taken++
    return taken
  }

  it('starts full and allows exactly the burst', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    expect(bucket.available()).to.equal(20)
    expect(drain(bucket)).to.equal(20)
    expect(bucket.tryTake()).to.equal(false)
  })

  it('refills at the configured rate', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    drain(bucket)
    clock.advance(100)
    expect(bucket.available()).to.equal(1)
    clock.advance(900)
    expect(drain(bucket)).to.equal(10)
  })

  it('refills fractionally between whole tokens', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    drain(bucket)
    clock.advance(50)
    expect(bucket.available()).to.equal(0.5)
    expect(bucket.tryTake()).to.equal(false)
    clock.advance(50)
    expect(bucket.tryTake()).to.equal(true)
  })

  it('never refills beyond the burst', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    bucket.take(5)
    clock.advance(3_600_000)
    expect(bucket.available()).to.equal(20)
    expect(bucket.isFull()).to.equal(true)
  })

  it('reports the wait until a refused cost would fit and takes nothing', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    bucket.take(19.5)
    expect(bucket.take(2)).to.equal(150)
    expect(bucket.available()).to.equal(0.5)
  })

  it('refuses a cost above the burst forever', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    expect(bucket.take(21)).to.equal(Infinity)
    expect(bucket.available()).to.equal(20)
  })

  it('scales rate and burst exactly by the tier weights', () => {
    const expected: Array<[number, number, number]> = [[0.1, 1, 2], [1, 10, 20], [2, 20, 40]]
    for (const [weight, rate, burst] of expected) {
      const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now, weight })
      expect(bucket.ratePerSecond).to.equal(rate)
      expect(bucket.burst).to.equal(burst)
      expect(drain(bucket)).to.equal(burst)
      clock.advance(1000)
      expect(drain(bucket)).to.equal(rate)
    }
  })

  it('keeps the fill fraction when the weight changes', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    bucket.take(15)
    bucket.setWeight(2)
    expect(bucket.available()).to.equal(10)
    bucket.setWeight(0.1)
    expect(bucket.available()).to.equal(0.5)
    expect(bucket.burst).to.equal(2)
  })

  it('treats the weight as absolute so changes do not drift', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    bucket.setWeight(0.1)
    bucket.setWeight(2)
    bucket.setWeight(1)
    expect(bucket.ratePerSecond).to.equal(10)
    expect(bucket.burst).to.equal(20)
    expect(bucket.available()).to.equal(20)
  })

  it('counts tokens accrued before a weight change at the old rate', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    drain(bucket)
    clock.advance(1000)
    bucket.setWeight(2)
    // 10 tokens of 20 at weight 1 = half full, kept as half of 40.
    expect(bucket.available()).to.equal(20)
  })

  it('mints no tokens when the clock steps backwards', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    drain(bucket)
    clock.advance(-60_000)
    expect(bucket.available()).to.equal(0)
    clock.advance(60_100)
    expect(bucket.available()).to.equal(1)
  })

  it('rejects a negative or NaN cost with a typed error', () => {
    const bucket = new TokenBucket({ ratePerSecond: 10, burst: 20, now: clock.now })
    expect(() => bucket.take(-1)).to.throw(InvalidCostError)
    expect(() => bucket.take(Number.NaN)).to.throw(InvalidCostError).with.property('code', 'ERR_INVALID_COST')
  })

  it('rejects a zero rate, burst or weight', () => {
    expect(() => new TokenBucket({ ratePerSecond: 0, burst: 1, now: clock.now })).to.throw(InvalidRateLimitConfigError)
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: -1, now: clock.now })).to.throw(InvalidRateLimitConfigError)
    expect(() => new TokenBucket({ ratePerSecond: 1, burst: 1, now: clock.now, weight: 0 })).to.throw(InvalidRateLimitConfigError)
  })
})
