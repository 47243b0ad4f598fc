import { expect } from 'chai'
import { Registry } from 'prom-client'
import { ConnectionSlots, type SlotConnection } from '../../../src/ratelimit/connection-slots.js'

const T0 = 1_000_000

describe('ratelimit/connection-slots', () => {
  let now: number
  let closed: string[]
  const members = new Set(['relay'])
  const conn = (peer: string, prefix: string, opened: number, streams = 0): SlotConnection =>
    ({ remotePeer: peer, prefix, opened, streams, close: () => { closed.push(peer) } })
  const slots = (max: number, maxPerPrefix: number): ConnectionSlots =>
    new ConnectionSlots({ max, maxPerPrefix, isMember: (p) => members.has(p), now: () => now, registry: new Registry() })

  beforeEach(() => {
    now = T0
    closed = []
  })

  it('at a prefix\'s cap closes its idlest connection for a newcomer, never one with streams or inside the grace period', () => {
    const s = slots(100, 3)
    const open = [conn('busy', 'p', T0 - 60_000, 2), conn('old', 'p', T0 - 50_000), conn('young', 'p', T0 - 1_000), conn('other', 'q', T0 - 90_000)]
    expect(s.admit('new', 'p', open)).to.equal('admit')
    expect(closed).to.deep.equal(['old'])
  })

  it('refuses a newcomer when nothing in its prefix is idle, and exempts admitted members from the cap', () => {
    const s = slots(100, 2)
    const open = [conn('a', 'p', T0 - 60_000, 1), conn('b', 'p', T0 - 1_000)]
    expect(s.admit('new', 'p', open)).to.equal('refuse')
    expect(s.admit('relay', 'p', open)).to.equal('admit')
    expect(closed).to.deep.equal([])
  })

  it('near connections.max closes strangers\' idle connections first and admitted members\' last', () => {
    const s = slots(10, 100)
    const open = [conn('relay', 'r', T0 - 99_000), ...Array.from({ length: 8 }, (_, i) => conn(`s${i}`, `p${i}`, T0 - 20_000 + i, i === 0 ? 0 : 1))]
    expect(s.admit('new', 'x', open)).to.equal('admit')
    expect(closed).to.deep.equal(['s0'])
    closed = []
    // the sweep prunes below 90 % of the cap; with every stranger busy the idle member goes
    expect(s.sweep(open.filter(c => c.remotePeer !== 's0'))).to.equal(0)
    expect(s.sweep([...open.filter(c => c.remotePeer !== 's0'), conn('s9', 'z', T0 - 30_000, 1)])).to.equal(1)
    expect(closed).to.deep.equal(['relay'])
  })
})
