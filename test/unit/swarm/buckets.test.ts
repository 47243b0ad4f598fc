import { defaultLogger } from '@libp2p/logger'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import { LoopbackPeers } from '../../../harness/lib/loopback-peers.js'
import { SwarmOp, decodeRequestBody, encodeRequestMessage, type SwarmRequest } from '../../../src/swarm/peer/protocol.js'
import { createRecord, type SwarmRecord } from '../../../src/swarm/record-codec.js'
import { LocalReplica } from '../../../src/swarm/replica.js'
import { HashRing, positionOf } from '../../../src/swarm/ring.js'
import { MessageStore } from '../../../src/swarm/store/store.js'
import { SwarmMetrics } from '../../../src/swarm/swarm-metrics.js'
import { MailboxExchange, type LocalMailbox } from '../../../src/swarm/sync/exchange.js'
import { RangeSet, digestOfListing } from '../../../src/swarm/sync/ranges.js'
import { SwarmProtocolError } from '../../../src/swarm/service-errors.js'
import { openReplicas } from '../../helpers/replicas.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'
import type { SwarmPeers } from '../../../src/swarm/peer/peers.js'

const log = defaultLogger().forComponent('test:buckets')
const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const WHOLE_RING = [{ start: 0n, end: 0n }]

async function localOf (store: MessageStore): Promise<LocalMailbox[]> {
  const out: LocalMailbox[] = []
  for await (const { mailbox, listing } of store.iterateListings()) out.push({ mailbox, position: positionOf(mailbox), digest: digestOfListing(listing) })
  return out
}

