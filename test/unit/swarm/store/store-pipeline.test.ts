import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Level } from 'level'
import { MailboxFullError } from '../../../../src/swarm/store/errors.js'
import { createRecord, type SwarmRecord } from '../../../../src/swarm/record-codec.js'
import { MessageStore, type BatchInfo, type MessageStoreInit } from '../../../../src/swarm/store/store.js'
import { Registry } from 'prom-client'

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const MINUTE = 60_000
const mailbox = new Uint8Array(32).fill(0xd4)
const other = new Uint8Array(32).fill(0xe5)

function rec (i: number, over: { ttlMs?: number, timestamp?: number, box?: Uint8Array } = {}): SwarmRecord {
  const data = Buffer.alloc(64, i % 251)
  data.writeUInt32BE(i)
  return createRecord({ mailbox: over.box ?? mailbox, namespace: 0, timestamp: over.timestamp ?? T0 + i, ttlMs: over.ttlMs ?? HOUR, data })
}

/**
 * Batches small enough that a burst spans several, so each batch's dedup
 * reads run while the previous batch writes.
 */
describe('swarm/store pipelined batches, dedup filter and expiry buckets', () => {
  let dir: string
  let clock: number
  const stores: MessageStore[] = []

  async function openStore (over: Partial<MessageStoreInit> = {}): Promise<MessageStore> {
    const s = new MessageStore({ path: join(dir, 'db'), now: () => clock, maxBatchPuts: 10, ...over, registry: over.registry ?? new Registry() })
    stores.push(s)
    await s.open()
    return s
  }

  /** Closes `store`, counts the expiry-index entries on disk, and opens it again. */
  async function reopenCountingExpiryEntries (store: MessageStore): Promise<{ store: MessageStore, entries: number }> {
    await store.close()
    const raw = new Level<Uint8Array, Uint8Array>(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
    const keys = await raw.keys({ gte: Uint8Array.of(0x02), lt: Uint8Array.of(0x03) }).all()
    await raw.close()
    return { store: await openStore(), entries: keys.length }
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ghostnode-pipeline-'))
    clock = T0
  })

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('dedups copies of a record that land in consecutive, overlapping batches', async () => {
    const batches: BatchInfo[] = []
    const store = await openStore({ onBatch: b => batches.push(b) })
    // Ten records, each batch of ten a fresh copy of all of them (later timestamps):
    // batch k+1 reads while batch k writes, so only the overlay of k can tell it they exist.
    const results = await Promise.all(Array.from({ length: 60 }, async (_, n) => store.put(rec(n % 10, { timestamp: T0 + n }))))
    expect(batches.map(b => b.puts)).to.deep.equal([10, 10, 10, 10, 10, 10])
    expect(results.map(r => r.stored)).to.deep.equal(Array.from({ length: 60 }, (_, n) => n < 10))
    expect(results[59].expiry).to.equal(T0 + 59 + HOUR)
    expect(store.stats().records).to.equal(10)
    expect(await store.usage(mailbox)).to.deep.equal({ records: 10, bytes: 10 * (64 + 87) })
    const page = await store.retrieve(mailbox, 0, { maxBytes: 1 << 20 })
    expect(page.records.map(r => r.expiry)).to.deep.equal(Array.from({ length: 10 }, (_, i) => T0 + 50 + i + HOUR))
  })

  it('enforces the mailbox quota across overlapping batches', async () => {
    const store = await openStore({ mailboxQuotaRecords: 25 })
    const settled = await Promise.allSettled(Array.from({ length: 50 }, async (_, i) => store.put(rec(i))))
    expect(settled.filter(s => s.status === 'fulfilled')).to.have.length(25)
    const refused = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    expect(refused.every(s => s.reason instanceof MailboxFullError)).to.equal(true)
    expect(await store.usage(mailbox)).to.deep.equal({ records: 25, bytes: 25 * 151 })
  })

  it('dedups against records stored before a restart', async () => {
    let store = await openStore()
    await Promise.all(Array.from({ length: 30 }, async (_, i) => store.put(rec(i))))
    await store.close()
    store = await openStore()
    const again = await Promise.all(Array.from({ length: 30 }, async (_, i) => store.put(rec(i, { timestamp: T0 + 1000 + i }))))
    expect(again.every(r => !r.stored)).to.equal(true)
    expect(store.stats().records).to.equal(30)
  })

  it('recomputes mailbox usage after a restart and keeps enforcing the quota', async () => {
    let store = await openStore({ mailboxQuotaRecords: 3 })
    await Promise.all([1, 2, 3].map(async i => store.put(rec(i))))
    await store.close()
    store = await openStore({ mailboxQuotaRecords: 3 })
    expect(await store.put(rec(4)).catch(e => e)).to.be.instanceOf(MailboxFullError)
    expect((await store.put(rec(5, { box: other }))).stored).to.equal(true)
  })

  it('lists each mailbox once however many records it holds', async () => {
    const store = await openStore()
    await Promise.all([
      ...Array.from({ length: 12 }, async (_, i) => store.put(rec(i))),
      ...Array.from({ length: 3 }, async (_, i) => store.put(rec(100 + i, { box: other })))
    ])
    const listed: string[] = []
    for await (const m of store.iterateMailboxes()) listed.push(Buffer.from(m).toString('hex'))
    expect(listed).to.deep.equal([Buffer.from(mailbox).toString('hex'), Buffer.from(other).toString('hex')])
  })

  it('sweeps a partly due expiry bucket and keeps its pending records', async () => {
    const store = await openStore()
    // T0 + 61 s and T0 + 61.5 s share the bucket [T0 + 40 s, T0 + 100 s) since T0 % 60 s = 20 s.
    const early = rec(1, { timestamp: T0, ttlMs: MINUTE + 1000 })
    const late = rec(2, { timestamp: T0, ttlMs: MINUTE + 1500 })
    // One batch, so one expiry entry holding both pointers.
    await Promise.all([store.put(early), store.put(late)])
    expect(await store.sweepExpired(early.expiry)).to.equal(1)
    expect(await store.has(mailbox, late.hash)).to.equal(true)
    expect(await store.sweepExpired(early.expiry)).to.equal(0)
    expect(await store.sweepExpired(late.expiry)).to.equal(1)
    expect(store.stats()).to.deep.equal({ records: 0, bytes: 0 })
  })

  it('ignores, then drops, the expiry pointer an extension leaves behind', async () => {
    let store = await openStore()
    const short = rec(1, { ttlMs: 20_000 })
    await store.put(short)
    const extended = await store.put(rec(1, { timestamp: T0 + 5000, ttlMs: 2 * HOUR }))
    let entries: number
    ;({ store, entries } = await reopenCountingExpiryEntries(store))
    expect(entries).to.equal(2)
    expect(await store.sweepExpired(short.expiry + MINUTE)).to.equal(0)
    expect(await store.has(mailbox, short.hash)).to.equal(true)
    ;({ store, entries } = await reopenCountingExpiryEntries(store))
    expect(entries).to.equal(1)
    expect(await store.sweepExpired(extended.expiry)).to.equal(1)
    ;({ entries } = await reopenCountingExpiryEntries(store))
    expect(entries).to.equal(0)
  })

  for (const sweepBatchRecords of [1, 1000]) {
    it(`removes a record re-stored after a delete exactly once (sweep chunks of ${sweepBatchRecords})`, async () => {
      const store = await openStore({ sweepBatchRecords })
      const r = rec(1)
      await store.put(r)
      expect(await store.delete(mailbox, 0, [r.hash])).to.equal(1)
      await store.put(r)
      await store.put(rec(2, { box: other }))
      expect(await store.sweepExpired(r.expiry + MINUTE)).to.equal(2)
      expect(store.stats()).to.deep.equal({ records: 0, bytes: 0 })
      expect(await store.usage(mailbox)).to.deep.equal({ records: 0, bytes: 0 })
    })
  }

  it('keeps node totals and the expiry index consistent across a restart mid-life', async () => {
    let store = await openStore()
    await Promise.all(Array.from({ length: 40 }, async (_, i) => store.put(rec(i, { ttlMs: i < 20 ? 20_000 : HOUR }))))
    await store.close()
    store = await openStore()
    clock = T0 + 2 * MINUTE
    expect(await store.sweepExpired()).to.equal(20)
    await store.close()
    store = await openStore()
    expect(store.stats()).to.deep.equal({ records: 20, bytes: 20 * 151 })
    expect((await store.retrieve(mailbox, 0, { maxBytes: 1 << 20 })).records).to.have.length(20)
  })
})
