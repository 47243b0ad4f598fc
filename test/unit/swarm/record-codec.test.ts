import { createHash, randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { GhostnodeError } from '../../../src/errors.js'
import {
  InvalidRecordError, MalformedStoredRecordError, RecordHashMismatchError, UnsupportedRecordVersionError
} from '../../../src/swarm/store/errors.js'
import {
  RECORD_HEADER_BYTES, checkRecordHash, createRecord, decodeRecord, encodeRecord, recordHash, type SwarmRecord
} from '../../../src/swarm/record-codec.js'

function sample (over: Partial<{ namespace: number, timestamp: number, data: Uint8Array }> = {}): SwarmRecord {
  return createRecord({
    mailbox: new Uint8Array(32).fill(0xab),
    namespace: over.namespace ?? 3,
    timestamp: over.timestamp ?? 1_700_000_000_123,
    ttlMs: 60_000,
    data: over.data ?? Buffer.from('hello swarm')
  })
}

describe('swarm/record-codec', () => {
  it('round-trips every field, including negative namespaces and empty data', () => {
    for (const r of [sample(), sample({ namespace: -32768, data: new Uint8Array(0) }), sample({ namespace: 32767, timestamp: 2 ** 53 - 60_001 })]) {
      const bytes = encodeRecord(r)
      expect(bytes.byteLength).to.equal(RECORD_HEADER_BYTES + r.data.byteLength)
      const back = decodeRecord(bytes)
      expect(back.namespace).to.equal(r.namespace)
      expect(back.timestamp).to.equal(r.timestamp)
      expect(back.expiry).to.equal(r.expiry)
      expect(Buffer.from(back.mailbox).equals(r.mailbox)).to.equal(true)
      expect(Buffer.from(back.hash).equals(r.hash)).to.equal(true)
      expect(Buffer.from(back.data).equals(r.data)).to.equal(true)
    }
  })

  it('hashes mailbox || int16be namespace || data with SHA-256', () => {
    const mailbox = new Uint8Array(32).fill(1)
    const data = Buffer.from('payload')
    const expected = createHash('sha256').update(mailbox).update(Buffer.from([0xff, 0xfe])).update(data).digest()
    expect(Buffer.from(recordHash(mailbox, -2, data)).equals(expected)).to.equal(true)
  })

  it('detects a hash that does not match the content', () => {
    const r = sample()
    expect(() => { checkRecordHash(r) }).to.not.throw()
    expect(() => { checkRecordHash({ ...r, data: Buffer.from('hello swarM') }) }).to.throw(RecordHashMismatchError)
    expect(() => { checkRecordHash({ ...r, namespace: 4 }) }).to.throw(RecordHashMismatchError)
  })

  it('throws typed errors on truncated, oversized and foreign-version input', () => {
    const good = Buffer.from(encodeRecord(sample()))
    expect(() => decodeRecord(new Uint8Array(0))).to.throw(MalformedStoredRecordError)
    expect(() => decodeRecord(good.subarray(0, 40))).to.throw(MalformedStoredRecordError)
    expect(() => decodeRecord(good.subarray(0, good.length - 1))).to.throw(MalformedStoredRecordError)
    expect(() => decodeRecord(Buffer.concat([good, Buffer.from([0])]))).to.throw(MalformedStoredRecordError)
    const v2 = Buffer.from(good)
    v2[0] = 2
    expect(() => decodeRecord(v2)).to.throw(UnsupportedRecordVersionError).with.property('version', 2)
    const huge = Buffer.from(good)
    huge.writeUInt32BE(0xffffffff, 35)
    expect(() => decodeRecord(huge)).to.throw(MalformedStoredRecordError, /timestamp/)
  })

  it('never throws anything but a typed error on random garbage', () => {
    for (let i = 0; i < 2000; i++) {
      const junk = randomBytes(i % 200)
      if (i % 2 === 0 && junk.length > 0) junk[0] = 1
      try {
        decodeRecord(junk)
      } catch (err) {
        expect(err).to.be.instanceOf(GhostnodeError)
      }
    }
  })

  it('refuses to encode a record with a wrong-length mailbox or out-of-range namespace', () => {
    expect(() => encodeRecord({ ...sample(), mailbox: new Uint8Array(31) })).to.throw(InvalidRecordError)
    expect(() => encodeRecord({ ...sample(), namespace: 40_000 })).to.throw(InvalidRecordError)
    expect(() => encodeRecord({ ...sample(), expiry: -1 })).to.throw(InvalidRecordError)
    expect(() => encodeRecord({ ...sample(), hash: new Uint8Array(16) })).to.throw(InvalidRecordError)
  })
})
