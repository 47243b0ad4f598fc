import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import { generateX25519, x25519 } from '../../../src/crypto/x25519.js'
import { LowOrderPointError } from '../../../src/crypto/errors.js'
import { GhostnodeError } from '../../../src/errors.js'
import {
  ALL_CAPABILITIES, Capability, MAX_NODE_RECORD_ADDRS, MAX_NODE_RECORD_BYTES, assembleNodeRecord, createNodeRecord, decodeNodeRecord,
  encodeNodeRecordBody, hasCapability, nodeRecordSigningMessage, ownRecordAddrs, type NodeRecordFields
} from '../../../src/directory/node-record.js'
import { nodeRecordDhtKey, nodeRecordDhtSelector, nodeRecordDhtValidators, NODE_RECORD_DHT_NAMESPACE } from '../../../src/directory/record-dht.js'
import {
  InvalidRecordFieldError, MalformedRecordError, NodeRecordError, RecordEpochError, RecordExpiredError, RecordFarFutureError, RecordLowOrderKeyError,
  RecordSignatureError, RecordTooLargeError, RecordWrongSignerError, UnsupportedRecordFormatError, type RecordRejectReason
} from '../../../src/directory/record-errors.js'
import { recordRejectionMetric } from '../../../src/directory/record-metrics.js'
import { DEFAULT_RECORD_MAX_VALIDITY_MS, NodeRecordVerifier, isLowOrderX25519Key } from '../../../src/directory/record-verifier.js'
import { DEFAULT_ONION_EPOCH_MS, DEFAULT_ONION_GRACE_MS } from '../../../src/wire/onion-format.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import type { Ed25519PrivateKey } from '@libp2p/interface'

const HOUR = 3_600_000

