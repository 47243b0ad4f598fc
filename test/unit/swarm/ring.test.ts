import { createHash } from 'node:crypto'
import { expect } from 'chai'
import { InvalidRingParameterError } from '../../../src/swarm/store/errors.js'
import { HashRing, diffOwnership, positionOf, rangeContains } from '../../../src/swarm/ring.js'

const ids = (n: number, prefix = 'node'): string[] => Array.from({ length: n }, (_, i) => `12D3KooW${prefix}${i}`)
const mailboxes = (n: number, seed = 'mb'): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => createHash('sha256').update(`${seed}${i}`).digest())

/** Independent reimplementation of the documented placement, by brute force. */
function bruteForceSwarm (members: string[], v: number, mailbox: Uint8Array, r: number): string[] {
  const points: Array<{ pos: bigint, id: string }> = []
  for (const id of members) {
    for (let k = 0; k < v; k++) {
      const suffix = Buffer.alloc(2)
      suffix.writeUInt16BE(k)
      const d = createHash('sha256').update(Buffer.from(id, 'utf8')).update(suffix).digest()
      points.push({ pos: d.readBigUInt64BE(0), id })
    }
  }
  points.sort((a, b) => (a.pos < b.pos ? -1 : a.pos > b.pos ? 1 : 0))
  const key = createHash('sha256').update(mailbox).digest().readBigUInt64BE(0)
  let i = points.findIndex(p => p.pos >= key)
  if (i === -1) i = 0
  const out: string[] = []
  while (out.length < Math.min(r, members.length)) {
    const id = points[i % points.length].id
    if (!out.includes(id)) out.push(id)
    i++
  }
  return out
}

