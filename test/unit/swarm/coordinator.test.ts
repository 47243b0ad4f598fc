import { join } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import { SwarmCoordinator, mergePages } from '../../../src/swarm/coordinator.js'
import { MailboxKey } from '../../../src/swarm/auth.js'
import { MailboxFullError, StoredMessageTooLargeError, TtlOutOfBoundsError } from '../../../src/swarm/store/errors.js'
import { createRecord, type SwarmRecord } from '../../../src/swarm/record-codec.js'
import { LocalReplica } from '../../../src/swarm/replica.js'
import { HashRing } from '../../../src/swarm/ring.js'
import { QuorumFailedError, SwarmChannelClosedError, SwarmNotReadyError, SwarmUnavailableError } from '../../../src/swarm/service-errors.js'
import { MessageStore } from '../../../src/swarm/store/store.js'
import { resolveLimits } from '../../../src/swarm/store/store-options.js'
import { SwarmMetrics } from '../../../src/swarm/swarm-metrics.js'
import { Tombstones } from '../../../src/swarm/sync/tombstones.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'
import type { PageAnswer, PutAnswer } from '../../../src/swarm/peer/protocol.js'
import type { SwarmPeers } from '../../../src/swarm/peer/peers.js'

const T0 = 1_700_000_000_000
// a real Ed25519 public key: the coordinator refuses deposits into 32 bytes that are none
const mailbox = MailboxKey.fromSeed(new Uint8Array(32).fill(5)).publicKey
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const rec = (i: number, size = 10): SwarmRecord =>
  createRecord({ mailbox, namespace: 0, timestamp: T0 + i, ttlMs: 60_000, data: Buffer.alloc(size, i) })

/** A remote member whose answers the test controls. */
interface FakeMember {
  put: (record: SwarmRecord) => Promise<PutAnswer>
  get?: () => Promise<PageAnswer>
}

function fakePeers (members: Record<string, FakeMember>): SwarmPeers {
  return {
    put: async (peer: string, record: SwarmRecord) => members[peer].put(record),
    get: async (peer: string) => {
      const get = members[peer].get
      if (get == null) throw new SwarmChannelClosedError('unreachable')
      return get()
    }
  } as unknown as SwarmPeers
}

