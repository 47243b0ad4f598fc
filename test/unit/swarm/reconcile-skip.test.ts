import { defaultLogger } from '@libp2p/logger'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import { LoopbackPeers } from '../../../harness/lib/loopback-peers.js'
import { createRecord, type SwarmRecord } from '../../../src/swarm/record-codec.js'
import { LocalReplica } from '../../../src/swarm/replica.js'
import { HashRing } from '../../../src/swarm/ring.js'
import { MessageStore } from '../../../src/swarm/store/store.js'
import { SwarmMetrics } from '../../../src/swarm/swarm-metrics.js'
import { SwarmSync } from '../../../src/swarm/sync/sync.js'
import { RangeSet } from '../../../src/swarm/sync/ranges.js'
import { openReplicas } from '../../helpers/replicas.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'
import type { SwarmPeers } from '../../../src/swarm/peer/peers.js'

const log = defaultLogger().forComponent('test:reconcile-skip')
const T0 = 1_700_000_000_000
const HOUR = 3_600_000

/**
 * Anti-entropy skips a member while what this node holds in their shared arcs
 * is what it held when the two last compared equal; the member whose side
 * changed starts the comparison, and every few rounds each is compared anyway.
 */
describe('swarm/anti-entropy skips members nothing changed with', () => {
  let dir: string
  let stores: MessageStore[]
  let replicas: LocalReplica[]
  let records: SwarmRecord[]
  const ring = new HashRing({ vnodesPerNode: 16, nodes: ['a', 'b'] })

  beforeEach(async () => {
    dir = await makeTempDir()
    ;({ stores, replicas } = await openReplicas(dir, ['a', 'b'], T0, HOUR))
    records = []
    for (let m = 0; m < 50; m++) {
      const mailbox = new Uint8Array(32)
      new DataView(mailbox.buffer).setUint32(0, m * 2_654_435_761 >>> 0)
      records.push(createRecord({ mailbox, namespace: 0, timestamp: T0 - 100, ttlMs: HOUR, data: Uint8Array.of(m) }))
    }
    for (const r of records) for (const rep of replicas) await rep.put(r)
  })
  afterEach(async () => {
    for (const s of stores) await s.close()
    await removeTempDir(dir)
  })

  function member (self: 'a' | 'b', every = 10): { sync: SwarmSync, peers: LoopbackPeers, metrics: SwarmMetrics, registry: Registry } {
    const other = self === 'a' ? 'b' : 'a'
    const peers = new LoopbackPeers(new Map([[other, replicas[other === 'a' ? 0 : 1]]]), self)
    const registry = new Registry()
    const metrics = new SwarmMetrics(registry)
    const sync = new SwarmSync({
      selfId: self, ring: () => ring, local: replicas[self === 'a' ? 0 : 1], peers: peers as unknown as SwarmPeers, replicas: 3, metrics, log, fullReconcileEveryRounds: every
    })
    return { sync, peers, metrics, registry }
  }
  const outcomes = async (registry: Registry): Promise<Record<string, number>> => {
    const metric = await registry.getSingleMetric('ghostnode_swarm_reconcile_peers_total')!.get()
    return Object.fromEntries(metric.values.map(v => [String(v.labels.outcome), v.value]))
  }

  it('compares once, then skips until its own side changes; the side that changed repairs', async () => {
    const a = member('a')
    const b = member('b')
    await a.sync.reconcileNow()
    expect(a.peers.calls.get('buckets')).to.equal(1)
    a.peers.reset()
    await a.sync.reconcileNow()
    expect(a.peers.totalBytes, 'nothing sent for an unchanged member').to.equal(0)
    expect(await outcomes(a.registry)).to.include({ identical: 1, unchanged: 1 })

    // b loses a record without restarting: a has no reason to look, b's fingerprint changed, so b does
    const lost = records[17]
    await stores[1].delete(lost.mailbox, 0, [lost.hash])
    await a.sync.reconcileNow()
    expect(await stores[1].has(lost.mailbox, lost.hash)).to.equal(false)
    const report = await b.sync.reconcileNow()
    expect(report.pulled).to.equal(1)
    expect(await stores[1].has(lost.mailbox, lost.hash)).to.equal(true)
    expect(await outcomes(b.registry)).to.include({ repaired: 1 })

    // a new record on a alone: a's side changed, a pushes it
    const fresh = createRecord({ mailbox: records[3].mailbox, namespace: 0, timestamp: T0 - 50, ttlMs: HOUR, data: Uint8Array.of(200) })
    await replicas[0].put(fresh)
    expect((await a.sync.reconcileNow()).pushed).to.equal(1)
    expect(await stores[1].has(fresh.mailbox, fresh.hash)).to.equal(true)
    // then equal again, and skipped once that was seen
    await a.sync.reconcileNow()
    a.peers.reset()
    await a.sync.reconcileNow()
    expect(a.peers.totalBytes).to.equal(0)
  })

  it('compares an unchanged member anyway once in fullReconcileEveryRounds rounds', async () => {
    const a = member('a', 3)
    await a.sync.reconcileNow() // compared: equal
    const lost = records[5]
    await stores[1].delete(lost.mailbox, 0, [lost.hash])
    const pushed: number[] = []
    for (let i = 0; i < 3; i++) pushed.push((await a.sync.reconcileNow()).pushed)
    // skipped in two of the three rounds, compared (and repaired) in its own round of the cycle
    expect(pushed.sort()).to.deep.equal([0, 0, 1])
    expect(await stores[1].has(lost.mailbox, lost.hash)).to.equal(true)
    // rounds before its turn skip it; after a repair the next round compares again (and finds them equal)
    const seen = await outcomes(a.registry)
    expect(seen.repaired).to.equal(1)
    expect(seen.unchanged).to.be.at.least(1)
    expect(seen.unchanged + seen.identical).to.equal(3)
  })

  it('reconcileNow() during a round runs one more that starts after the call, and calls made meanwhile share it', async () => {
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    class Slow extends LoopbackPeers {
      override async buckets (...args: Parameters<LoopbackPeers['buckets']>): ReturnType<LoopbackPeers['buckets']> {
        await gate
        return super.buckets(...args)
      }
    }
    const peers = new Slow(new Map([['b', replicas[1]]]), 'a')
    const sync = new SwarmSync({
      selfId: 'a', ring: () => ring, local: replicas[0], peers: peers as unknown as SwarmPeers, replicas: 3, metrics: new SwarmMetrics(new Registry()), log
    })
    const first = sync.reconcileNow()
    // the round in flight has listed what a holds; a record stored on a now is not in that listing
    await new Promise(resolve => setTimeout(resolve, 50))
    const fresh = createRecord({ mailbox: records[9].mailbox, namespace: 0, timestamp: T0 - 40, ttlMs: HOUR, data: Uint8Array.of(201) })
    await replicas[0].put(fresh)
    const second = sync.reconcileNow()
    const third = sync.reconcileNow()
    release()
    expect((await first).pushed, 'the round in flight did not see it').to.equal(0)
    expect((await second).pushed, 'the round after the call pushed it').to.equal(1)
    expect(await third).to.deep.equal(await second)
    expect(await stores[1].has(fresh.mailbox, fresh.hash)).to.equal(true)
    expect(peers.calls.get('buckets'), 'two rounds in all: the third call shared the second').to.equal(2)
  })

  it('a join does not make two earlier members compare again; a departure does', async () => {
    const a = member('a')
    const b = member('b')
    await a.sync.reconcileNow()
    await b.sync.reconcileNow()
    ring.addMany(['c', 'd'])
    try {
      // what a and b share only shrank, and neither side changed: no comparison (each would
      // otherwise compare with every member on every join, N² requests per admission)
      a.peers.reset()
      b.peers.reset()
      await a.sync.reconcileNow()
      await b.sync.reconcileNow()
      expect(a.peers.calls.get('buckets') ?? 0, 'a after the join').to.equal(0)
      expect(b.peers.calls.get('buckets') ?? 0, 'b after the join').to.equal(0)

      // a record lost on b in a mailbox the two still share: b's side changed, b compares and repairs
      const still = records.find(r => {
        const swarm = ring.swarmFor(r.mailbox, 3)
        return swarm.includes('a') && swarm.includes('b')
      })!
      await stores[1].delete(still.mailbox, 0, [still.hash])
      await a.sync.reconcileNow()
      expect(a.peers.calls.get('buckets') ?? 0, 'a: nothing changed on its side').to.equal(0)
      const report = await b.sync.reconcileNow()
      expect(b.peers.calls.get('buckets')).to.equal(1)
      expect(report.pulled).to.equal(1)
      expect(await stores[1].has(still.mailbox, still.hash)).to.equal(true)

      // a mailbox that moved away from b (to c and d) purged on b after its handover: outside what
      // the two share now, so not a reason to compare
      const moved = records.find(r => !ring.swarmFor(r.mailbox, 3).includes('b'))!
      await b.sync.reconcileNow() // equal again after the repair
      b.peers.reset()
      await stores[1].delete(moved.mailbox, 0, [moved.hash])
      await b.sync.reconcileNow()
      expect(b.peers.calls.get('buckets') ?? 0, 'b: a change outside the shared arcs').to.equal(0)
    } finally {
      ring.remove('c')
      ring.remove('d')
    }
    // c and d left: a and b share more than they agreed over, so they compare again
    a.peers.reset()
    await a.sync.reconcileNow()
    expect(a.peers.calls.get('buckets'), 'the shared arcs grew: compared again').to.equal(1)
  })
})