describe('node records', () => {
  let alice: Ed25519PrivateKey
  let bob: Ed25519PrivateKey
  let clock: FakeClock
  let registry: Registry
  let verifier: NodeRecordVerifier

  function fields (overrides: Partial<NodeRecordFields> = {}): NodeRecordFields {
    return {
      addrs: [multiaddr('/ip4/10.1.2.3/tcp/7400'), multiaddr('/ip6/2001:db8::1/tcp/7401/ws')],
      onionKey: generateX25519().publicKey,
      epoch: Math.floor(clock.now() / DEFAULT_ONION_EPOCH_MS),
      validUntil: clock.now() + 2 * HOUR,
      version: 7n,
      capabilities: Capability.RELAY | Capability.EXIT,
      ...overrides
    }
  }

  async function expectRejected (bytes: Uint8Array, type: new (...args: any[]) => NodeRecordError, reason: RecordRejectReason,
    options: Parameters<NodeRecordVerifier['verify']>[1] = {}): Promise<void> {
    const before = await verifier.rejectedCount(reason)
    try {
      await verifier.verify(bytes, options)
      expect.fail('should have been rejected')
    } catch (err) {
      expect(err).to.be.instanceOf(type)
      expect((err as NodeRecordError).reason).to.equal(reason)
    }
    expect(await verifier.rejectedCount(reason)).to.equal(before + 1)
  }

  before(async () => {
    alice = await generateKeyPair('Ed25519')
    bob = await generateKeyPair('Ed25519')
  })
  beforeEach(() => {
    clock = new FakeClock()
    registry = new Registry()
    verifier = new NodeRecordVerifier({ onReject: recordRejectionMetric(registry), now: clock.now, epochMs: DEFAULT_ONION_EPOCH_MS })
  })

  it('round-trips a signed record', async () => {
    const f = fields()
    const record = await createNodeRecord(alice, f)
    const verified = await verifier.verify(record.bytes)
    expect(verified.peerId.equals(peerIdFromPrivateKey(alice))).to.equal(true)
    expect(verified.addrs.map(a => a.toString())).to.deep.equal(['/ip4/10.1.2.3/tcp/7400', '/ip6/2001:db8::1/tcp/7401/ws'])
    expect(verified.onionKey).to.deep.equal(f.onionKey)
    expect(verified.epoch).to.equal(19_675)
    expect(verified.validUntil).to.equal(f.validUntil)
    expect(verified.version).to.equal(7n)
    expect(hasCapability(verified, Capability.EXIT)).to.equal(true)
    expect(hasCapability(verified, Capability.SWARM)).to.equal(false)
    expect(verified.bytes).to.deep.equal(record.bytes)
  })

  it('encodes deterministically', async () => {
    const f = fields()
    const a = encodeNodeRecordBody(alice.publicKey.raw, f)
    const b = encodeNodeRecordBody(alice.publicKey.raw, { ...f, addrs: f.addrs.map(x => multiaddr(x.toString())) })
    expect(a).to.deep.equal(b)
    expect(a[0]).to.equal(1)
  })

  it('carries unknown capability bits through unchanged', async () => {
    const capabilities = (0x80000000 | ALL_CAPABILITIES) >>> 0
    const record = decodeNodeRecord((await createNodeRecord(alice, fields({ capabilities }))).bytes)
    expect(record.capabilities).to.equal(capabilities)
    expect(hasCapability(record, Capability.SWARM)).to.equal(true)
  })

  it('rejects a record with a bad signature', async () => {
    const bytes = (await createNodeRecord(alice, fields())).bytes
    bytes[bytes.length - 1] ^= 0x01
    await expectRejected(bytes, RecordSignatureError, 'bad_signature')
  })

  it('rejects a record whose body was changed after signing', async () => {
    const bytes = (await createNodeRecord(alice, fields())).bytes
    bytes[40] ^= 0x80 // inside the onion key
    await expectRejected(bytes, RecordSignatureError, 'bad_signature')
  })

  it('rejects a record signed by another key than the one it names', async () => {
    const body = encodeNodeRecordBody(alice.publicKey.raw, fields())
    const forged = assembleNodeRecord(body, await bob.sign(nodeRecordSigningMessage(body)))
    await expectRejected(forged, RecordSignatureError, 'bad_signature')
  })

  it('rejects a valid record of another peer than the expected one', async () => {
    const record = await createNodeRecord(alice, fields())
    await expectRejected(record.bytes, RecordWrongSignerError, 'wrong_signer', { expectedPeer: peerIdFromPrivateKey(bob) })
  })

  it('rejects an expired record', async () => {
    const record = await createNodeRecord(alice, fields({ validUntil: clock.now() + 1000 }))
    clock.advance(1000)
    await expectRejected(record.bytes, RecordExpiredError, 'expired')
  })

  it('rejects a record valid for implausibly long', async () => {
    // at the start of an epoch a record may be valid for the whole epoch, its grace and the clock skew
    const epoch = Math.floor(clock.now() / DEFAULT_ONION_EPOCH_MS) + 1
    clock.advance(epoch * DEFAULT_ONION_EPOCH_MS - clock.now())
    const ok = await createNodeRecord(alice, fields({ epoch, validUntil: clock.now() + DEFAULT_RECORD_MAX_VALIDITY_MS }))
    await verifier.verify(ok.bytes)
    const far = await createNodeRecord(alice, fields({ epoch, validUntil: clock.now() + DEFAULT_RECORD_MAX_VALIDITY_MS + 1 }))
    await expectRejected(far.bytes, RecordFarFutureError, 'far_future')
  })

  it('rejects a record whose epoch does not match its validity', async () => {
    const epoch = Math.floor(clock.now() / DEFAULT_ONION_EPOCH_MS)
    // an old epoch's key kept in use by a long validity
    const stale = await createNodeRecord(alice, fields({ epoch: epoch - 2, validUntil: clock.now() + HOUR }))
    await expectRejected(stale.bytes, RecordEpochError, 'bad_epoch')
    // an epoch that has not started
    const early = await createNodeRecord(alice, fields({ epoch: epoch + 2, validUntil: clock.now() + HOUR }))
    await expectRejected(early.bytes, RecordEpochError, 'bad_epoch')
    // the previous epoch's key within its grace is fine while the record says so
    const previous = await createNodeRecord(alice, fields({ epoch: epoch - 1, validUntil: epoch * DEFAULT_ONION_EPOCH_MS + DEFAULT_ONION_GRACE_MS }))
    if (previous.validUntil > clock.now()) await verifier.verify(previous.bytes)
    await verifier.verify((await createNodeRecord(alice, fields({ epoch }))).bytes)
  })

  it('rejects an all-zero onion key', async () => {
    const record = await createNodeRecord(alice, fields({ onionKey: new Uint8Array(32) }))
    await expectRejected(record.bytes, RecordLowOrderKeyError, 'low_order_key')
  })

  it('lists only points that really have small order', () => {
    const points = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
    ].map(h => new Uint8Array(Buffer.from(h, 'hex')))
    const { privateKey } = generateX25519()
    for (const p of points) {
      expect(isLowOrderX25519Key(p)).to.equal(true)
      const high = p.slice()
      high[31] |= 0x80 // X25519 ignores bit 255
      expect(isLowOrderX25519Key(high)).to.equal(true)
      expect(() => x25519(privateKey, p)).to.throw(LowOrderPointError)
    }
    expect(isLowOrderX25519Key(generateX25519().publicKey)).to.equal(false)
  })

  it('rejects every truncation of a record with a typed error', async () => {
    const bytes = (await createNodeRecord(alice, fields())).bytes
    for (let n = 0; n < bytes.length; n++) {
      try {
        decodeNodeRecord(bytes.subarray(0, n))
        expect.fail(`a ${n}-byte prefix decoded`)
      } catch (err) {
        expect(err, `prefix ${n}`).to.be.instanceOf(NodeRecordError)
      }
    }
    await expectRejected(bytes.subarray(0, bytes.length - 1), MalformedRecordError, 'malformed')
  })

  it('rejects garbage, trailing bytes, oversized input and unknown formats with typed errors', async () => {
    let seed = 42
    const next = (): number => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 24 }
    for (let i = 0; i < 500; i++) {
      const garbage = Uint8Array.from({ length: next() * 2 }, () => next())
      garbage[0] = 1
      try {
        decodeNodeRecord(garbage)
      } catch (err) {
        expect(err).to.be.instanceOf(GhostnodeError)
      }
    }
    const bytes = (await createNodeRecord(alice, fields())).bytes
    await expectRejected(Uint8Array.of(...bytes, 0), MalformedRecordError, 'malformed')
    await expectRejected(new Uint8Array(MAX_NODE_RECORD_BYTES + 1).fill(1), RecordTooLargeError, 'too_large')
    const v2 = bytes.slice()
    v2[0] = 2
    await expectRejected(v2, UnsupportedRecordFormatError, 'unsupported_format')
  })

  it('rejects an address count above the limit', async () => {
    const bytes = (await createNodeRecord(alice, fields({ addrs: [] }))).bytes
    bytes[89] = MAX_NODE_RECORD_ADDRS + 1 // the address count byte
    await expectRejected(bytes, MalformedRecordError, 'malformed')
  })

  it('refuses to encode out-of-range fields', () => {
    const many = Array.from({ length: MAX_NODE_RECORD_ADDRS + 1 }, (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/1`))
    expect(() => encodeNodeRecordBody(alice.publicKey.raw, fields({ addrs: many }))).to.throw(InvalidRecordFieldError)
    expect(() => encodeNodeRecordBody(alice.publicKey.raw, fields({ epoch: -1 }))).to.throw(InvalidRecordFieldError)
    expect(() => encodeNodeRecordBody(alice.publicKey.raw, fields({ version: 1n << 64n }))).to.throw(InvalidRecordFieldError)
    expect(() => encodeNodeRecordBody(alice.publicKey.raw, fields({ onionKey: new Uint8Array(31) }))).to.throw(InvalidRecordFieldError)
  })

  it('publishes its own addresses without the /p2p suffix, deduplicated and capped', () => {
    const self = peerIdFromPrivateKey(alice).toString()
    const addrs = [
      multiaddr(`/ip4/127.0.0.1/tcp/1/p2p/${self}`),
      multiaddr('/ip4/127.0.0.1/tcp/1'),
      ...Array.from({ length: 20 }, (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/1`))
    ]
    const out = ownRecordAddrs(addrs).map(a => a.toString())
    expect(out).to.have.length(MAX_NODE_RECORD_ADDRS)
    expect(out[0]).to.equal('/ip4/127.0.0.1/tcp/1')
    expect(new Set(out).size).to.equal(out.length)
  })

  it('exports every rejection reason as a metric series', async () => {
    const text = await registry.metrics()
    expect(text).to.contain('ghostnode_directory_records_rejected_total{reason="bad_signature"} 0')
    expect(text).to.contain('ghostnode_directory_records_rejected_total{reason="capacity"} 0')
  })

  describe('in the DHT', () => {
    it('accepts the record of the peer its key names', async () => {
      const record = await createNodeRecord(alice, fields())
      const validate = nodeRecordDhtValidators(verifier)[NODE_RECORD_DHT_NAMESPACE]
      await validate(nodeRecordDhtKey(peerIdFromPrivateKey(alice)), record.bytes)
    })

    it('rejects a record stored under another peer\'s key', async () => {
      const record = await createNodeRecord(alice, fields())
      const validate = nodeRecordDhtValidators(verifier)[NODE_RECORD_DHT_NAMESPACE]
      try {
        await validate(nodeRecordDhtKey(peerIdFromPrivateKey(bob)), record.bytes)
        expect.fail('should have been rejected')
      } catch (err) {
        expect(err).to.be.instanceOf(RecordWrongSignerError)
      }
      try {
        await validate(new TextEncoder().encode(`/${NODE_RECORD_DHT_NAMESPACE}/not-a-peer`), record.bytes)
        expect.fail('should have been rejected')
      } catch (err) {
        expect(err).to.be.instanceOf(MalformedRecordError)
      }
    })

    it('selects the highest version', async () => {
      const older = await createNodeRecord(alice, fields({ version: 5n }))
      const newer = await createNodeRecord(alice, fields({ version: 6n }))
      const key = nodeRecordDhtKey(peerIdFromPrivateKey(alice))
      expect(await nodeRecordDhtSelector(key, [older.bytes, new Uint8Array(3), newer.bytes])).to.equal(2)
      expect(await nodeRecordDhtSelector(key, [newer.bytes, older.bytes])).to.equal(0)
    })
  })
})
