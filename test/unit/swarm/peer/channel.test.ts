import { join } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { streamPair } from '@libp2p/utils'
import { install } from '@sinonjs/fake-timers'
import { expect } from 'chai'
import { SwarmChannel } from '../../../../src/swarm/peer/channel.js'
import { encodeFrame } from '../../../../src/swarm/peer/frames.js'
import { MailboxKey, authMessage, deleteAllFields, retrieveFields } from '../../../../src/swarm/auth.js'
import { OwnerCheck } from '../../../../src/swarm/peer/owner-check.js'
import { SwarmOp, decodePageAnswer, decodePutAnswer, encodeRequestMessage, type DeleteAllRequest, type GetRequest } from '../../../../src/swarm/peer/protocol.js'
import { createRecord } from '../../../../src/swarm/record-codec.js'
import { LocalReplica } from '../../../../src/swarm/replica.js'
import { SwarmServer, type SwarmPeerStanding } from '../../../../src/swarm/peer/server.js'
import { SwarmChannelClosedError, SwarmRequestTimeoutError } from '../../../../src/swarm/service-errors.js'
import { SwarmPeerStatus } from '../../../../src/swarm/status.js'
import { MessageStore } from '../../../../src/swarm/store/store.js'
import { Tombstones } from '../../../../src/swarm/sync/tombstones.js'
import { makeTempDir, removeTempDir } from '../../../helpers/tmp.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { Registry } from 'prom-client'

const T0 = 1_700_000_000_000
const owner = MailboxKey.generate()
const mailbox = owner.publicKey
const log = defaultLogger().forComponent('test:swarm-channel')
let tick = 0
/** A DELETE_ALL the owner signed (a new signature each time: members refuse replays). */
const deleteAll = (): DeleteAllRequest => {
  const timestamp = Date.now() + (tick++ % 1000)
  return { op: SwarmOp.DELETE_ALL, mailbox, auth: { timestamp, signature: owner.sign(authMessage(deleteAllFields(mailbox, undefined, timestamp))) } }
}
const get = (maxBytes: number): GetRequest => {
  const timestamp = Date.now() + (tick++ % 1000)
  return { op: SwarmOp.GET, mailbox, namespace: 0, maxBytes, auth: { timestamp, signature: owner.sign(authMessage(retrieveFields(mailbox, 0, timestamp))) } }
}
const serverChecks = { owner: new OwnerCheck({ now: Date.now }), inSwarm: () => true }

