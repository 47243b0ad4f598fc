import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { expect } from 'chai'
import { RangeSet, digestOfListing } from '../../../src/swarm/sync/ranges.js'
import { LocalReplica } from '../../../src/swarm/replica.js'
import { HashRing, positionOf, rangeContains, type RingRange } from '../../../src/swarm/ring.js'
import { createRecord, type SwarmRecord } from '../../../src/swarm/record-codec.js'
import { SwarmNotReadyError, SwarmUnauthorizedError } from '../../../src/swarm/service-errors.js'
import { SwarmOp, type DeleteRequest } from '../../../src/swarm/peer/protocol.js'
import { MessageStore } from '../../../src/swarm/store/store.js'
import { Tombstones } from '../../../src/swarm/sync/tombstones.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'
import { Registry } from 'prom-client'

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('swarm/replica', () => {
  describe('RangeSet', () => {
    it('agrees with rangeContains on wrapping, adjacent and whole-ring arcs', () => {
      const ring = new HashRing({ vnodesPerNode: 16, nodes: ['a', 'b', 'c', 'd'] })
      const cases: RingRange[][] = [
        ring.rangesOwnedBy('a', 1),
        ring.rangesOwnedBy('b', 3),
        [{ start: (1n << 64n) - 10n, end: 10n }],
        [{ start: 5n, end: 5n }],
        [{ start: 0n, end: 1n }, { start: 1n, end: 2n }]
      ]
      const probes = [0n, 1n, 2n, 5n, 6n, 10n, 11n, (1n << 64n) - 1n, (1n << 64n) - 10n, (1n << 64n) - 9n]
      for (let i = 0; i < 300; i++) probes.push(randomBytes(8).readBigUInt64BE(0))
      for (const ranges of cases) {
        const set = new RangeSet(ranges)
        for (const p of probes) expect(set.has(p), `position ${p}`).to.equal(ranges.some(r => rangeContains(r, p)))
      }
    })

    it('covers a set exactly when every position of the other is in it', () => {
      const before = new HashRing({ vnodesPerNode: 32, nodes: ['a', 'b', 'c', 'd'] })
      const after = new HashRing({ vnodesPerNode: 32, nodes: ['a', 'b', 'c', 'd', 'e'] })
      const shared = new RangeSet(before.rangesSharedBy('a', 'b', 3))
      // a join only shrinks what two earlier members share; a departure grows it
      const joined = new RangeSet(after.rangesSharedBy('a', 'b', 3))
      expect(shared.covers(joined)).to.equal(true)
      expect(joined.covers(shared)).to.equal(false)
      expect(shared.covers(shared)).to.equal(true)
      expect(shared.covers(new RangeSet([]))).to.equal(true)
      expect(new RangeSet([]).covers(shared)).to.equal(false)
      const whole = new RangeSet([{ start: 7n, end: 7n }])
      expect(whole.covers(shared)).to.equal(true)
      // one position outside an interval is enough to fail
      expect(joined.intervals().length).to.be.above(2)
      const [lo, hi] = joined.intervals()[1]
      expect(joined.covers(new RangeSet([{ start: lo - 1n, end: hi }]))).to.equal(true)
      expect(joined.covers(new RangeSet([{ start: lo, end: hi + 1n }]))).to.equal(false)
      expect(joined.covers(new RangeSet([{ start: lo - 2n, end: hi }]))).to.equal(false)
      // against membership tests on random positions
      for (let i = 0; i < 50; i++) {
        const p = randomBytes(8).readBigUInt64BE(0)
        if (joined.has(p)) expect(shared.has(p)).to.equal(true)
      }
    })

    it('subtracts a set: exactly the positions in one and not the other', () => {
      const before = new HashRing({ vnodesPerNode: 32, nodes: ['a', 'b', 'c', 'd'] })
      const after = new HashRing({ vnodesPerNode: 32, nodes: ['a', 'b', 'c'] })
      const cases: Array<[RangeSet, RangeSet]> = [
        [new RangeSet(after.rangesOwnedBy('a', 3)), new RangeSet(before.rangesOwnedBy('a', 3))],
        [new RangeSet(before.rangesOwnedBy('a', 3)), new RangeSet(after.rangesOwnedBy('a', 3))],
        [new RangeSet(before.rangesOwnedBy('b', 1)), new RangeSet(before.rangesOwnedBy('b', 2))],
        [new RangeSet([{ start: 7n, end: 7n }]), new RangeSet([{ start: (1n << 64n) - 10n, end: 10n }, { start: 100n, end: 200n }])],
        [new RangeSet([{ start: 100n, end: 200n }]), new RangeSet([{ start: 100n, end: 150n }, { start: 160n, end: 200n }])],
        [new RangeSet([{ start: 100n, end: 200n }]), new RangeSet([])]
      ]
      for (const [x, y] of cases) {
        const d = x.minus(y)
        const probes = [0n, 1n, 10n, 11n, 100n, 101n, 150n, 151n, 160n, 161n, 200n, 201n, (1n << 64n) - 1n, (1n << 64n) - 9n]
        for (const [lo, hi] of [...x.intervals(), ...y.intervals()]) probes.push(lo, hi, lo > 0n ? lo - 1n : lo, hi + 1n < (1n << 64n) ? hi + 1n : hi)
        for (let i = 0; i < 300; i++) probes.push(randomBytes(8).readBigUInt64BE(0))
        for (const p of probes) expect(d.has(p), `position ${p}`).to.equal(x.has(p) && !y.has(p))
      }
    })

    it('selects the entries in the set, in position order, from a sorted list', () => {
      const set = new RangeSet([{ start: (1n << 64n) - 10n, end: 10n }, { start: 100n, end: 200n }])
      const entries = [0n, 5n, 10n, 11n, 100n, 101n, 200n, 201n, (1n << 64n) - 10n, (1n << 64n) - 9n, (1n << 64n) - 1n]
        .sort((x, y) => (x < y ? -1 : 1)).map(position => ({ position }))
      const picked = [...set.select(entries)].map(e => e.position)
      expect(picked).to.deep.equal(entries.filter(e => set.has(e.position)).map(e => e.position))
      expect(picked).to.deep.equal([0n, 5n, 10n, 101n, 200n, (1n << 64n) - 9n, (1n << 64n) - 1n])
    })
  })

  describe('Tombstones', () => {
    it('block copies of a deleted record but not a later deposit, and expire', () => {
      let now = T0
      const t = new Tombstones({ now: () => now, max: 2 })
      const m = new Uint8Array(32).fill(1)
      const h = new Uint8Array(32).fill(2)
      t.add(m, h, T0 - 5, T0 + 1000)
      expect(t.blocks(m, h, T0 - 5)).to.equal(true)
      expect(t.blocks(m, h, T0 + 1)).to.equal(false)
      now = T0 + 1000
      expect(t.has(m, h)).to.equal(false)
    })

    it('holds at most its bound, dropping the oldest', () => {
      const t = new Tombstones({ now: () => T0, max: 2 })
      const m = new Uint8Array(32)
      for (let i = 0; i < 3; i++) t.add(m, new Uint8Array(32).fill(i), T0, T0 + HOUR)
      expect(t.size).to.equal(2)
      expect(t.has(m, new Uint8Array(32).fill(0))).to.equal(false)
      expect(t.has(m, new Uint8Array(32).fill(2))).to.equal(true)
    })
  })

  describe('LocalReplica', () => {
    let dir: string
    let store: MessageStore
    let replica: LocalReplica
    let ready: boolean
    const mailbox = new Uint8Array(32).fill(0xaa)
    const rec = (i: number, over: Partial<{ mailbox: Uint8Array, timestamp: number }> = {}): SwarmRecord =>
      createRecord({ mailbox: over.mailbox ?? mailbox, namespace: 0, timestamp: over.timestamp ?? T0 + i, ttlMs: HOUR, data: Buffer.from(`m${i}`) })

    beforeEach(async () => {
      dir = await makeTempDir()
      store = new MessageStore({ path: join(dir, 'db'), now: () => T0, registry: new Registry() })
      await store.open()
      ready = true
      replica = new LocalReplica({ store, tombstones: new Tombstones({ now: () => T0 }), isReady: () => ready, maxTtlMs: HOUR })
    })
    afterEach(async () => {
      await store.close()
      await removeTempDir(dir)
    })

    it('computes the same digest as the store', async () => {
      await Promise.all([1, 2, 3].map(async i => store.put(rec(i))))
      expect(hex(digestOfListing(await store.listHashes(mailbox)))).to.equal(hex(await store.digest(mailbox)))
    })

    it('answers a digest match with nothing and a mismatch with its listing', async () => {
      await store.put(rec(1))
      const digest = await store.digest(mailbox)
      const [same, other] = await replica.digest([{ mailbox, digest }, { mailbox, digest: new Uint8Array(32) }])
      expect(same).to.equal(undefined)
      expect(other?.map(e => hex(e.hash))).to.deep.equal([hex(rec(1).hash)])
    })

    it('refuses reads while not ready', async () => {
      ready = false
      expect(await replica.get(mailbox, 0, 1000).catch(e => e)).to.be.instanceOf(SwarmNotReadyError)
    })

    it('leaves tombstones on delete that refuse copies of the deleted record only', async () => {
      const r = rec(1)
      await replica.put(r)
      const proof: DeleteRequest = { op: SwarmOp.DELETE, mailbox, namespace: 0, hashes: [r.hash], auth: { timestamp: T0 + 100, signature: new Uint8Array(64) } }
      expect(await replica.delete(proof)).to.equal(1)
      expect(replica.tombstones.proofOf(mailbox, r.hash), 'the tombstone keeps the owner\'s signed delete').to.equal(proof)
      expect(await replica.put(r)).to.deep.equal({ stored: false, expiry: r.expiry })
      expect(await store.has(mailbox, r.hash)).to.equal(false)
      // the same content deposited again later is a new record
      expect((await replica.put({ ...r, timestamp: r.timestamp + 10, expiry: r.expiry + 10 })).stored).to.equal(true)
      // a tombstoned hash counts as held during handover, so it is not pushed back
      expect(await replica.handoff(mailbox, [rec(2).hash, r.hash])).to.have.length(1)
    })

    it('deletes only what was stored at or before the signed timestamp', async () => {
      const early = rec(1)
      const late = rec(2, { timestamp: T0 + 500 })
      await replica.put(early)
      await replica.put(late)
      const auth = { timestamp: T0 + 100, signature: new Uint8Array(64) }
      // a replayed delete naming a newer record spares it, and leaves no tombstone that would block it
      expect(await replica.delete({ op: SwarmOp.DELETE, mailbox, namespace: 0, hashes: [early.hash, late.hash], auth })).to.equal(1)
      expect(await store.has(mailbox, late.hash)).to.equal(true)
      expect(replica.tombstones.has(mailbox, late.hash)).to.equal(false)
      await replica.put(rec(3))
      expect(await replica.deleteAll({ op: SwarmOp.DELETE_ALL, mailbox, auth })).to.equal(1)
      expect((await store.listHashes(mailbox)).map(e => hex(e.hash))).to.deep.equal([hex(late.hash)])
    })

    it('neither lists nor copies a mailbox for a requester outside its swarm', async () => {
      await store.put(rec(1))
      const mayList = (): boolean => false
      const [answer] = await replica.digest([{ mailbox, digest: new Uint8Array(32) }], { mayList })
      expect(answer, 'answered as matching: nothing revealed, nothing to do').to.equal(undefined)
      expect(await replica.fetch(mailbox, [rec(1).hash], 1 << 20, { mayList }).catch(e => e)).to.be.instanceOf(SwarmUnauthorizedError)
      const ring = new HashRing({ vnodesPerNode: 8, nodes: ['x'] })
      expect((await replica.range(ring.rangesOwnedBy('x', 1), 10, undefined, { mayList })).mailboxes).to.deep.equal([])
      expect((await replica.range(ring.rangesOwnedBy('x', 1), 10)).mailboxes).to.have.length(1)
    })

    it('lists the mailboxes in the given ranges with digests, paged after a mailbox', async () => {
      const boxes = Array.from({ length: 20 }, () => randomBytes(32))
      for (const [i, m] of boxes.entries()) await store.put(rec(i, { mailbox: m }))
      const ring = new HashRing({ vnodesPerNode: 8, nodes: ['x', 'y'] })
      const ranges = ring.rangesOwnedBy('x', 1)
      const expected = boxes.filter(m => ring.swarmFor(m, 1)[0] === 'x').map(hex).sort()
      const seen: string[] = []
      let after: Uint8Array | undefined
      for (;;) {
        const page = await replica.range(ranges, 3, after)
        expect(page.mailboxes.length).to.be.at.most(3)
        seen.push(...page.mailboxes.map(e => hex(e.mailbox)))
        for (const e of page.mailboxes) expect(hex(e.digest)).to.equal(hex(await store.digest(e.mailbox)))
        if (!page.more) break
        after = page.mailboxes[page.mailboxes.length - 1].mailbox
      }
      expect(seen).to.deep.equal(expected)
      expect(expected.length).to.be.greaterThan(0)
      expect(positionOf(boxes[0])).to.be.a('bigint')
    })
  })
})
