import { join } from 'node:path'
import { Registry } from 'prom-client'
import { expect } from 'chai'
import { MailboxKey, authMessage, deleteAllFields, deleteFields } from '../../../src/swarm/auth.js'
import { SwarmOp, type DeleteRequest } from '../../../src/swarm/peer/protocol.js'
import { createRecord } from '../../../src/swarm/record-codec.js'
import { LocalReplica } from '../../../src/swarm/replica.js'
import { MessageStore } from '../../../src/swarm/store/store.js'
import { Tombstones } from '../../../src/swarm/sync/tombstones.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

const T0 = 1_700_000_000_000
const HOUR = 3_600_000

describe('durable tombstones', () => {
  let dir: string
  let store: MessageStore
  let now = T0
  const clock = (): number => now

  const open = async (): Promise<MessageStore> => {
    const s = new MessageStore({ path: join(dir, 'db'), now: clock, registry: new Registry() })
    await s.open()
    return s
  }
  const countRows = async (s: MessageStore): Promise<{ tombstones: number, proofs: number }> => {
    let tombstones = 0
    let proofs = 0
    for await (const _ of s.readTombstones()) tombstones++
    for await (const _ of s.readDeleteProofs()) proofs++
    return { tombstones, proofs }
  }
  const deleteOf = (key: MailboxKey, hashes: Uint8Array[], timestamp = now): DeleteRequest => ({
    op: SwarmOp.DELETE,
    mailbox: key.publicKey,
    namespace: 0,
    hashes,
    auth: { timestamp, signature: key.sign(authMessage(deleteFields(key.publicKey, 0, timestamp, hashes))) }
  })

  beforeEach(async () => {
    now = T0
    dir = await makeTempDir()
    store = await open()
  })
  afterEach(async () => {
    await store.close()
    await removeTempDir(dir)
  })

  it('come back after a restart with their signed delete, which is stored once for all its tombstones', async () => {
    const key = MailboxKey.generate()
    const hashes = Array.from({ length: 20 }, (_, i) => new Uint8Array(32).fill(i + 1))
    const proof = deleteOf(key, hashes)
    const t = new Tombstones({ now: clock, persistence: store })
    for (const h of hashes) t.add(key.publicKey, h, T0, T0 + HOUR, proof)
    await t.flush()
    expect(await countRows(store)).to.deep.equal({ tombstones: 20, proofs: 1 })

    await store.close()
    store = await open()
    const back = new Tombstones({ now: clock, persistence: store })
    expect(await back.load()).to.equal(20)
    for (const h of hashes) {
      expect(back.blocks(key.publicKey, h, T0)).to.equal(true)
      expect(back.blocks(key.publicKey, h, T0 + 1), 'a later deposit of the same content').to.equal(false)
    }
    const kept = back.proofOf(key.publicKey, hashes[3])
    expect(kept?.op).to.equal(SwarmOp.DELETE)
    expect(Buffer.from(kept!.auth.signature).equals(Buffer.from(proof.auth.signature))).to.equal(true)
    expect((kept as DeleteRequest).hashes).to.have.length(20)
  })

  it('forget expired tombstones and their proofs on disk too, when swept and at load', async () => {
    const key = MailboxKey.generate()
    const t = new Tombstones({ now: clock, persistence: store })
    t.add(key.publicKey, new Uint8Array(32).fill(1), T0, T0 + 1_000, deleteOf(key, [new Uint8Array(32).fill(1)]))
    t.add(key.publicKey, new Uint8Array(32).fill(2), T0, T0 + HOUR)
    await t.flush()
    now = T0 + 2_000
    expect(t.sweep()).to.equal(1)
    await t.flush()
    expect(await countRows(store)).to.deep.equal({ tombstones: 1, proofs: 0 })

    now = T0 + 2 * HOUR
    const later = new Tombstones({ now: clock, persistence: store })
    expect(await later.load()).to.equal(0)
    expect(await countRows(store)).to.deep.equal({ tombstones: 0, proofs: 0 })
  })

  it('keep their bound on disk as in memory', async () => {
    const t = new Tombstones({ now: clock, persistence: store, max: 5 })
    const m = new Uint8Array(32).fill(9)
    for (let i = 0; i < 12; i++) t.add(m, new Uint8Array(32).fill(i), T0, T0 + HOUR)
    await t.flush()
    expect((await countRows(store)).tombstones).to.equal(5)
    expect(t.has(m, new Uint8Array(32).fill(11))).to.equal(true)
    expect(t.has(m, new Uint8Array(32).fill(0))).to.equal(false)
  })

  it('a replica finishes a delete a crash interrupted, and refuses the copy anti-entropy offers after a restart', async () => {
    const key = MailboxKey.generate()
    const record = createRecord({ mailbox: key.publicKey, namespace: 0, timestamp: T0 - 10, ttlMs: HOUR, data: new TextEncoder().encode('to delete') })
    const replica = new LocalReplica({ store, tombstones: new Tombstones({ now: clock, persistence: store }), isReady: () => true, maxTtlMs: HOUR })
    await replica.put(record)
    // the crash: tombstones written (as delete() writes them first), the records not yet deleted
    replica.tombstones.add(key.publicKey, record.hash, record.timestamp, record.expiry, deleteOf(key, [record.hash]))
    await replica.tombstones.flush()
    await store.close()

    store = await open()
    expect(await store.has(key.publicKey, record.hash)).to.equal(true)
    const restarted = new LocalReplica({ store, tombstones: new Tombstones({ now: clock, persistence: store }), isReady: () => true, maxTtlMs: HOUR })
    await restarted.tombstones.load()
    expect(await restarted.finishDeletes()).to.equal(1)
    expect(await store.has(key.publicKey, record.hash)).to.equal(false)
    expect((await restarted.put(record)).stored, 'a copy of the deleted record').to.equal(false)
    expect(await store.has(key.publicKey, record.hash)).to.equal(false)
  })

  it('a DELETE_ALL through the replica is durable before its records go', async () => {
    const key = MailboxKey.generate()
    const replica = new LocalReplica({ store, tombstones: new Tombstones({ now: clock, persistence: store }), isReady: () => true, maxTtlMs: HOUR })
    for (let i = 0; i < 3; i++) await replica.put(createRecord({ mailbox: key.publicKey, namespace: 0, timestamp: T0 - 10 + i, ttlMs: HOUR, data: new Uint8Array([i]) }))
    const timestamp = T0
    const auth = { timestamp, signature: key.sign(authMessage(deleteAllFields(key.publicKey, undefined, timestamp))) }
    expect(await replica.deleteAll({ op: SwarmOp.DELETE_ALL, mailbox: key.publicKey, auth })).to.equal(3)
    expect(await countRows(store)).to.deep.equal({ tombstones: 3, proofs: 1 })
  })
})
