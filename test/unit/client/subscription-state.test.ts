import { expect } from 'chai'
import { SUBSCRIPTION_OVERLAP_MS, SubscriptionState } from '../../../src/client/subscription-state.js'
import type { RetrievedMessage } from '../../../src/swarm/exit/exit-protocol.js'

const NOW = 1_700_000_000_000
const msg = (i: number, timestamp: number): RetrievedMessage => {
  const hash = new Uint8Array(32)
  new DataView(hash.buffer).setUint32(0, i)
  return { timestamp, expiry: timestamp + 3_600_000, hash, data: Uint8Array.of(i) }
}

describe('subscription state: resuming neither loses nor repeats', () => {
  it('hands each message over once, however often the swarm answers with it', () => {
    const s = new SubscriptionState()
    expect(s.accept([msg(1, NOW - 10), msg(2, NOW - 5)], NOW).map(m => m.data[0])).to.deep.equal([1, 2])
    expect(s.accept([msg(2, NOW - 5), msg(3, NOW)], NOW).map(m => m.data[0])).to.deep.equal([3])
    expect(s.accept([msg(1, NOW - 10)], NOW)).to.deep.equal([])
  })

  it('keeps asking from the overlap window, naming what it has, so a late message stamped earlier still comes', () => {
    const s = new SubscriptionState()
    s.accept([msg(1, NOW)], NOW)
    expect(s.since).to.equal(NOW - SUBSCRIPTION_OVERLAP_MS)
    expect(s.knownHashes()).to.have.length(1)
    // written through an exit whose clock is 30 s behind, arriving after message 1
    expect(s.accept([msg(2, NOW - 30_000)], NOW + 100).map(m => m.data[0])).to.deep.equal([2])
    expect(s.knownHashes()).to.have.length(2)
  })

  it('never lists more than 64 known hashes, moving `since` past the ones it drops', () => {
    const s = new SubscriptionState()
    const burst = Array.from({ length: 100 }, (_, i) => msg(i, NOW - 1000 + i))
    expect(s.accept(burst, NOW)).to.have.length(100)
    expect(s.knownHashes()).to.have.length(64)
    expect(s.since).to.equal(NOW - 1000 + 36)
    // a burst in one millisecond: the dropped ones share the boundary, so `since` goes past it
    const t = new SubscriptionState()
    t.accept(Array.from({ length: 70 }, (_, i) => msg(1000 + i, NOW)), NOW)
    expect(t.since).to.equal(NOW + 1)
    expect(t.knownHashes()).to.have.length(0)
  })
})
