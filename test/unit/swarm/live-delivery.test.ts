import { join } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { streamPair } from '@libp2p/utils'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import { MemoryBudget } from '../../../src/memory/budget.js'
import { MailboxKey, authMessage, subscribeFields } from '../../../src/swarm/auth.js'
import { SwarmChannel } from '../../../src/swarm/peer/channel.js'
import { OwnerCheck } from '../../../src/swarm/peer/owner-check.js'
import { SwarmOp, decodePageAnswer, type WatchRequest } from '../../../src/swarm/peer/protocol.js'
import { SwarmServer } from '../../../src/swarm/peer/server.js'
import { createRecord, type SwarmRecord } from '../../../src/swarm/record-codec.js'
import { LocalReplica } from '../../../src/swarm/replica.js'
import { SubscriptionLimitError } from '../../../src/swarm/service-errors.js'
import { SwarmPeerStatus, SwarmStatus } from '../../../src/swarm/status.js'
import { MessageStore } from '../../../src/swarm/store/store.js'
import { Subscriptions } from '../../../src/swarm/subscriptions.js'
import { Tombstones } from '../../../src/swarm/sync/tombstones.js'
import { Watchers } from '../../../src/swarm/watchers.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

const T0 = 1_700_000_000_000
const log = defaultLogger().forComponent('test:live-delivery')
const encoder = new TextEncoder()

function watchOf (key: MailboxKey, now: number, options: { since?: number, waitMs?: number, known?: Uint8Array[], signer?: MailboxKey, namespace?: number } = {}): WatchRequest {
  const since = options.since ?? 0
  const waitMs = options.waitMs ?? 10_000
  const known = options.known ?? []
  const namespace = options.namespace ?? 0
  const fields = subscribeFields(key.publicKey, namespace, now, since, waitMs, known)
  const signature = (options.signer ?? key).sign(authMessage(fields))
  return { op: SwarmOp.WATCH, mailbox: key.publicKey, namespace, since, waitMs, maxBytes: 65_536, known, auth: { timestamp: now, signature } }
}

const recordOf = (key: MailboxKey, text: string, at = T0, namespace = 0): SwarmRecord =>
  createRecord({ mailbox: key.publicKey, namespace, timestamp: at, ttlMs: 600_000, data: encoder.encode(text) })

