import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import {
  InvalidCursorError, MailboxFullError, StoredMessageTooLargeError, NodeFullError, StoredRecordExpiredError,
  RecordHashMismatchError, TtlOutOfBoundsError
} from '../../../../src/swarm/store/errors.js'
import { createRecord, type SwarmRecord } from '../../../../src/swarm/record-codec.js'
import { MessageStore, type MessageStoreInit } from '../../../../src/swarm/store/store.js'

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const mailboxA = new Uint8Array(32).fill(0xa1)
const mailboxB = new Uint8Array(32).fill(0xb2)

function rec (i: number, over: { mailbox?: Uint8Array, namespace?: number, timestamp?: number, ttlMs?: number, size?: number } = {}): SwarmRecord {
  const data = Buffer.alloc(over.size ?? 100, i % 251)
  data.writeUInt32BE(i)
  return createRecord({ mailbox: over.mailbox ?? mailboxA, namespace: over.namespace ?? 0, timestamp: over.timestamp ?? T0 + i, ttlMs: over.ttlMs ?? HOUR, data })
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('swarm/store', () => {
  let dir: string
  let clock: number
  let store: MessageStore
  let registry: Registry

  async function openStore (over: Partial<MessageStoreInit> = {}): Promise<MessageStore> {
    const s = new MessageStore({ path: join(dir, 'db'), now: () => clock, registry, ...over })
    await s.open()
    return s
  }

  async function metric (name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = await registry.getSingleMetric(name)?.get()
    return m?.values.find(v => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? NaN
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ghostnode-store-'))
    clock = T0
    registry = new Registry()
    store = await openStore()
  })

  afterEach(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('stores a record and reads it back', async () => {
    const r = rec(1)
    expect(await store.put(r)).to.deep.equal({ stored: true, expiry: r.expiry })
    const page = await store.retrieve(mailboxA, 0, { maxBytes: 1 << 20 })
    expect(page.records).to.have.length(1)
    expect(hex(page.records[0].data)).to.equal(hex(r.data))
    expect(page.nextCursor).to.equal(undefined)
    expect(await store.has(mailboxA, r.hash)).to.equal(true)
    expect(hex((await store.get(mailboxA, r.hash))?.hash ?? new Uint8Array())).to.equal(hex(r.hash))
    expect(store.stats()).to.deep.equal({ records: 1, bytes: 187 })
  })

  it('pages by cursor within a byte budget, in (timestamp, hash) order', async () => {
    const records = Array.from({ length: 10 }, (_, i) => rec(i, { size: 1000, timestamp: T0 + 10 - i }))
    await Promise.all(records.map(async r => store.put(r)))
    const seen: string[] = []
    let cursor: Uint8Array | undefined
    let pages = 0
    do {
      const page = await store.retrieve(mailboxA, 0, { maxBytes: 3000, cursor })
      expect(page.records.length).to.be.at.most(2)
      seen.push(...page.records.map(r => hex(r.hash)))
      cursor = page.nextCursor
      pages++
    } while (cursor !== undefined)
    expect(pages).to.equal(5)
    const expected = [...records].sort((a, b) => a.timestamp - b.timestamp).map(r => hex(r.hash))
    expect(seen).to.deep.equal(expected)
  })

  it('returns a record larger than the budget on its own so paging progresses', async () => {
    await store.put(rec(1, { size: 5000 }))
    await store.put(rec(2, { size: 10 }))
    const first = await store.retrieve(mailboxA, 0, { maxBytes: 100 })
    expect(first.records.map(r => r.data.byteLength)).to.deep.equal([5000])
    const second = await store.retrieve(mailboxA, 0, { maxBytes: 100, cursor: first.nextCursor })
    expect(second.records.map(r => r.data.byteLength)).to.deep.equal([10])
    expect(second.nextCursor).to.equal(undefined)
  })

  it('honours the page limit and reports no cursor on an exact last page', async () => {
    await Promise.all([1, 2, 3, 4].map(async i => store.put(rec(i))))
    const a = await store.retrieve(mailboxA, 0, { maxBytes: 1 << 20, limit: 2 })
    expect(a.records).to.have.length(2)
    const b = await store.retrieve(mailboxA, 0, { maxBytes: 1 << 20, limit: 2, cursor: a.nextCursor })
    expect(b.records).to.have.length(2)
    expect(b.nextCursor).to.equal(undefined)
  })

  it('keeps namespaces and mailboxes apart, negative namespaces included', async () => {
    await store.put(rec(1, { namespace: -1 }))
    await store.put(rec(2, { namespace: 1 }))
    await store.put(rec(3, { namespace: 1, mailbox: mailboxB }))
    expect((await store.retrieve(mailboxA, -1, { maxBytes: 1 << 20 })).records.map(r => r.namespace)).to.deep.equal([-1])
    expect((await store.retrieve(mailboxA, 1, { maxBytes: 1 << 20 })).records).to.have.length(1)
    expect((await store.retrieve(mailboxB, 1, { maxBytes: 1 << 20 })).records).to.have.length(1)
    expect((await store.retrieve(mailboxB, 0, { maxBytes: 1 << 20 })).records).to.have.length(0)
  })

  it('rejects a cursor it did not issue', async () => {
    const err = await store.retrieve(mailboxA, 0, { maxBytes: 100, cursor: new Uint8Array(5) }).catch(e => e)
    expect(err).to.be.instanceOf(InvalidCursorError)
  })

  it('hides expired records that are not swept yet', async () => {
    await store.put(rec(1, { ttlMs: 20_000 }))
    await store.put(rec(2, { ttlMs: HOUR }))
    clock = T0 + 30_000
    expect((await store.retrieve(mailboxA, 0, { maxBytes: 1 << 20 })).records).to.have.length(1)
    expect(await store.has(mailboxA, rec(1, { ttlMs: 20_000 }).hash)).to.equal(false)
  })

  it('stores a duplicate once and extends its expiry', async () => {
    const first = rec(7, { ttlMs: 20_000 })
    const again = rec(7, { timestamp: T0 + 10_000, ttlMs: HOUR })
    expect(hex(again.hash)).to.equal(hex(first.hash))
    await store.put(first)
    expect(await store.put(again)).to.deep.equal({ stored: false, expiry: again.expiry })
    expect(store.stats().records).to.equal(1)
    const [kept] = (await store.retrieve(mailboxA, 0, { maxBytes: 1 << 20 })).records
    expect(kept.expiry).to.equal(again.expiry)
    expect(kept.timestamp).to.equal(first.timestamp)
    expect(await store.sweepExpired(first.expiry)).to.equal(0)
    expect(await store.sweepExpired(again.expiry)).to.equal(1)
    expect(store.stats()).to.deep.equal({ records: 0, bytes: 0 })
  })

  it('keeps the later expiry when a duplicate would expire sooner', async () => {
    const long = rec(7, { ttlMs: HOUR })
    await store.put(long)
    expect(await store.put(rec(7, { ttlMs: 20_000 }))).to.deep.equal({ stored: false, expiry: long.expiry })
  })

  it('dedups identical puts within one batch', async () => {
    const results = await Promise.all([store.put(rec(5)), store.put(rec(5)), store.put(rec(5))])
    expect(results.map(r => r.stored)).to.deep.equal([true, false, false])
    expect(store.stats().records).to.equal(1)
    expect(await metric('ghostnode_swarm_store_ops_total', { op: 'put', outcome: 'duplicate' })).to.equal(2)
  })

  it('rejects an oversize message and stores nothing', async () => {
    const err = await store.put(rec(1, { size: 64 * 1024 + 1 })).catch(e => e)
    expect(err).to.be.instanceOf(StoredMessageTooLargeError).with.property('code', 'ERR_STORED_MESSAGE_TOO_LARGE')
    expect(store.stats().records).to.equal(0)
    expect(await metric('ghostnode_swarm_store_ops_total', { op: 'put', outcome: 'rejected' })).to.equal(1)
  })

  it('rejects a TTL outside the bounds, including future-dated timestamps', async () => {
    for (const r of [rec(1, { ttlMs: 9_999 }), rec(2, { ttlMs: 14 * 24 * HOUR + 1 }), rec(3, { timestamp: T0 + 2 * HOUR, ttlMs: 14 * 24 * HOUR })]) {
      const err = await store.put(r).catch(e => e)
      expect(err).to.be.instanceOf(TtlOutOfBoundsError).with.property('code', 'ERR_TTL_OUT_OF_BOUNDS')
    }
    expect(store.stats().records).to.equal(0)
  })

  it('rejects a record that has already expired', async () => {
    const err = await store.put(rec(1, { timestamp: T0 - HOUR, ttlMs: 20_000 })).catch(e => e)
    expect(err).to.be.instanceOf(StoredRecordExpiredError)
    expect(store.stats().records).to.equal(0)
  })

  it('rejects a record whose hash does not match its content', async () => {
    const r = rec(1)
    const err = await store.put({ ...r, data: Buffer.from('tampered') }).catch(e => e)
    expect(err).to.be.instanceOf(RecordHashMismatchError)
    expect(store.stats().records).to.equal(0)
  })

  it('refuses a put beyond the mailbox record quota but still serves other mailboxes', async () => {
    await store.close()
    store = await openStore({ mailboxQuotaRecords: 3 })
    const outcomes = await Promise.allSettled([1, 2, 3, 4].map(async i => store.put(rec(i))))
    expect(outcomes.map(o => o.status)).to.deep.equal(['fulfilled', 'fulfilled', 'fulfilled', 'rejected'])
    const err = (outcomes[3] as PromiseRejectedResult).reason
    expect(err).to.be.instanceOf(MailboxFullError).with.property('kind', 'records')
    expect((await store.put(rec(5, { mailbox: mailboxB }))).stored).to.equal(true)
    expect(await store.usage(mailboxA)).to.deep.equal({ records: 3, bytes: 3 * 187 })
    expect(await metric('ghostnode_swarm_quota_rejections_total', { kind: 'mailbox_records' })).to.equal(1)
  })

  it('refuses a put beyond the mailbox byte quota', async () => {
    await store.close()
    store = await openStore({ mailboxQuotaBytes: 2 * 187 + 100 })
    await store.put(rec(1))
    await store.put(rec(2))
    const err = await store.put(rec(3)).catch(e => e)
    expect(err).to.be.instanceOf(MailboxFullError).with.property('kind', 'bytes')
    expect(err).to.have.property('code', 'ERR_MAILBOX_FULL')
    expect(store.stats().records).to.equal(2)
  })

  it('refuses a put beyond the node quota and stores nothing for it', async () => {
    await store.close()
    store = await openStore({ nodeQuotaBytes: 2 * 187 })
    await store.put(rec(1))
    await store.put(rec(2, { mailbox: mailboxB }))
    const err = await store.put(rec(3, { mailbox: new Uint8Array(32).fill(3) })).catch(e => e)
    expect(err).to.be.instanceOf(NodeFullError).with.property('code', 'ERR_NODE_FULL')
    expect(store.stats()).to.deep.equal({ records: 2, bytes: 374 })
    expect([...await collect(store.iterateMailboxes())].map(hex)).to.deep.equal([hex(mailboxA), hex(mailboxB)])
  })

  it('accepts a duplicate into a full mailbox, since it stores nothing new', async () => {
    await store.close()
    store = await openStore({ mailboxQuotaRecords: 1 })
    await store.put(rec(1))
    expect((await store.put(rec(1, { timestamp: T0 + 5 }))).stored).to.equal(false)
  })

  it('deletes listed records of one namespace and updates counters', async () => {
    const a = rec(1)
    const b = rec(2)
    const other = rec(3, { namespace: 9 })
    await Promise.all([a, b, other].map(async r => store.put(r)))
    expect(await store.delete(mailboxA, 0, [a.hash, a.hash, other.hash, new Uint8Array(32)])).to.equal(1)
    expect((await store.retrieve(mailboxA, 0, { maxBytes: 1 << 20 })).records.map(r => hex(r.hash))).to.deep.equal([hex(b.hash)])
    expect(await store.usage(mailboxA)).to.deep.equal({ records: 2, bytes: 374 })
    expect(await store.has(mailboxA, other.hash)).to.equal(true)
  })

  it('deleteAll empties one namespace or the whole mailbox', async () => {
    await Promise.all([rec(1), rec(2), rec(3, { namespace: 4 }), rec(4, { mailbox: mailboxB })].map(async r => store.put(r)))
    expect(await store.deleteAll(mailboxA, 0)).to.equal(2)
    expect(await store.usage(mailboxA)).to.deep.equal({ records: 1, bytes: 187 })
    expect(await store.deleteAll(mailboxA)).to.equal(1)
    expect(await store.usage(mailboxA)).to.deep.equal({ records: 0, bytes: 0 })
    expect([...await collect(store.iterateMailboxes())].map(hex)).to.deep.equal([hex(mailboxB)])
    expect(store.stats()).to.deep.equal({ records: 1, bytes: 187 })
  })

  it('a duplicate extends the expiry, but never past the stored timestamp + the maximum TTL', async () => {
    const maxTtl = 14 * 24 * HOUR
    const first = rec(1, { ttlMs: maxTtl })
    await store.put(first)
    // the same content again 30 s later, also with the maximum TTL: same hash, later timestamp
    const again = createRecord({ mailbox: first.mailbox, namespace: first.namespace, timestamp: first.timestamp + 30_000, ttlMs: maxTtl, data: first.data })
    const out = await store.put(again)
    expect(out.stored).to.equal(false)
    expect(out.expiry).to.equal(first.timestamp + maxTtl)
    const held = await store.get(first.mailbox, first.hash)
    expect(held!.expiry - held!.timestamp).to.be.at.most(maxTtl)
  })

  it('deleteAll removes only what was stored at or before the signed time', async () => {
    const [old1, old2, newer] = [rec(1), rec(2), rec(3)]
    await Promise.all([old1, old2, newer].map(async r => store.put(r)))
    expect(await store.deleteAll(mailboxA, undefined, T0 + 2)).to.equal(2)
    expect((await store.retrieve(mailboxA, 0, { maxBytes: 1 << 20 })).records.map(r => hex(r.hash))).to.deep.equal([hex(newer.hash)])
    expect(await store.deleteAll(mailboxA, 0, T0 + 2)).to.equal(0) // a replay finds nothing it covers
  })

  it('changes the digest when content or an expiry changes, and not with insertion order', async () => {
    const empty = await store.digest(mailboxA)
    await store.put(rec(1))
    await store.put(rec(2))
    const two = await store.digest(mailboxA)
    expect(hex(two)).to.not.equal(hex(empty))

    const other = await openOther()
    await other.put(rec(2))
    await other.put(rec(1))
    expect(hex(await other.digest(mailboxA))).to.equal(hex(two))
    await other.close()

    await store.put(rec(1, { timestamp: T0 + 1000 }))
    const extended = await store.digest(mailboxA)
    expect(hex(extended)).to.not.equal(hex(two))
    await store.put(rec(3))
    expect(hex(await store.digest(mailboxA))).to.not.equal(hex(extended))
    await store.delete(mailboxA, 0, [rec(3).hash])
    expect(hex(await store.digest(mailboxA))).to.equal(hex(extended))
  })

  it('lists live hashes in hash order with namespace and expiry', async () => {
    const records = [rec(1), rec(2, { namespace: 5 }), rec(3)]
    await Promise.all(records.map(async r => store.put(r)))
    const listed = await store.listHashes(mailboxA)
    expect(listed.map(l => hex(l.hash))).to.deep.equal(records.map(r => hex(r.hash)).sort())
    const ns5 = listed.find(l => hex(l.hash) === hex(records[1].hash))
    expect(ns5).to.include({ namespace: 5, expiry: records[1].expiry })
  })

  it('keeps the stored-records gauges in step with the data', async () => {
    await Promise.all([rec(1), rec(2)].map(async r => store.put(r)))
    expect(await metric('ghostnode_swarm_records')).to.equal(2)
    expect(await metric('ghostnode_swarm_stored_bytes')).to.equal(374)
    await store.deleteAll(mailboxA)
    expect(await metric('ghostnode_swarm_records')).to.equal(0)
    expect(await metric('ghostnode_swarm_store_ops_total', { op: 'delete_all', outcome: 'ok' })).to.equal(1)
  })

  async function openOther (): Promise<MessageStore> {
    const s = new MessageStore({ path: join(dir, 'other'), now: () => clock, registry: new Registry() })
    await s.open()
    return s
  }
})

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}
