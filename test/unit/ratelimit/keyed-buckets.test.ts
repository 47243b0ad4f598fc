import { expect } from 'chai'
import { DEFAULT_MAX_BUCKETS_PER_KIND } from '../../../src/ratelimit/config.js'
import { KeyedBuckets } from '../../../src/ratelimit/keyed-buckets.js'
import { FakeClock } from '../../helpers/fake-clock.js'

describe('KeyedBuckets', () => {
  let clock: FakeClock

  beforeEach(() => {
    clock = new FakeClock()
  })

  it('keeps a separate bucket per key', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 1, burst: 2, now: clock.now })
    expect(buckets.tryTake('a')).to.equal(true)
    expect(buckets.tryTake('a')).to.equal(true)
    expect(buckets.tryTake('a')).to.equal(false)
    expect(buckets.tryTake('b')).to.equal(true)
  })

  it('returns the refill wait for a refused key', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 4, burst: 1, now: clock.now })
    expect(buckets.take('a')).to.equal(0)
    expect(buckets.take('a')).to.equal(250)
  })

  it('stays bounded under 100,000 distinct keys', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 1, burst: 5, now: clock.now })
    let largest = 0
    for (let i = 0; i < 100_000; i++) {
      buckets.take(`peer-${i}`)
      largest = Math.max(largest, buckets.size)
    }
    expect(largest).to.equal(DEFAULT_MAX_BUCKETS_PER_KIND)
    expect(buckets.size).to.equal(DEFAULT_MAX_BUCKETS_PER_KIND)
    expect(buckets.forcedEvictions).to.equal(100_000 - DEFAULT_MAX_BUCKETS_PER_KIND)
  })

  it('evicts the least recently used key at the cap', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 1, burst: 5, now: clock.now, maxEntries: 3 })
    buckets.take('a')
    buckets.take('b')
    buckets.take('c')
    buckets.take('a')
    buckets.take('d')
    expect(buckets.has('b')).to.equal(false)
    expect(buckets.has('a')).to.equal(true)
    expect(buckets.has('c')).to.equal(true)
    expect(buckets.has('d')).to.equal(true)
  })

  it('drops idle buckets once they have refilled, losing nothing', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 1, burst: 3, now: clock.now })
    for (const key of ['a', 'b', 'c', 'd']) buckets.take(key, 3)
    expect(buckets.size).to.equal(4)
    clock.advance(3000)
    buckets.take('e')
    buckets.take('e')
    expect(buckets.size).to.equal(1)
    expect(buckets.forcedEvictions).to.equal(0)
    // The dropped key comes back with the full burst it had refilled to.
    expect(buckets.available('a')).to.equal(3)
    expect(buckets.take('a', 3)).to.equal(0)
  })

  it('keeps idle buckets that have not refilled', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 1, burst: 3, now: clock.now })
    buckets.take('a', 3)
    clock.advance(1000)
    buckets.take('b')
    buckets.take('b')
    expect(buckets.has('a')).to.equal(true)
    expect(buckets.available('a')).to.equal(1)
  })

  it('rescales an existing bucket to the weight passed with a take', () => {
    const buckets = new KeyedBuckets({ ratePerSecond: 10, burst: 20, now: clock.now })
    buckets.take('a', 10)
    expect(buckets.take('a', 1, 0.1)).to.equal(0)
    // Half of burst 2 was left before the take.
    expect(buckets.available('a')).to.equal(0)
    buckets.setWeight('a', 2)
    clock.advance(1000)
    expect(buckets.available('a')).to.equal(20)
  })

  it('rejects a non-integer or zero cap', () => {
    expect(() => new KeyedBuckets({ ratePerSecond: 1, burst: 1, now: clock.now, maxEntries: 0 })).to.throw(/maxEntries/)
    expect(() => new KeyedBuckets({ ratePerSecond: 1, burst: 1, now: clock.now, maxEntries: 1.5 })).to.throw(/maxEntries/)
  })
})