describe('swarm/ring', () => {
  it('follows the documented placement: SHA-256(UTF-8 id || u16be vnode), first 8 bytes', () => {
    const members = ids(5)
    const ring = new HashRing({ vnodesPerNode: 8, nodes: members })
    for (const m of mailboxes(300)) {
      expect(ring.swarmFor(m, 3)).to.deep.equal(bruteForceSwarm(members, 8, m, 3))
    }
  })

  it('places the same members identically whatever the insertion order', () => {
    const members = ids(20)
    const a = new HashRing({ vnodesPerNode: 64, nodes: members })
    const b = new HashRing({ vnodesPerNode: 64 })
    for (const id of [...members].reverse()) b.add(id)
    for (const m of mailboxes(500)) expect(a.swarmFor(m)).to.deep.equal(b.swarmFor(m))
  })

  it('returns R distinct members, or all of them when there are fewer than R', () => {
    const m = mailboxes(50)
    expect(new HashRing({ vnodesPerNode: 16 }).swarmFor(m[0])).to.deep.equal([])
    const two = new HashRing({ vnodesPerNode: 16, nodes: ids(2) })
    const ten = new HashRing({ vnodesPerNode: 16, nodes: ids(10) })
    for (const mb of m) {
      expect(two.swarmFor(mb, 3)).to.have.members(ids(2))
      const s = ten.swarmFor(mb, 3)
      expect(new Set(s).size).to.equal(3)
      expect(ten.swarmFor(mb, 5).slice(0, 3)).to.deep.equal(s)
    }
  })

  it('gives no member more than 1.15x the mean keyspace at 100 nodes with the default vnodes', () => {
    const ring = new HashRing({ nodes: ids(100) })
    for (const r of [1, 3]) {
      const shares = [...ring.keyspaceShares(r).values()]
      const sum = shares.reduce((a, b) => a + b, 0)
      expect(sum).to.be.closeTo(r, 1e-9)
      expect(Math.max(...shares) / (sum / shares.length)).to.be.at.most(1.15)
    }
  })

  it('tracks membership: add, remove, has, size and version', () => {
    const ring = new HashRing({ vnodesPerNode: 16, nodes: ids(4) })
    const v0 = ring.version
    expect(ring.add('12D3KooWnode0')).to.equal(false)
    expect(ring.version).to.equal(v0)
    expect(ring.add('12D3KooWextra')).to.equal(true)
    expect(ring.has('12D3KooWextra')).to.equal(true)
    expect(ring.size).to.equal(5)
    expect(ring.version).to.equal(v0 + 1)
    expect(ring.remove('12D3KooWnode1')).to.equal(true)
    expect(ring.remove('12D3KooWnode1')).to.equal(false)
    expect(ring.has('12D3KooWnode1')).to.equal(false)
    expect(ring.size).to.equal(4)
    expect(ring.nodes()).to.deep.equal(['12D3KooWextra', '12D3KooWnode0', '12D3KooWnode2', '12D3KooWnode3'])
    for (const m of mailboxes(200)) expect(ring.swarmFor(m, 4)).to.not.include('12D3KooWnode1')
  })

  it('matches a ring built from scratch after removals reshuffle member slots', () => {
    const ring = new HashRing({ vnodesPerNode: 16, nodes: ids(8) })
    ring.remove('12D3KooWnode0')
    ring.remove('12D3KooWnode5')
    const fresh = new HashRing({ vnodesPerNode: 16, nodes: ids(8).filter(id => id !== '12D3KooWnode0' && id !== '12D3KooWnode5') })
    for (const m of mailboxes(300)) expect(ring.swarmFor(m)).to.deep.equal(fresh.swarmFor(m))
  })

  it('changes only swarms the joining node enters, each by one member', () => {
    const before = new HashRing({ vnodesPerNode: 64, nodes: ids(30) })
    const after = before.clone()
    after.add('12D3KooWjoiner')
    const keys = mailboxes(3000)
    const changes = diffOwnership(before, after, keys)
    for (const c of changes) {
      expect(c.added).to.deep.equal(['12D3KooWjoiner'])
      expect(c.removed).to.have.length(1)
      expect(c.after).to.include('12D3KooWjoiner')
    }
    // Expected fraction is R/N = 3/31; allow wide slack for 64 vnodes and 3,000 keys.
    const fraction = changes.length / keys.length
    expect(fraction).to.be.within(0.06, 0.14)
    expect(before.has('12D3KooWjoiner')).to.equal(false)
  })

  it('reports owned ranges that agree with swarmFor', () => {
    const ring = new HashRing({ vnodesPerNode: 32, nodes: ids(12) })
    const ranges = ring.rangesOwnedBy('12D3KooWnode3')
    expect(ranges.length).to.be.greaterThan(0)
    for (const m of mailboxes(1000)) {
      const inRange = ranges.some(r => rangeContains(r, positionOf(m)))
      expect(inRange).to.equal(ring.swarmFor(m).includes('12D3KooWnode3'))
    }
    expect(ring.rangesOwnedBy('12D3KooWabsent')).to.deep.equal([])
  })

  it('covers the whole keyspace with one range when a member holds every key', () => {
    const ring = new HashRing({ vnodesPerNode: 8, nodes: ids(2) })
    const ranges = ring.rangesOwnedBy('12D3KooWnode0', 3)
    expect(ranges).to.have.length(1)
    expect(ranges[0].start).to.equal(ranges[0].end)
    expect(rangeContains(ranges[0], 12345n)).to.equal(true)
  })

  it('rejects an invalid vnode count or replication factor', () => {
    expect(() => new HashRing({ vnodesPerNode: 0 })).to.throw(InvalidRingParameterError)
    expect(() => new HashRing({ vnodesPerNode: 70_000 })).to.throw(InvalidRingParameterError)
    const ring = new HashRing({ vnodesPerNode: 4, nodes: ids(3) })
    expect(() => ring.swarmFor(mailboxes(1)[0], 0)).to.throw(InvalidRingParameterError)
    expect(() => ring.keyspaceShares(1.5)).to.throw(InvalidRingParameterError)
  })
})