describe('swarm/sync on two replicas', () => {
  let dir: string
  let stores: MessageStore[]
  let replicas: LocalReplica[]

  beforeEach(async () => {
    dir = await makeTempDir()
    ;({ stores, replicas } = await openReplicas(dir, ['a', 'b'], T0, HOUR))
  })
  afterEach(async () => {
    for (const s of stores) await s.close()
    await removeTempDir(dir)
  })

  describe('pull: progress, and restarts after a ring change', () => {
    /** Member a on `ring`, whose RANGE requests wait for release(); b answers, every other member cannot be reached. */
    function gated (ring: HashRing): { sync: SwarmSync, release: () => void, asked: Map<string, number>, toB: RangeSet[] } {
      let release!: () => void
      const gate = new Promise<void>(resolve => { release = resolve })
      const asked = new Map<string, number>()
      const toB: RangeSet[] = []
      class Gated extends LoopbackPeers {
        override async range (...args: Parameters<LoopbackPeers['range']>): ReturnType<LoopbackPeers['range']> {
          asked.set(args[0], (asked.get(args[0]) ?? 0) + 1)
          if (args[0] === 'b') toB.push(new RangeSet(args[1]))
          await gate
          return super.range(...args)
        }
      }
      const peers = new Gated(new Map([['b', replicas[1]]]), 'a')
      const sync = new SwarmSync({
        selfId: 'a', ring: () => ring, local: replicas[0], peers: peers as unknown as SwarmPeers, replicas: 3, metrics: new SwarmMetrics(new Registry()), log,
        churnDelayMs: 3_600_000, reconcileIntervalMs: 3_600_000
      })
      return { sync, release, asked, toB }
    }

    it('counts the members a pull asks, those that answered and those skipped, and why', async () => {
      // c is on the ring but cannot be reached: it is skipped, and the pull still ends (ready)
      const { sync, release } = gated(new HashRing({ vnodesPerNode: 16, nodes: ['a', 'b', 'c'] }))
      expect(sync.pullProgress.pulling).to.equal(false)
      const pull = sync.pullNow()
      await new Promise(resolve => setTimeout(resolve, 30))
      expect(sync.pullProgress).to.include({ pulling: true, members: 2, done: 0 })
      release()
      await pull
      expect(sync.ready).to.equal(true)
      expect(sync.pullProgress).to.include({ pulling: false, members: 2, done: 1, failed: 1, elapsedMs: 0, restarts: 0, lastError: 'Error' })
    })

    it('asks a member again only for the arcs it has not answered for in the same run', async () => {
      const ring = new HashRing({ vnodesPerNode: 16, nodes: ['a', 'b', 'c', 'd'] })
      const { sync, release, asked, toB } = gated(ring)
      sync.start()
      try {
        const first = sync.pullNow()
        await new Promise(resolve => setTimeout(resolve, 30))
        // d left while the pull ran: the pull runs again, for what d held, from the members near us
        ring.remove('d')
        sync.onRingChange({ added: [], removed: ['d'] })
        const again = sync.pullNow()
        release()
        await Promise.all([first, again])
        expect(sync.pullProgress.restarts).to.equal(1)
        // a gained arcs from d: b is asked for those alone, not again for what it answered
        expect(asked.get('b')).to.equal(2)
        const owned = new RangeSet(ring.rangesOwnedBy('a', 3))
        expect(toB[1].minus(owned).isEmpty, 'only arcs a owns now').to.equal(true)
        expect(owned.minus(toB[0]).minus(toB[1]).isEmpty, 'together, everything a owns now').to.equal(true)
        expect(toB[1].minus(toB[0]).intervals(), 'nothing asked twice').to.deep.equal(toB[1].intervals())
        expect(asked.get('c'), 'c could not be reached: asked again').to.equal(2)
        expect(asked.get('d'), 'd left').to.equal(1)
        expect(sync.ready).to.equal(true)
      } finally {
        sync.stop()
      }
    })
  })

  describe('handover follow-up rounds', function () {
    this.timeout(30_000)

    it('a handover the new owner could not confirm is tried again seconds later, not an interval later', async () => {
      // R = 1 on two members: the mailboxes b owns are a's to hand over
      const ring = new HashRing({ vnodesPerNode: 16, nodes: ['a', 'b'] })
      const mine: SwarmRecord[] = []
      for (let m = 0; mine.length < 5; m++) {
        const mailbox = new Uint8Array(32)
        new DataView(mailbox.buffer).setUint32(0, m * 2_654_435_761 >>> 0)
        if (ring.swarmFor(mailbox, 1)[0] !== 'b') continue
        const r = createRecord({ mailbox, namespace: 0, timestamp: T0 - 100, ttlMs: HOUR, data: Uint8Array.of(m) })
        await replicas[0].put(r)
        mine.push(r)
      }
      let refusals = 0
      class StillPulling extends LoopbackPeers {
        override async handoff (peer: string, mailbox: Uint8Array, hashes: Uint8Array[]): Promise<Uint8Array[]> {
          // the new owner is still pulling: the first handover round fails
          if (refusals++ < mine.length) throw new Error('not ready')
          return super.handoff(peer, mailbox, hashes)
        }
      }
      const peers = new StillPulling(new Map([['b', replicas[1]]]), 'a')
      const sync = new SwarmSync({
        selfId: 'a', ring: () => ring, local: replicas[0], peers: peers as unknown as SwarmPeers, replicas: 1,
        metrics: new SwarmMetrics(new Registry()), log, reconcileIntervalMs: 3_600_000, churnDelayMs: 10
      })
      sync.start()
      try {
        const started = Date.now()
        while (!(await Promise.all(mine.map(async r => stores[1].has(r.mailbox, r.hash)))).every(Boolean) ||
          (await Promise.all(mine.map(async r => stores[0].has(r.mailbox, r.hash)))).some(Boolean)) {
          expect(Date.now() - started, 'handed over and purged within the first follow-up').to.be.below(12_000)
          await new Promise(resolve => setTimeout(resolve, 100))
        }
        expect(refusals).to.be.greaterThan(mine.length)
      } finally {
        sync.stop()
        await sync.idle()
      }
    })
  })
})
