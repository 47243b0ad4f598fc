import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'chai'
import { generateX25519 } from '../../../src/crypto/x25519.js'
import { createNodeRecord, type VerifiedNodeRecord } from '../../../src/directory/node-record.js'
import { DirectoryRequestKind, DirectoryStatus, NO_CURSOR, decodeChangesHeader, decodeRequest, encodeChangesHeader, encodeRequest } from '../../../src/directory/protocol.js'
import { RecordStore } from '../../../src/directory/record-store.js'
import { DirectoryProtocolError } from '../../../src/directory/record-errors.js'

async function recordOf (key: Awaited<ReturnType<typeof generateKeyPair>>, version: bigint): Promise<VerifiedNodeRecord> {
  return createNodeRecord(key, { addrs: [], onionKey: generateX25519().publicKey, epoch: 1, validUntil: 10_000, version, capabilities: 0 })
}

describe('directory change log (CHANGES)', () => {
  it('gives everything to a new asker, then only what was added or updated, in change order', async () => {
    const store = new RecordStore()
    const keys = await Promise.all([0, 1, 2, 3].map(async () => generateKeyPair('Ed25519')))
    for (const k of keys.slice(0, 3)) store.offer(await recordOf(k, 1n))
    const all = store.changedSince(undefined, 1 << 20)
    expect(all.records).to.have.length(3)
    expect(store.changedSince(all.cursor, 1 << 20).records).to.deep.equal([])

    const updated = await recordOf(keys[1], 2n)
    const added = await recordOf(keys[3], 1n)
    store.offer(updated)
    store.offer(added)
    store.offer(await recordOf(keys[0], 1n)) // stale: not a change
    const next = store.changedSince(all.cursor, 1 << 20)
    expect(next.records).to.deep.equal([updated.bytes, added.bytes])
    expect(next.cursor.seq).to.be.greaterThan(all.cursor.seq)
  })

  it('answers a cursor of another epoch (the responder restarted) or from the future with everything', async () => {
    const store = new RecordStore()
    const key = await generateKeyPair('Ed25519')
    store.offer(await recordOf(key, 1n))
    const restarted = new RecordStore()
    restarted.offer(await recordOf(key, 1n))
    const cursor = store.changedSince(undefined, 1 << 20).cursor
    expect(restarted.changedSince(cursor, 1 << 20).records).to.have.length(1)
    expect(store.changedSince({ epoch: store.epoch, seq: cursor.seq + 100 }, 1 << 20).records).to.have.length(1)
    expect(store.changedSince(NO_CURSOR, 1 << 20).records).to.have.length(1)
  })

  it('stops before the byte bound and resumes where it stopped, losing nothing', async () => {
    const store = new RecordStore()
    const records: VerifiedNodeRecord[] = []
    for (let i = 0; i < 10; i++) {
      const r = await recordOf(await generateKeyPair('Ed25519'), 1n)
      records.push(r)
      store.offer(r)
    }
    const per = records[0].bytes.byteLength + 4
    const got: Uint8Array[] = []
    let cursor = NO_CURSOR
    for (let rounds = 0; rounds < 10 && got.length < 10; rounds++) {
      const page = store.changedSince(cursor, 3 * per + 2)
      expect(page.records.length).to.be.at.most(3)
      got.push(...page.records)
      cursor = page.cursor
    }
    expect(got).to.deep.equal(records.map(r => r.bytes))
  })

  it('leaves a record out when the filter says so (an unadmitted own record) without stopping there', async () => {
    const store = new RecordStore()
    const [k1, k2] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
    const r1 = await recordOf(k1, 1n)
    const r2 = await recordOf(k2, 1n)
    store.offer(r1)
    store.offer(r2)
    const page = store.changedSince(undefined, 1 << 20, r => !r.peerId.equals(r1.peerId))
    expect(page.records).to.deep.equal([r2.bytes])
    expect(store.changedSince(page.cursor, 1 << 20).records).to.deep.equal([])
  })

  it('encodes the request and reply cursor, and refuses malformed ones', () => {
    const cursor = { epoch: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), seq: 2 ** 40 + 7 }
    const req = decodeRequest(encodeRequest({ kind: DirectoryRequestKind.CHANGES, since: cursor }))
    expect(req).to.deep.equal({ kind: DirectoryRequestKind.CHANGES, since: cursor })
    expect(decodeChangesHeader(encodeChangesHeader(DirectoryStatus.OK, 5, cursor))).to.deep.equal({ status: DirectoryStatus.OK, count: 5, cursor })
    const short = encodeRequest({ kind: DirectoryRequestKind.CHANGES, since: cursor }).subarray(0, 10)
    expect(() => decodeRequest(short)).to.throw(DirectoryProtocolError)
    const huge = encodeRequest({ kind: DirectoryRequestKind.CHANGES, since: cursor })
    huge[10] = 0xff // seq's high word past 2^53
    expect(() => decodeRequest(huge)).to.throw(DirectoryProtocolError)
  })
})
