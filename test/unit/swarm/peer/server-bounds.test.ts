import { join } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { streamPair } from '@libp2p/utils'
import { install } from '@sinonjs/fake-timers'
import { expect } from 'chai'
import { SwarmChannel } from '../../../../src/swarm/peer/channel.js'
import { ENTRIES_PER_TOKEN, MAX_DIGEST_ENTRIES, SwarmOp, type DigestEntry } from '../../../../src/swarm/peer/protocol.js'
import { createRecord } from '../../../../src/swarm/record-codec.js'
import { LocalReplica } from '../../../../src/swarm/replica.js'
import { OwnerCheck } from '../../../../src/swarm/peer/owner-check.js'
import { SwarmServer } from '../../../../src/swarm/peer/server.js'
import { SwarmPeerStatus } from '../../../../src/swarm/status.js'
import { MessageStore } from '../../../../src/swarm/store/store.js'
import { Tombstones } from '../../../../src/swarm/sync/tombstones.js'
import { makeTempDir, removeTempDir } from '../../../helpers/tmp.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { Registry } from 'prom-client'

const T0 = 1_700_000_000_000
const log = defaultLogger().forComponent('test:swarm-server-bounds')
const mailboxOf = (i: number): Uint8Array => { const m = new Uint8Array(32); new DataView(m.buffer).setUint32(0, i); return m }
const entries = (n: number): DigestEntry[] => Array.from({ length: n }, (_, i) => ({ mailbox: mailboxOf(i), digest: new Uint8Array(32) }))

/**
 * Every node-to-node request pays for the work it causes, and that work stops
 * at its deadline or when the requester leaves (a DIGEST of 65,535 entries once
 * cost 4.6 s of CPU and went on after its 5 s answer).
 */
describe('swarm/server: bounded work per request', () => {
  let dir: string
  let store: MessageStore
  let replica: LocalReplica
  let peer: PeerId
  let outbound: Stream
  let inbound: Stream
  let costs: number[]
  let lookups: number
  let slowMs: number

  async function start (requestTimeoutMs = 5_000, deadline?: (ms: number) => AbortSignal): Promise<void> {
    const server = new SwarmServer({
      replica, log, authorize: () => 'member', allow: (_p, cost) => { costs.push(cost); return true }, owner: new OwnerCheck({ now: Date.now }), inSwarm: () => true, requestTimeoutMs,
      ...(deadline !== undefined ? { deadline } : {})
    });
    [outbound, inbound] = await streamPair()
    server.handle(inbound, { remotePeer: peer } as unknown as Connection)
  }

  beforeEach(async () => {
    dir = await makeTempDir()
    store = new MessageStore({ path: join(dir, 'db'), now: () => T0, registry: new Registry() })
    await store.open()
    replica = new LocalReplica({ store, tombstones: new Tombstones({ now: () => T0 }), isReady: () => true, maxTtlMs: 3_600_000 })
    peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    costs = []
    lookups = 0
    slowMs = 0
    const list = store.listHashes.bind(store)
    store.listHashes = async (m) => {
      lookups++
      if (slowMs > 0) {
        // a slow lookup on the (fake) clock, with no disk behind it
        await new Promise(resolve => setTimeout(resolve, slowMs))
        return []
      }
      return list(m)
    }
  })
  afterEach(async () => {
    outbound?.abort(new Error('test over'))
    inbound?.abort(new Error('test over'))
    await store.close()
    await removeTempDir(dir)
  })

  it('refuses a DIGEST over the per-request cap before looking at any entry, and charges per entry', async () => {
    await start()
    const channel = new SwarmChannel(outbound, peer, { log })
    const over = await channel.request({ op: SwarmOp.DIGEST, entries: entries(65_535) }, 5_000)
    expect(over.status).to.equal(SwarmPeerStatus.BAD_REQUEST)
    expect(lookups).to.equal(0)
    const full = await channel.request({ op: SwarmOp.DIGEST, entries: entries(MAX_DIGEST_ENTRIES) }, 5_000)
    expect(full.status).to.equal(SwarmPeerStatus.OK)
    expect(costs).to.deep.equal([1, MAX_DIGEST_ENTRIES / ENTRIES_PER_TOKEN])
  })

  it('stops a DIGEST\'s work at its deadline, and when the requester leaves', async () => {
    const clock = install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    /** Advances the fake clock in steps, letting the server and the streams run between them. */
    const advance = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 10) {
        await clock.tickAsync(10)
        await new Promise(resolve => setImmediate(resolve))
      }
    }
    // the deadline on the same fake clock (AbortSignal.timeout runs on the real one)
    const fakeDeadline = (ms: number): AbortSignal => {
      const c = new AbortController()
      setTimeout(() => { c.abort(new DOMException('deadline passed', 'TimeoutError')) }, ms)
      return c.signal
    }
    try {
      await start(200, fakeDeadline)
      slowMs = 20
      const channel = new SwarmChannel(outbound, peer, { log, now: () => Date.now() })
      let answered: { status: number } | undefined
      void channel.request({ op: SwarmOp.DIGEST, entries: entries(MAX_DIGEST_ENTRIES) }, 5_000).then(a => { answered = a })
      await advance(250)
      expect(answered?.status).to.equal(SwarmPeerStatus.INTERNAL)
      const atDeadline = lookups
      await advance(300)
      expect(lookups, 'no lookups after the deadline').to.equal(atDeadline)
      expect(atDeadline).to.be.within(9, 12) // 200 ms of 20 ms lookups, not the 128 asked

      // a second request, then the requester hangs up
      lookups = 0
      void channel.request({ op: SwarmOp.DIGEST, entries: entries(MAX_DIGEST_ENTRIES) }, 5_000).catch(() => {})
      await advance(50)
      outbound.abort(new Error('requester left'))
      await advance(30)
      const atLeave = lookups
      await advance(300)
      expect(lookups, 'no lookups after the requester left').to.equal(atLeave)
      expect(atLeave).to.be.below(MAX_DIGEST_ENTRIES / 4)
    } finally {
      clock.uninstall()
    }
  })

  it('serves 20 maximum-size DIGESTs over a store of 512 mailboxes (CPU printed for the record)', async () => {
    await start()
    for (let i = 0; i < MAX_DIGEST_ENTRIES; i++) {
      await store.put(createRecord({ mailbox: mailboxOf(i), namespace: 0, timestamp: T0, ttlMs: 3_600_000, data: Uint8Array.of(i & 255) }))
    }
    const channel = new SwarmChannel(outbound, peer, { log })
    const cpu = process.cpuUsage()
    const answers = await Promise.all(Array.from({ length: 20 }, async () => channel.request({ op: SwarmOp.DIGEST, entries: entries(MAX_DIGEST_ENTRIES) }, 10_000)))
    const used = process.cpuUsage(cpu)
    expect(answers.every(a => a.status === SwarmPeerStatus.OK)).to.equal(true)
    expect(lookups).to.equal(20 * MAX_DIGEST_ENTRIES)
    console.log(`      20 DIGESTs of ${MAX_DIGEST_ENTRIES} entries: ${Math.round((used.user + used.system) / 1000)} ms of CPU (requester and responder in this process)`)
  })
})