describe('live delivery: watchers on members, subscriptions at exits', () => {
  describe('Watchers (member side)', () => {
    it('pushes a newly stored record once to each watcher that does not know it, then forgets the watch', () => {
      const pushed: Array<[string, string]> = []
      const w = new Watchers({ now: () => T0, push: (peer, r) => { pushed.push([peer, new TextDecoder().decode(r.data)]) } })
      const key = MailboxKey.generate()
      const known = recordOf(key, 'already there')
      w.add('exit-a', watchOf(key, T0, { known: [known.hash] }))
      w.add('exit-b', watchOf(key, T0))
      w.add('exit-c', watchOf(key, T0, { namespace: 7 }))
      w.stored(known)
      expect(pushed).to.deep.equal([['exit-b', 'already there']])
      w.stored(recordOf(key, 'new'))
      expect(pushed).to.deep.equal([['exit-b', 'already there'], ['exit-a', 'new']])
      // only the namespace-7 watch is left
      expect(w.size).to.equal(1)
    })

    it('bounds watches in number, per asking node and by the memory budget, and gives the memory back', () => {
      const budget = new MemoryBudget(4096)
      let now = T0
      const w = new Watchers({ now: () => now, push: () => {}, budget, max: 10, maxPerPeer: 3 })
      const key = MailboxKey.generate()
      for (let i = 0; i < 3; i++) w.add('greedy', watchOf(key, T0))
      expect(() => w.add('greedy', watchOf(key, T0))).to.throw(SubscriptionLimitError)
      // 256 B each: the budget of 4 KiB runs out before the count does
      let refused: unknown
      for (let i = 0; i < 20 && refused === undefined; i++) {
        try { w.add(`exit-${i}`, watchOf(key, T0)) } catch (err) { refused = err }
      }
      expect(refused).to.be.instanceOf(SubscriptionLimitError)
      expect(budget.used).to.be.greaterThan(0)
      now += 61_000
      const held = w.size
      expect(held).to.be.greaterThan(3)
      expect(w.sweep()).to.equal(held)
      expect(w.size).to.equal(0)
      expect(budget.used).to.equal(0)
    })
  })

  describe('Subscriptions (exit side)', () => {
    it('bounds per circuit and per node, answers with the pushed record, or none at the deadline', async () => {
      const budget = new MemoryBudget(64 * 1024)
      const subs = new Subscriptions({ now: Date.now, budget, max: 3, maxPerCircuit: 2 })
      const key = MailboxKey.generate()
      const circuitA = {}
      const circuitB = {}
      const live = new AbortController()
      const a1 = subs.open(key.publicKey, 0, [], 5_000, circuitA, live.signal)
      subs.open(key.publicKey, 0, [], 50, circuitA, live.signal)
      expect(() => subs.open(key.publicKey, 0, [], 5_000, circuitA, live.signal)).to.throw(SubscriptionLimitError, /circuit/)
      const b1 = subs.open(key.publicKey, 0, [], 5_000, circuitB, live.signal)
      expect(() => subs.open(key.publicKey, 0, [], 5_000, circuitB, live.signal)).to.throw(SubscriptionLimitError, /exit/)
      expect(subs.deliver(recordOf(key, 'hi'))).to.equal(3)
      expect(new TextDecoder().decode((await a1.record)!.data)).to.equal('hi')
      expect((await b1.record)?.hash).to.deep.equal(recordOf(key, 'hi').hash)
      expect(subs.size).to.equal(0)
      const late = subs.open(key.publicKey, 0, [], 20, circuitA, live.signal)
      expect(await late.record).to.equal(undefined)
      expect(budget.used).to.equal(0)
    })

    it('ends a subscription when its circuit closes, and refuses one the budget cannot hold', async () => {
      const budget = new MemoryBudget(1500)
      const subs = new Subscriptions({ now: Date.now, budget })
      const key = MailboxKey.generate()
      const circuit = new AbortController()
      const s = subs.open(key.publicKey, 0, [], 10_000, circuit.signal, circuit.signal)
      expect(() => subs.open(key.publicKey, 0, [], 10_000, {}, new AbortController().signal)).to.throw(SubscriptionLimitError, /memory/)
      circuit.abort(new Error('circuit destroyed'))
      let err: unknown
      await s.record.catch((e: unknown) => { err = e })
      expect((err as Error).message).to.equal('circuit destroyed')
      expect(subs.size).to.equal(0)
      expect(budget.used).to.equal(0)
    })
  })

  describe('over the swarm protocol (an exit asks a member)', () => {
    let dir: string
    let store: MessageStore
    let replica: LocalReplica
    let watchers: Watchers
    let pushes: Array<{ peer: string, record: SwarmRecord }>
    let received: SwarmRecord[]
    let asker: PeerId
    let outbound: Stream
    let inbound: Stream
    let inSwarm: boolean

    beforeEach(async () => {
      dir = await makeTempDir()
      store = new MessageStore({ path: join(dir, 'db'), now: Date.now, registry: new Registry() })
      await store.open()
      pushes = []
      received = []
      inSwarm = true
      watchers = new Watchers({ now: Date.now, push: (peer, record) => { pushes.push({ peer, record }) } })
      replica = new LocalReplica({
        store, tombstones: new Tombstones({ now: Date.now }), isReady: () => true, maxTtlMs: 3_600_000, watchers,
        onPush: (record) => { received.push(record); return true }
      })
      asker = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      const server = new SwarmServer({ replica, log, authorize: () => 'member', allow: () => true, owner: new OwnerCheck({ now: Date.now }), inSwarm: () => inSwarm });
      [outbound, inbound] = await streamPair()
      server.handle(inbound, { remotePeer: asker } as unknown as Connection)
    })
    afterEach(async () => {
      outbound?.abort(new Error('test over'))
      inbound?.abort(new Error('test over'))
      await store.close()
      await removeTempDir(dir)
    })

    it('takes a WATCH only with the owner\'s signature, once, and then pushes the next record to the asker', async () => {
      const channel = new SwarmChannel(outbound, asker, { log })
      const key = MailboxKey.generate()
      const thief = MailboxKey.generate()
      const forged = await channel.request(watchOf(key, Date.now(), { signer: thief }), 5_000)
      expect(forged.status).to.equal(SwarmStatus.BAD_SIGNATURE)
      const stale = await channel.request(watchOf(key, Date.now() - 120_000), 5_000)
      expect(stale.status).to.equal(SwarmStatus.STALE_TIMESTAMP)
      const request = watchOf(key, Date.now())
      const ok = await channel.request(request, 5_000)
      expect(ok.status).to.equal(SwarmPeerStatus.OK)
      expect(decodePageAnswer(ok.body).records).to.deep.equal([])
      expect((await channel.request(request, 5_000)).status).to.equal(SwarmStatus.REPLAYED)
      expect(watchers.size).to.equal(1)
      await replica.put(recordOf(key, 'for the subscriber', Date.now()))
      expect(pushes.map(p => p.peer)).to.deep.equal([asker.toString()])
      expect(watchers.size).to.equal(0)
    })

    it('answers a WATCH at once with what the subscriber does not know, registering nothing', async () => {
      const channel = new SwarmChannel(outbound, asker, { log })
      const key = MailboxKey.generate()
      const old = recordOf(key, 'seen', Date.now() - 1_000)
      const fresh = recordOf(key, 'not seen', Date.now())
      await replica.put(old)
      await replica.put(fresh)
      const answer = await channel.request(watchOf(key, Date.now(), { since: Date.now() - 5_000, known: [old.hash] }), 5_000)
      expect(decodePageAnswer(answer.body).records.map(r => new TextDecoder().decode(r.data))).to.deep.equal(['not seen'])
      expect(watchers.size).to.equal(0)
    })

    it('refuses a PUSH from a node outside the record\'s swarm, and one whose hash does not match, delivering nothing', async () => {
      const channel = new SwarmChannel(outbound, asker, { log })
      const key = MailboxKey.generate()
      inSwarm = false
      const outsider = await channel.request({ op: SwarmOp.PUSH, record: recordOf(key, 'fake', Date.now()) }, 5_000)
      expect(outsider.status).to.equal(SwarmPeerStatus.UNAUTHORIZED)
      inSwarm = true
      const bad = recordOf(key, 'altered', Date.now())
      bad.data[0] ^= 1
      const altered = await channel.request({ op: SwarmOp.PUSH, record: bad }, 5_000)
      expect(altered.status).to.not.equal(SwarmPeerStatus.OK)
      expect(received).to.deep.equal([])
      const good = await channel.request({ op: SwarmOp.PUSH, record: recordOf(key, 'real', Date.now()) }, 5_000)
      expect(good.status).to.equal(SwarmPeerStatus.OK)
      expect(received.map(r => new TextDecoder().decode(r.data))).to.deep.equal(['real'])
    })
  })
})