describe('swarm/channel and server (in-memory streams)', () => {
  let dir: string
  let store: MessageStore
  let replica: LocalReplica
  let peer: PeerId
  let outbound: Stream
  let inbound: Stream
  let standing: SwarmPeerStanding
  let unknownPeers: string[]
  let charged: number
  let allowed: boolean
  let violations: string[]
  let server: SwarmServer

  beforeEach(async () => {
    dir = await makeTempDir()
    store = new MessageStore({ path: join(dir, 'db'), now: () => T0, registry: new Registry() })
    await store.open()
    replica = new LocalReplica({ store, tombstones: new Tombstones({ now: () => T0 }), isReady: () => true, maxTtlMs: 3_600_000 })
    peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    standing = 'member'
    allowed = true
    violations = []
    unknownPeers = []
    charged = 0
    server = new SwarmServer({
      replica,
      log,
      authorize: () => standing,
      allow: () => { charged++; return allowed },
      ...serverChecks,
      onViolation: (_p, v) => violations.push(v),
      onUnknownPeer: (p) => unknownPeers.push(p.toString())
    });
    [outbound, inbound] = await streamPair()
    server.handle(inbound, { remotePeer: peer } as unknown as Connection)
  })
  afterEach(async () => {
    outbound.abort(new Error('test over'))
    inbound.abort(new Error('test over'))
    await store.close()
    await removeTempDir(dir)
  })

  it('multiplexes many requests on one stream and matches answers by id', async () => {
    const channel = new SwarmChannel(outbound, peer, { log })
    const records = Array.from({ length: 20 }, (_, i) => createRecord({ mailbox, namespace: 0, timestamp: T0 + i, ttlMs: 60_000, data: Uint8Array.of(i) }))
    const answers = await Promise.all(records.map(async record => channel.request({ op: SwarmOp.PUT, record }, 5_000)))
    for (const a of answers) {
      expect(a.status).to.equal(SwarmPeerStatus.OK)
      expect(decodePutAnswer(a.body).stored).to.equal(true)
    }
    const page = await channel.request(get(1 << 20), 5_000)
    expect(decodePageAnswer(page.body).records).to.have.length(20)
    expect(channel.inflight).to.equal(0)
  })

  it('answers BUSY beyond its in-flight bound and serves the rest', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    let started = 0
    let allStarted: () => void = () => {}
    const fourStarted = new Promise<void>(resolve => { allStarted = resolve })
    const slow = { serve: async () => { if (++started === 4) allStarted(); await gate; return new Uint8Array(4) } } as unknown as LocalReplica
    const [out2, in2] = await streamPair()
    new SwarmServer({ replica: slow, log, authorize: () => 'member', allow: () => true, maxInflight: 4, ...serverChecks }).handle(in2, { remotePeer: peer } as unknown as Connection)
    const channel = new SwarmChannel(out2, peer, { log })
    let busy = 0
    let twoBusy: () => void = () => {}
    const bothRefused = new Promise<void>(resolve => { twoBusy = resolve })
    const answers = Array.from({ length: 6 }, async () => {
      const answer = await channel.request(deleteAll(), 5_000)
      if (answer.status === SwarmPeerStatus.BUSY && ++busy === 2) twoBusy()
      return answer
    })
    // four running and two refused before any finishes (events, not the clock)
    await fourStarted
    await bothRefused
    release()
    const statuses = (await Promise.all(answers)).map(a => a.status)
    expect(statuses.filter(s => s === SwarmPeerStatus.OK)).to.have.length(4)
    expect(statuses.filter(s => s === SwarmPeerStatus.BUSY)).to.have.length(2)
    out2.abort(new Error('done'))
    in2.abort(new Error('done'))
  })

  it('answers UNAUTHORIZED to a peer whose record is not a member\'s, and RATE_LIMITED over budget', async () => {
    const channel = new SwarmChannel(outbound, peer, { log })
    standing = 'refused'
    expect((await channel.request(deleteAll(), 5_000)).status).to.equal(SwarmPeerStatus.UNAUTHORIZED)
    expect(violations).to.deep.equal(['unauthorized'])
    standing = 'member'
    allowed = false
    expect((await channel.request(deleteAll(), 5_000)).status).to.equal(SwarmPeerStatus.RATE_LIMITED)
  })

  it('refuses a peer it holds no record of without penalising it, charges it, and asks to catch up', async () => {
    // a member that just restarted, or missed a record, must not ban the honest peers writing to it
    const channel = new SwarmChannel(outbound, peer, { log })
    standing = 'unknown'
    const record = createRecord({ mailbox, namespace: 0, timestamp: T0, ttlMs: 60_000, data: Uint8Array.of(1) })
    for (let i = 0; i < 20; i++) {
      expect((await channel.request({ op: SwarmOp.PUT, record }, 5_000)).status).to.equal(SwarmPeerStatus.UNAUTHORIZED)
    }
    expect(violations).to.deep.equal([])
    expect(charged).to.equal(20)
    expect(unknownPeers).to.have.length(20)
    expect(new Set(unknownPeers)).to.deep.equal(new Set([peer.toString()]))
    expect(await store.has(mailbox, record.hash), 'nothing stored for an unknown peer').to.equal(false)
    standing = 'member'
    expect((await channel.request({ op: SwarmOp.PUT, record }, 5_000)).status).to.equal(SwarmPeerStatus.OK)
  })

  it('answers BAD_REQUEST to a malformed body and keeps serving the stream', async () => {
    const channel = new SwarmChannel(outbound, peer, { log })
    // a hand-made DELETE_ALL with a truncated mailbox, then a good request on the same stream
    const bad = encodeRequestMessage(77, deleteAll()).subarray(0, 20)
    const answers: Uint8Array[] = []
    outbound.addEventListener('message', (evt) => { answers.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()) })
    outbound.send(encodeFrame(bad))
    expect((await channel.request(deleteAll(), 5_000)).status).to.equal(SwarmPeerStatus.OK)
    expect(violations).to.deep.equal(['malformed'])
    const all = Buffer.concat(answers)
    // the first answer on the wire (length u32 | version | type | id u32 | status) is BAD_REQUEST for id 77
    expect(all.readUInt32BE(6)).to.equal(77)
    expect(all[10]).to.equal(SwarmPeerStatus.BAD_REQUEST)
  })

  it('closes the stream on a frame whose header is garbage, failing what is in flight', async () => {
    let closedChannel: () => void = () => {}
    const channelClosed = new Promise<void>(resolve => { closedChannel = resolve })
    const channel = new SwarmChannel(outbound, peer, { log, maxInflight: 8, onClose: () => { closedChannel() } })
    const pending = channel.request(get(10), 5_000)
    outbound.send(encodeFrame(Uint8Array.of(9, 9, 9)))
    const err = await pending.then(() => undefined, (e: unknown) => e)
    // either the GET was answered before the garbage arrived, or it failed with the close
    if (err !== undefined) expect(err).to.be.instanceOf(SwarmChannelClosedError)
    await channelClosed
    expect(violations).to.include('malformed')
    expect(channel.isOpen).to.equal(false)
  })

  it('times a request out when no answer comes, and bounds what waits for a slot', async () => {
    const [silentOut, silentIn] = await streamPair()
    silentIn.addEventListener('message', () => {})
    const clock = install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const channel = new SwarmChannel(silentOut, peer, { log, maxInflight: 1, maxQueued: 1, now: () => Date.now() })
      const first = channel.request(deleteAll(), 200).catch(e => e)
      const second = channel.request(deleteAll(), 200).catch(e => e)
      const third = channel.request(deleteAll(), 200)
      expect((await third.catch(e => e)).name).to.equal('SwarmBusyError')
      await clock.tickAsync(199)
      expect(channel.inflight, 'in flight until its deadline').to.equal(1)
      await clock.tickAsync(2)
      expect(await first).to.be.instanceOf(SwarmRequestTimeoutError)
      expect(await second).to.be.instanceOf(SwarmRequestTimeoutError)
    } finally {
      clock.uninstall()
    }
    silentOut.abort(new Error('done'))
    silentIn.abort(new Error('done'))
  })
})
