import { join } from 'node:path'
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
import { Tombstones } from '../../../src/swarm/sync/tombstones.js'
import { SwarmProtocolError } from '../../../src/swarm/service-errors.js'
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
    stores = []
    replicas = []
    for (const name of ['a', 'b']) {
      const store = new MessageStore({ path: join(dir, name), now: () => T0, registry: new Registry() })
      await store.open()
      stores.push(store)
      replicas.push(new LocalReplica({ store, tombstones: new Tombstones({ now: () => T0 }), isReady: () => true, maxTtlMs: HOUR }))
    }
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
})
