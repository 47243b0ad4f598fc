import { expect } from 'chai'
import { PendingUpgrades } from '../../../src/ratelimit/pending-upgrades.js'

class FakeConn extends EventTarget {
  close (): void { this.dispatchEvent(new Event('close')) }
}

describe('PendingUpgrades', () => {
  it('admits up to the cap per prefix and counts prefixes apart', () => {
    const pending = new PendingUpgrades(2)
    expect(pending.admit('ip4:10.0.0.0/24', new FakeConn())).to.equal(true)
    expect(pending.admit('ip4:10.0.0.0/24', new FakeConn())).to.equal(true)
    expect(pending.admit('ip4:10.0.0.0/24', new FakeConn())).to.equal(false)
    expect(pending.admit('ip4:10.0.1.0/24', new FakeConn())).to.equal(true)
    expect(pending.count('ip4:10.0.0.0/24')).to.equal(2)
    expect(pending.prefixes).to.equal(2)
  })

  it('stops counting a connection when its upgrade is done or it closes, once', () => {
    const pending = new PendingUpgrades(2)
    const a = new FakeConn()
    const b = new FakeConn()
    pending.admit('k', a)
    pending.admit('k', b)
    pending.done(a)
    a.close() // closing after the upgrade finished changes nothing
    pending.done(a)
    expect(pending.count('k')).to.equal(1)
    b.close() // a handshake that failed or timed out
    expect(pending.count('k')).to.equal(0)
    expect(pending.prefixes).to.equal(0)
    expect(pending.admit('k', new FakeConn())).to.equal(true)
  })
})