describe('swarm/coordinator', () => {
  describe('writes', () => {
    let dir: string
    let store: MessageStore
    let local: LocalReplica
    let registry: Registry
    const selfId = 'self'

    beforeEach(async () => {
      dir = await makeTempDir()
      store = new MessageStore({ path: join(dir, 'db'), now: () => T0, registry: new Registry() })
      await store.open()
      local = new LocalReplica({ store, tombstones: new Tombstones(), isReady: () => true, maxTtlMs: 3_600_000 })
      registry = new Registry()
    })
    afterEach(async () => {
      await store.close()
      await removeTempDir(dir)
    })

    function coordinator (members: Record<string, FakeMember>, writeQuorum = 0, maxMessageBytes = 1024, replica = local): SwarmCoordinator {
      registry = new Registry()
      return new SwarmCoordinator({
        selfId,
        ring: () => new HashRing({ vnodesPerNode: 4, nodes: [selfId, ...Object.keys(members)] }),
        local: replica,
        peers: fakePeers(members),
        replicas: 3,
        writeQuorum,
        limits: resolveLimits({ path: '', maxMessageBytes }),
        now: () => T0,
        metrics: new SwarmMetrics(registry),
        log: defaultLogger().forComponent('test:coordinator')
      })
    }

    it('acknowledges after W = 2 of 3 copies, naming those members, while the third is still writing', async () => {
      let releaseSlow: () => void = () => {}
      const slow = new Promise<void>(resolve => { releaseSlow = resolve })
      const c = coordinator({
        fast: { put: async (r) => ({ stored: true, expiry: r.expiry }) },
        slow: { put: async (r) => { await slow; return { stored: true, expiry: r.expiry } } }
      })
      const out = await c.store({ mailbox, namespace: 0, ttlMs: 60_000, data: Uint8Array.of(1) })
      expect(out.members.sort()).to.deep.equal(['fast', 'self'])
      expect(out.stored).to.equal(true)
      expect(await store.has(mailbox, out.record.hash)).to.equal(true)
      releaseSlow()
      // the last write completes in the background: let it run (event-loop turns, not the clock)
      const lagCount = async (): Promise<number | undefined> => (await registry.getSingleMetric('ghostnode_swarm_replication_lag_seconds')?.get())
        ?.values.find(v => (v as { metricName?: string }).metricName === 'ghostnode_swarm_replication_lag_seconds_count')?.value
      for (let i = 0; i < 100 && await lagCount() !== 1; i++) await new Promise(resolve => setImmediate(resolve))
      expect(await lagCount()).to.equal(1)
    })

    it('fails with QuorumFailedError when fewer than W members store it', async () => {
      const down = { put: async () => { throw new SwarmChannelClosedError('down') } }
      const c = coordinator({ a: down, b: down })
      const err = await c.store({ mailbox, namespace: 0, ttlMs: 60_000, data: Uint8Array.of(1) }).catch(e => e)
      expect(err).to.be.instanceOf(QuorumFailedError)
      expect((err as QuorumFailedError).required).to.equal(2)
    })

    it('honours a configured W of 1 and of 3', async () => {
      const down = { put: async () => { throw new SwarmChannelClosedError('down') } }
      expect((await coordinator({ a: down, b: down }, 1).store({ mailbox, namespace: 0, ttlMs: 60_000, data: Uint8Array.of(1) })).members).to.deep.equal(['self'])
      const ok = { put: async (r: SwarmRecord) => ({ stored: true, expiry: r.expiry }) }
      const err = await coordinator({ a: ok, b: down }, 3).store({ mailbox, namespace: 0, ttlMs: 60_000, data: Uint8Array.of(2) }).catch(e => e)
      expect(err).to.be.instanceOf(QuorumFailedError)
    })

    it('reports a member store refusal (mailbox full) rather than a bare quorum failure', async () => {
      const full = { put: async () => { throw new MailboxFullError('records', 1) } }
      const err = await coordinator({ a: full, b: full }).store({ mailbox, namespace: 0, ttlMs: 60_000, data: Uint8Array.of(1) }).catch(e => e)
      expect(err).to.be.instanceOf(MailboxFullError)
    })

    it('refuses an oversized message or a TTL out of bounds before asking any member', async () => {
      let asked = 0
      const counting = { put: async (r: SwarmRecord) => { asked++; return { stored: true, expiry: r.expiry } } }
      const c = coordinator({ a: counting, b: counting }, 0, 16)
      expect(await c.store({ mailbox, namespace: 0, ttlMs: 60_000, data: new Uint8Array(17) }).catch(e => e)).to.be.instanceOf(StoredMessageTooLargeError)
      expect(await c.store({ mailbox, namespace: 0, ttlMs: 1_000, data: Uint8Array.of(1) }).catch(e => e)).to.be.instanceOf(TtlOutOfBoundsError)
      expect(asked).to.equal(0)
      expect(store.stats().records).to.equal(0)
    })

    it('retrieves from the members that answer; none ready is unavailable', async () => {
      await store.put(rec(1))
      const c = coordinator({ a: { put: async () => ({ stored: true, expiry: 0 }), get: async () => ({ records: [rec(2)] }) }, b: { put: async () => ({ stored: true, expiry: 0 }) } })
      const page = await c.retrieve(mailbox, 0, { maxBytes: 1 << 20, auth: { timestamp: T0, signature: new Uint8Array(64) } })
      expect(page.records.map(r => r.timestamp)).to.deep.equal([T0 + 1, T0 + 2])
      const pulling = new LocalReplica({ store, tombstones: new Tombstones(), isReady: () => false, maxTtlMs: 3_600_000 })
      const none = coordinator({
        a: { put: async () => ({ stored: true, expiry: 0 }), get: async () => { throw new SwarmNotReadyError() } },
        b: { put: async () => ({ stored: true, expiry: 0 }) }
      }, 0, 1024, pulling)
      const err = await none.retrieve(mailbox, 0, { maxBytes: 100, auth: { timestamp: T0, signature: new Uint8Array(64) } }).catch(e => e)
      expect(err).to.be.instanceOf(SwarmUnavailableError)
      expect((err as Error).message).to.match(/still pulling/)
    })
  })

  describe('mergePages', () => {
    it('deduplicates by hash and orders by (timestamp, hash)', () => {
      const page = mergePages([{ records: [rec(3), rec(1)] }, { records: [rec(1), rec(2)] }], 1 << 20)
      expect(page.records.map(r => r.timestamp - T0)).to.deep.equal([1, 2, 3])
      expect(page.nextCursor).to.equal(undefined)
    })

    it('stops at the earliest last record of a member that has more, and resumes there', () => {
      const page = mergePages([
        { records: [rec(1), rec(2)], nextCursor: new Uint8Array(41) },
        { records: [rec(1), rec(3), rec(4)] }
      ], 1 << 20)
      expect(page.records.map(r => r.timestamp - T0)).to.deep.equal([1, 2])
      expect(hex(page.nextCursor ?? new Uint8Array())).to.have.length(82)
      expect(hex((page.nextCursor ?? new Uint8Array()).subarray(9))).to.equal(hex(rec(2).hash))
    })

    it('keeps to the byte budget but always returns the first record', () => {
      const page = mergePages([{ records: [rec(1, 500), rec(2, 500)] }], 100)
      expect(page.records).to.have.length(1)
      expect(page.nextCursor).to.not.equal(undefined)
    })
  })
})
