import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { lpStream } from '@libp2p/utils'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import { createLibp2p, type Libp2p } from 'libp2p'
import { generateX25519 } from '../../src/crypto/x25519.js'
import { directoryService, type DirectoryInit, type DirectoryService } from '../../src/directory/directory.js'
import {
  DIRECTORY_PROTOCOL, DirectoryRequestKind, DirectoryStatus, NO_CURSOR, decodeRequest, decodeStatus, encodeChangesHeader, encodeGetHeader, encodeRequest, encodeStatus
} from '../../src/directory/protocol.js'
import {
  ALL_CAPABILITIES, assembleNodeRecord, createNodeRecord, decodeNodeRecord, encodeNodeRecordBody, nodeRecordSigningMessage,
  type VerifiedNodeRecord
} from '../../src/directory/node-record.js'
import { onionKeyManager, type OnionKeyManager } from '../../src/onion/onion-keys.js'
import { nodeRecordDhtKey, nodeRecordDhtSelectors, nodeRecordDhtValidators } from '../../src/directory/record-dht.js'
import { DirectoryRateLimitedError, DirectoryResponseTooLargeError, UnadmittedRecordError, type RecordRejectReason } from '../../src/directory/record-errors.js'
import { RecordStore } from '../../src/directory/record-store.js'
import { NodeRecordVerifier } from '../../src/directory/record-verifier.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import { TestAuthority, testMembership } from '../helpers/membership.js'
import type { DirectoryMembership } from '../../src/directory/options.js'
import { FakeClock } from '../helpers/fake-clock.js'
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface'

const DAY = 86_400_000

interface Services extends Record<string, unknown> {
  onionKeys: OnionKeyManager
  directory: DirectoryService
  dht?: KadDHT
}
type Node = Libp2p<Services>

type NodeOptions = Omit<DirectoryInit, 'verifier' | 'registry'> & { verifier?: NodeRecordVerifier, dht?: boolean }