describe('swarm/anti-entropy by bucket digests (BUCKETS)', () => {
  let dir: string
  let stores: MessageStore[]
  let replicas: LocalReplica[]
  let records: SwarmRecord[]

  beforeEach(async () => {
    dir = await makeTempDir()
    ;({ stores, replicas } = await openReplicas(dir, ['a', 'b'], T0, HOUR))
    records = []
    for (let m = 0; m < 400; m++) {
      const mailbox = new Uint8Array(32).fill(0)
      new DataView(mailbox.buffer).setUint32(0, m * 2_654_435_761 >>> 0)
      for (let i = 0; i < 3; i++) records.push(createRecord({ mailbox, namespace: 0, timestamp: T0 - 100 + i, ttlMs: HOUR, data: Uint8Array.of(m & 255, i) }))
    }
    for (const r of records) for (const rep of replicas) await rep.put(r)
  })
  afterEach(async () => {
    for (const s of stores) await s.close()
    await removeTempDir(dir)
  })

  const exchangeFor = (peers: LoopbackPeers): MailboxExchange =>
    new MailboxExchange({ local: replicas[0], peers: peers as unknown as SwarmPeers, metrics: new SwarmMetrics(new Registry()), log })

  it('identical replicas exchange one list of bucket digests, nothing else', async () => {
    const peers = new LoopbackPeers(new Map([['b', replicas[1]]]), 'a')
    const arcs = await exchangeFor(peers).differingArcs('b', WHOLE_RING, await localOf(stores[0]))
    expect(arcs).to.deep.equal([])
    expect([...peers.calls.entries()]).to.deep.equal([['buckets', 1]])
    // 400 mailboxes in 64 buckets of ~24 bytes, against 400 × 64 bytes for a RANGE listing
    expect(peers.totalBytes).to.be.lessThan(2_000)
  })

  it('finds a single difference, lists only its neighbourhood, and the exchange repairs it', async () => {
    const missing = records[3 * 137 + 1]
    await stores[1].delete(missing.mailbox, 0, [missing.hash])
    const peers = new LoopbackPeers(new Map([['b', replicas[1]]]), 'a')
    const exchange = exchangeFor(peers)
    const local = await localOf(stores[0])
    const arcs = await exchange.differingArcs('b', WHOLE_RING, local)
    const listed = new RangeSet(arcs)
    expect(listed.has(positionOf(missing.mailbox))).to.equal(true)
    const inListed = local.filter(m => listed.has(m.position)).length
    expect(inListed, 'mailboxes in the arcs to list (one bucket of ~6, at most 16 before it is split)').to.be.at.most(16)

    const remote = await exchange.remoteDigests('b', arcs)
    const differing = await exchange.differing(remote, listed)
    expect(differing.map(m => Buffer.from(m).toString('hex'))).to.deep.equal([Buffer.from(missing.mailbox).toString('hex')])
    const moved = await exchange.exchange('b', differing, { push: true })
    expect(moved.pushed).to.equal(1)
    expect(await stores[1].has(missing.mailbox, missing.hash)).to.equal(true)
    expect(await exchange.differingArcs('b', WHOLE_RING, await localOf(stores[0]))).to.deep.equal([])
  })

  it('splits a large differing bucket again instead of listing it whole', async () => {
    // a member holding 40 of the 400 mailboxes asks with 8 buckets; the peer's hold ~50 each
    const peers = new LoopbackPeers(new Map([['b', replicas[1]]]), 'a')
    const local = (await localOf(stores[0])).slice(0, 40)
    const arcs = await exchangeFor(peers).differingArcs('b', WHOLE_RING, local)
    expect(peers.calls.get('buckets'), 'a second level of buckets').to.be.at.least(2)
    // what it lists: the sub-buckets where the peer holds mailboxes this member lacks, not the 40 it shares
    const listed = new RangeSet(arcs)
    const shared = local.filter(m => listed.has(m.position)).length
    expect(shared).to.be.lessThan(local.length)
    for (const r of records) {
      const mine = local.some(m => Buffer.from(m.mailbox).equals(Buffer.from(r.mailbox)))
      if (!mine) expect(listed.has(positionOf(r.mailbox)), 'every mailbox only the peer holds is listed').to.equal(true)
    }
  })

  it('refuses a BUCKETS request for more than 32 bits; at 32 bits answers a bucket per mailbox', async () => {
    const wire = encodeRequestMessage(1, { op: SwarmOp.BUCKETS, bits: 8, ranges: WHOLE_RING } as SwarmRequest)
    const body = wire.slice(7)
    body[0] = 33
    expect(() => decodeRequestBody(SwarmOp.BUCKETS, body)).to.throw(SwarmProtocolError)
    // 400 mailboxes at 32 bits: 400 buckets, under the bound; the bound is checked as buckets fill
    const entries = await replicas[1].buckets(WHOLE_RING, 32)
    expect(entries).to.have.length(400)
  })

  it('a ring names the arcs two members share: exactly where both are in the swarm', () => {
    const members = Array.from({ length: 10 }, (_, i) => `node-${i}`)
    const ring = new HashRing({ vnodesPerNode: 32, nodes: members })
    const shared = new RangeSet(ring.rangesSharedBy('node-1', 'node-2', 3))
    for (let i = 0; i < 2_000; i++) {
      const mailbox = new Uint8Array(32)
      new DataView(mailbox.buffer).setUint32(0, i * 2_246_822_519 >>> 0)
      const p = positionOf(mailbox)
      const swarm = ring.swarmAt(p, 3)
      expect(shared.has(p)).to.equal(swarm.includes('node-1') && swarm.includes('node-2'))
    }
    expect(ring.rangesSharedBy('node-1', 'node-1', 3)).to.deep.equal(ring.rangesOwnedBy('node-1', 3))
    const three = new HashRing({ vnodesPerNode: 32, nodes: members.slice(0, 3) })
    expect(new RangeSet(three.rangesSharedBy('node-0', 'node-2', 3)).intervals()).to.deep.equal([[0n, (1n << 64n) - 1n]])
  })

  it('the members near a node on the ring include every earlier owner of the arcs it gains when one member leaves or joins', () => {
    const members = Array.from({ length: 30 }, (_, i) => `node-${i}`)
    const before = new HashRing({ vnodesPerNode: 16, nodes: members })
    const samples = Array.from({ length: 3_000 }, (_, i) => {
      const mailbox = new Uint8Array(32)
      new DataView(mailbox.buffer).setUint32(0, i * 2_654_435_761 >>> 0)
      return positionOf(mailbox)
    })
    const check = (after: HashRing, depth: number): number => {
      let gained = 0
      for (const self of after.nodes()) {
        const near = after.membersNear(self, 3, depth)
        const arcs = new Map([...after.rangesNear(self, 3, depth)].map(([id, ranges]) => [id, new RangeSet(ranges)]))
        expect(near.has(self)).to.equal(false)
        expect([...arcs.keys()].sort()).to.deep.equal([...near].sort())
        for (const p of samples) {
          const now = after.swarmAt(p, 3)
          if (!now.includes(self)) continue
          const earlier = before.has(self) ? before.swarmAt(p, 3) : []
          if (earlier.includes(self)) continue
          gained++
          // whoever held this mailbox before and is still a member is asked, for an arc holding it
          for (const owner of before.swarmAt(p, 3)) if (after.has(owner) && owner !== self) expect(arcs.get(owner)?.has(p), `${self} ${owner}`).to.equal(true)
        }
      }
      return gained
    }
    const left = before.clone()
    left.remove('node-7')
    expect(check(left, 4)).to.be.greaterThan(0)
    const joined = before.clone()
    joined.add('node-new')
    expect(check(joined, 4)).to.be.greaterThan(0)
    // at depth r only the members sharing arcs now: the pushed-out earlier owners are missed
    expect(() => check(joined, 3)).to.throw()
    expect(left.membersNear('nobody', 3, 4).size).to.equal(0)
  })

  it('names for each near member exactly the arcs where it is among the first depth owners of a mailbox this node holds', () => {
    const ring = new HashRing({ vnodesPerNode: 16, nodes: Array.from({ length: 20 }, (_, i) => `node-${i}`) })
    for (const depth of [3, 5, 8]) {
      const near = new Map([...ring.rangesNear('node-0', 3, depth)].map(([id, ranges]) => [id, new RangeSet(ranges)]))
      for (let i = 0; i < 3_000; i++) {
        const mailbox = new Uint8Array(32)
        new DataView(mailbox.buffer).setUint32(0, i * 2_246_822_519 >>> 0)
        const p = positionOf(mailbox)
        const mine = ring.swarmAt(p, 3).includes('node-0')
        const first = ring.swarmAt(p, depth)
        for (const peer of ring.nodes()) {
          if (peer === 'node-0') continue
          expect(near.get(peer)?.has(p) ?? false, `${peer} depth ${depth}`).to.equal(mine && first.includes(peer))
        }
      }
    }
    expect(ring.rangesNear('nobody', 3, 5).size).to.equal(0)
  })

  it('one pass names the same shared arcs for every member as one query per member', () => {
    for (const [count, r] of [[10, 3], [40, 3], [7, 5], [3, 3], [2, 3], [1, 3]]) {
      const ring = new HashRing({ vnodesPerNode: 16, nodes: Array.from({ length: count }, (_, i) => `node-${i}`) })
      const all = ring.rangesSharedWith('node-0', r)
      for (const peer of ring.nodes()) {
        if (peer === 'node-0') continue
        const one = ring.rangesSharedBy('node-0', peer, r)
        if (one.length === 0) expect(all.has(peer), `${peer} of ${count}`).to.equal(false)
        else expect(all.get(peer), `${peer} of ${count}`).to.deep.equal(one)
      }
      expect(all.has('node-0')).to.equal(false)
      expect([...all.keys()].every(p => ring.has(p))).to.equal(true)
    }
    expect(new HashRing({ vnodesPerNode: 4, nodes: ['a', 'b'] }).rangesSharedWith('c', 3).size).to.equal(0)
  })
})