describe('directory', function () {
  this.timeout(20_000)
  let dir: string
  let clock: FakeClock
  let nodes: Array<Libp2p<any>> = []
  let counter = 0
  let authority: TestAuthority
  /** Every directory node's membership, so a new document reaches all of them. */
  let memberships: DirectoryMembership[] = []

  /** Signs a document admitting `members` (with the addresses they listen on) and hands it to every node. */
  async function admit (members: Array<Libp2p<any>>): Promise<void> {
    const doc = await authority.document(members.map(m => ({ peerId: m.peerId, addrs: m.getMultiaddrs().map((a: any) => a.decapsulateCode(421)), flags: ALL_CAPABILITIES })), clock.now())
    for (const m of memberships) m.view.accept(doc)
  }

  async function start<T extends Libp2p<any>> (node: T): Promise<T> {
    nodes.push(node)
    await node.start()
    return node
  }

  async function createNode (options: NodeOptions = {}): Promise<Node> {
    const { dht, ...init } = options
    const verifier = init.verifier ?? new NodeRecordVerifier({ now: clock.now })
    const services: Record<string, any> = {
      identify: identify(),
      ping: ping(),
      onionKeys: onionKeyManager({ dataDir: join(dir, `node-${counter++}`), now: clock.now }),
      membership: () => {
        const m = testMembership(authority, clock.now)
        memberships.push(m)
        return m
      },
      directory: directoryService({ now: clock.now, minServeIntervalMs: 0, registry: new Registry(), ...init, verifier })
    }
    if (dht === true) {
      services.dht = kadDHT({
        protocol: '/ghostnode-test/kad/1.0.0',
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        validators: nodeRecordDhtValidators(verifier, (peer) => memberships.some(m => m.view.isMember(peer))),
        selectors: nodeRecordDhtSelectors()
      })
    }
    return start(await createLibp2p({
      start: false,
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services
    }) as unknown as Node)
  }

  /** Resolves when `predicate` holds, re-checked on every directory event of `watched`. */
  async function until (watched: Node[], predicate: () => boolean, what: string, timeoutMs = 8_000): Promise<void> {
    if (predicate()) return
    await new Promise<void>((resolve, reject) => {
      const events = ['record:added', 'record:updated', 'record:expired'] as const
      const check = (): void => {
        if (!predicate()) return
        cleanup()
        resolve()
      }
      const timer = setTimeout(() => { cleanup(); reject(new Error(`timed out waiting for ${what}`)) }, timeoutMs)
      const cleanup = (): void => {
        clearTimeout(timer)
        for (const n of watched) for (const e of events) n.services.directory.removeEventListener(e, check)
      }
      for (const n of watched) for (const e of events) n.services.directory.addEventListener(e, check)
    })
  }

  function knows (n: Node, peers: Node[]): boolean {
    return peers.every(p => n.services.directory.get(p.peerId) != null)
  }

  beforeEach(async () => {
    dir = await makeTempDir()
    clock = new FakeClock(Date.now())
    authority = await TestAuthority.create()
  })
  afterEach(async () => {
    await Promise.all(nodes.map(async n => n.stop()))
    nodes = []
    memberships = []
    await removeTempDir(dir)
  })

  it('exchanges records so each of three nodes knows all three', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(async () => createNode({ fetchIntervalMs: 200 })))
    await admit([a, b, c])
    // a star: b and c meet only through a, so one of them learns the other by a periodic fetch
    await b.dial(a.getMultiaddrs()[0])
    await c.dial(a.getMultiaddrs()[0])
    const all = [a, b, c]
    // the first record may predate listening; the address change republishes it
    const complete = (viewer: Node, n: Node): boolean => (viewer.services.directory.get(n.peerId)?.addrs.length ?? 0) > 0
    await until(all, () => all.every(v => all.every(n => complete(v, n))), 'every node to know all three with addresses')

    for (const viewer of all) {
      for (const n of all) {
        const record = viewer.services.directory.get(n.peerId)
        expect(record?.onionKey).to.deep.equal(n.services.onionKeys.current().publicKey)
        expect(record?.capabilities).to.equal(ALL_CAPABILITIES)
        const tcpAddr = n.getMultiaddrs()[0].decapsulateCode(421).toString()
        expect(record?.addrs.map(x => x.toString())).to.include(tcpAddr)
      }
    }
  })

  it('republishes its record on key rotation', async () => {
    const [a, b] = await Promise.all([createNode(), createNode()])
    await admit([a, b])
    await b.dial(a.getMultiaddrs()[0])
    await until([a, b], () => knows(a, [b]) && knows(b, [a]), 'a and b to know each other')
    const before = b.services.directory.get(a.peerId)

    clock.advance(DAY)
    await a.services.onionKeys.rotateIfDue()
    await until([b], () => b.services.directory.get(a.peerId)?.epoch === before!.epoch + 1, 'the rotated record')

    const after = b.services.directory.get(a.peerId)!
    expect(after.version > before!.version).to.equal(true)
    expect(after.onionKey).to.deep.equal(a.services.onionKeys.current().publicKey)
    expect(after.onionKey).not.to.deep.equal(before!.onionKey)
  })

  describe('with a hostile peer', () => {
    let evilKey: PrivateKey
    let evil: Libp2p
    let reply: (stream: Stream, request: ReturnType<typeof decodeRequest>) => Promise<void>

    beforeEach(async () => {
      evilKey = await generateKeyPair('Ed25519')
      evil = await start(await createLibp2p({
        start: false,
        privateKey: evilKey,
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify() }
      }))
      reply = async (stream) => { await stream.close() }
      await evil.handle(DIRECTORY_PROTOCOL, async (stream) => {
        const lp = lpStream(stream)
        await reply(stream, decodeRequest((await lp.read()).subarray()))
      })
    })

    /** A reply header of the shape the request asks for (GET or CHANGES), announcing `count` records. */
    const headerFor = (request: ReturnType<typeof decodeRequest>, count: number): Uint8Array =>
      request.kind === DirectoryRequestKind.CHANGES ? encodeChangesHeader(DirectoryStatus.OK, count, NO_CURSOR) : encodeGetHeader(DirectoryStatus.OK, count)

    async function serve (stream: Stream, header: Uint8Array, records: Uint8Array[]): Promise<void> {
      const lp = lpStream(stream)
      await lp.write(header)
      for (const r of records) await lp.write(r)
      await stream.close()
    }

    /** The attacker's own record, as a node publishes it: valid to the end of its onion key's epoch plus an hour of grace. */
    async function evilOwnRecord (): Promise<VerifiedNodeRecord> {
      return createNodeRecord(evilKey, {
        addrs: evil.getMultiaddrs().map(m => m.decapsulateCode(421)),
        onionKey: generateX25519().publicKey,
        epoch: Math.floor(clock.now() / DAY),
        validUntil: (Math.floor(clock.now() / DAY) + 1) * DAY + 3_600_000,
        version: 1n,
        capabilities: ALL_CAPABILITIES
      })
    }

    async function push (from: Libp2p, to: PeerId, record: Uint8Array): Promise<number> {
      const stream = await from.dialProtocol(to, DIRECTORY_PROTOCOL)
      const lp = lpStream(stream)
      await lp.write(encodeRequest({ kind: DirectoryRequestKind.PUSH, record }))
      const status = decodeStatus((await lp.read()).subarray())
      await stream.close()
      return status
    }

    it('rejects a forged record served by a peer and reports the peer', async () => {
      const invalid: Array<[string, RecordRejectReason]> = []
      const a = await createNode({ onInvalidRecord: (peer, reason) => invalid.push([peer.toString(), reason]) })
      const b = await createNode()
      await admit([a, b])
      await b.dial(a.getMultiaddrs()[0])
      await until([a], () => knows(a, [b]), 'a to know b')
      const genuine = a.services.directory.get(b.peerId)!

      // b's identity, the attacker's onion key and a higher version, signed by the attacker
      const body = encodeNodeRecordBody(genuine.identityKey, { ...genuine, onionKey: generateX25519().publicKey, version: genuine.version + 1n })
      const forged = assembleNodeRecord(body, await evilKey.sign(nodeRecordSigningMessage(body)))
      const served = new Promise<void>(resolve => {
        reply = async (stream, request) => { await serve(stream, headerFor(request, 1), [forged]); resolve() }
      })
      await evil.dial(a.getMultiaddrs()[0])
      await served // a fetched from evil on identify
      const result = await a.services.directory.fetchFrom(evil.peerId)
      expect(result).to.deep.include({ added: 0, updated: 0, rejected: 1 })
      expect(a.services.directory.get(b.peerId)?.onionKey).to.deep.equal(genuine.onionKey)
      expect(await a.services.directory.verifier.rejectedCount('bad_signature')).to.be.at.least(1)
      expect(invalid).to.deep.include([evil.peerId.toString(), 'bad_signature'])
    })

    it('accepts a peer\'s push of its own record and refuses a push of anyone else\'s', async () => {
      const a = await createNode()
      const b = await createNode()
      await admit([a, b, evil])
      await b.dial(a.getMultiaddrs()[0])
      await until([a], () => knows(a, [b]), 'a to know b')
      await evil.dial(a.getMultiaddrs()[0])

      const own = await evilOwnRecord()
      expect(await push(evil, a.peerId, own.bytes)).to.equal(DirectoryStatus.OK)
      expect(a.services.directory.get(evil.peerId)?.version).to.equal(1n)

      // b's genuine record with a newer version cannot be faked, and a genuine one is not evil's to push
      const before = await a.services.directory.verifier.rejectedCount('wrong_signer')
      const bRecord = (await b.services.directory.publish()).bytes
      expect(await push(evil, a.peerId, bRecord)).to.equal(DirectoryStatus.REJECTED)
      expect(await a.services.directory.verifier.rejectedCount('wrong_signer')).to.equal(before + 1)
    })

    it('asks a peer that does not know CHANGES with GET', async () => {
      const a = await createNode()
      await admit([a, evil])
      const own = await evilOwnRecord()
      const kinds: number[] = []
      // an older node: CHANGES is an unknown kind to it
      reply = async (stream, request) => {
        kinds.push(request.kind)
        if (request.kind === DirectoryRequestKind.CHANGES) {
          await lpStream(stream).write(encodeStatus(DirectoryStatus.BAD_REQUEST))
          await stream.close()
        } else await serve(stream, encodeGetHeader(DirectoryStatus.OK, 1), [own.bytes])
      }
      const identified = new Promise(resolve => { a.addEventListener('peer:identify', resolve, { once: true }) })
      await evil.dial(a.getMultiaddrs()[0])
      await identified
      const result = await a.services.directory.fetchFrom(evil.peerId)
      expect(result.incremental).to.equal(false)
      expect(result.added + result.stale).to.equal(1)
      expect(a.services.directory.get(evil.peerId)?.version).to.equal(1n)
      expect(kinds).to.include.members([DirectoryRequestKind.CHANGES, DirectoryRequestKind.GET])
    })

    it('refuses a reply announcing more records than it accepts', async () => {
      const a = await createNode({ maxRecords: 10 })
      reply = async (stream, request) => { await serve(stream, headerFor(request, 1_000_000), []) }
      const identified = new Promise(resolve => { a.addEventListener('peer:identify', resolve, { once: true }) })
      await evil.dial(a.getMultiaddrs()[0])
      await identified // the responder's side of the connection is up too
      try {
        await a.services.directory.fetchFrom(evil.peerId)
        expect.fail('should have refused')
      } catch (err) {
        expect(err).to.be.instanceOf(DirectoryResponseTooLargeError)
      }
    })

    it('aborts an inbound stream that sends nothing before its timeout', async () => {
      const a = await createNode({ streamTimeoutMs: 300 })
      const stream = await evil.dialProtocol(a.getMultiaddrs()[0], DIRECTORY_PROTOCOL)
      const started = Date.now()
      await new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }, { once: true }) })
      expect(Date.now() - started).to.be.lessThan(5_000)
      expect(stream.status).to.not.equal('open')
    })
  })

  it('answers a repeat fetch with only what changed since the asker\'s cursor; a new document asks for everything', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(async () => createNode()))
    await admit([a, b, c])
    await b.dial(a.getMultiaddrs()[0])
    await c.dial(b.getMultiaddrs()[0])
    await until([a, b], () => knows(b, [a, c]) && knows(a, [b]), 'b to know a and c, a to know b')
    const first = await a.services.directory.fetchFrom(b.peerId)
    expect(first.incremental, 'a has fetched from b on identify: this one is incremental').to.equal(true)

    // nothing changed at b: nothing comes
    const idle = await a.services.directory.fetchFrom(b.peerId)
    expect(idle).to.deep.include({ incremental: true, bytes: 0, added: 0, updated: 0, stale: 0 })

    // c signs a new version; b takes it; a's next fetch from b carries that record alone
    const before = b.services.directory.get(c.peerId)!.version
    await c.services.directory.publish()
    await until([b], () => (b.services.directory.get(c.peerId)?.version ?? 0n) > before, 'b to take c\'s new record')
    const changed = await a.services.directory.fetchFrom(b.peerId)
    const cRecord = b.services.directory.get(c.peerId)!
    expect(changed.incremental).to.equal(true)
    expect(changed.added + changed.updated + changed.stale).to.equal(1)
    expect(changed.bytes).to.equal(cRecord.bytes.byteLength)
    expect(a.services.directory.get(c.peerId)?.version).to.equal(cRecord.version)

    // everything, when asked for it (as after a document admitting members a node lacks)
    const full = await a.services.directory.fetchFrom(b.peerId, { full: true })
    expect(full.incremental).to.equal(false)
    expect(full.stale).to.equal(3)
  })

  it('tells a peer that asks again too soon to wait', async () => {
    const a = await createNode({ minServeIntervalMs: 60_000 })
    const b = await createNode({ minServeIntervalMs: 60_000 })
    await admit([a, b])
    await b.dial(a.getMultiaddrs()[0])
    await until([a], () => knows(a, [b]), 'a to fetch from b once') // the fetch on identify
    try {
      await a.services.directory.fetchFrom(b.peerId)
      expect.fail('should have been rate limited')
    } catch (err) {
      expect(err).to.be.instanceOf(DirectoryRateLimitedError)
    }
  })

  it('keeps a peer\'s serve interval when it hangs up and dials again', async () => {
    const a = await createNode({ minServeIntervalMs: 60_000 })
    const b = await createNode({ minServeIntervalMs: 60_000 })
    await admit([a, b])
    await b.dial(a.getMultiaddrs()[0])
    await until([b], () => knows(b, [a]), 'b to fetch from a once') // the fetch on identify
    await b.hangUp(a.peerId)
    await b.dial(a.getMultiaddrs()[0])
    try {
      await b.services.directory.fetchFrom(a.peerId)
      expect.fail('should still have been rate limited')
    } catch (err) {
      expect(err).to.be.instanceOf(DirectoryRateLimitedError)
    }
  })

  it('bounds the number of records it holds', async () => {
    const c = await createNode({ maxRecords: 1 })
    const [a, b] = await Promise.all([createNode(), createNode()])
    await admit([a, b, c])
    await c.dial(a.getMultiaddrs()[0])
    await until([c], () => knows(c, [a]), 'c to take a')
    await c.dial(b.getMultiaddrs()[0])
    const result = await c.services.directory.fetchFrom(b.peerId)
    expect(result.full).to.equal(1) // b's own record
    expect(c.services.directory.get(b.peerId)).to.equal(undefined)
    expect(c.services.directory.size).to.equal(2) // its own record and a's
    expect(await c.services.directory.verifier.rejectedCount('capacity')).to.be.at.least(1)
  })

  it('keeps the newest version per peer and drops expired records', async () => {
    const key = await generateKeyPair('Ed25519')
    const store = new RecordStore(2)
    const make = async (version: bigint, validUntil: number): Promise<VerifiedNodeRecord> =>
      createNodeRecord(key, { addrs: [], onionKey: generateX25519().publicKey, epoch: 1, validUntil, version, capabilities: 0 })
    const v2 = await make(2n, 1000)
    expect(store.offer(await make(1n, 2000)).outcome).to.equal('added')
    expect(store.offer(v2).outcome).to.equal('updated')
    expect(store.offer(await make(2n, 5000)).outcome).to.equal('stale') // same version: first seen wins
    expect(store.offer(await make(1n, 5000)).outcome).to.equal('stale')
    expect(store.get(v2.peerId)?.bytes).to.deep.equal(v2.bytes)
    expect(store.sweep(999)).to.have.length(0)
    expect(store.sweep(1000)).to.have.length(1)
    expect(store.size).to.equal(0)
  })

  it('publishes its record in the DHT under /ghostnode-record/', async () => {
    const [a, b, c] = await Promise.all([1, 2, 3].map(async () => createNode({ dht: true })))
    await admit([a, b, c])
    await b.dial(a.getMultiaddrs()[0])
    await c.dial(a.getMultiaddrs()[0])
    await until([a, b, c], () => knows(a, [b, c]), 'a to know b and c')
    expect(await a.services.directory.publishToDht(true)).to.equal(true)

    const bytes = await c.contentRouting.get(nodeRecordDhtKey(a.peerId), { signal: AbortSignal.timeout(5_000) })
    const record = decodeNodeRecord(bytes)
    expect(record.peerId.equals(a.peerId)).to.equal(true)
    expect(record.version).to.equal(a.services.directory.ownRecord()?.version)
  })
})

describe('directory records in the DHT', () => {
  it('refuses a record of a peer that is not a member before checking its signature', async () => {
    const key = await generateKeyPair('Ed25519')
    const record = await createNodeRecord(key, { addrs: [], onionKey: generateX25519().publicKey, epoch: Math.floor(Date.now() / DAY), validUntil: (Math.floor(Date.now() / DAY) + 1) * DAY, version: 1n, capabilities: ALL_CAPABILITIES })
    const verifier = new NodeRecordVerifier({})
    let member = false
    const validate = nodeRecordDhtValidators(verifier, () => member)['ghostnode-record']
    const dhtKey = nodeRecordDhtKey(record.peerId)
    let refused: unknown
    try { await validate(dhtKey, record.bytes) } catch (err) { refused = err }
    expect(refused).to.be.instanceOf(UnadmittedRecordError)
    expect(await verifier.rejectedCount('unadmitted')).to.equal(1)
    member = true
    await validate(dhtKey, record.bytes)
  })
})
