import { createHash } from 'node:crypto'
import { Level } from 'level'
import { DEFAULT_MAX_BATCH_PUTS, DEFAULT_SWEEP_INTERVAL_MS } from '../constants.js'
import { StoreClosedError, StoreSchemaError } from './errors.js'
import {
  bytesId, commitPutBatch, prefetchPutBatch, type BatchOp, type CommitInProgress, type PutPrefetch, type PutResult, type StoreDb
} from './put-batch.js'
import { MAILBOX_BYTES } from '../sizes.js'
import { decodeRecord, writeU64, type SwarmRecord } from '../record-codec.js'
import { commitRemoval, type Removal, type RemovalContext } from './remove-batch.js'
import {
  KEY_LAYOUT, KEY_NODE_META, LAYOUT_VERSION, allHashesRange, decodeNodeMeta, encodeNodeMeta, hashKey,
  hashRange, parseHashKey, parseHashValue, recordRange, type NodeMeta, type Usage
} from './store-keys.js'
import { DedupFilter } from './hash-filter.js'
import { StoreMetrics } from './store-metrics.js'
import { UsageCache } from './usage-cache.js'
import {
  checkHash, checkMailbox, checkNamespace, checkPut, checkRetrieveOptions, resolveLimits, type HashListing,
  type MessageStoreInit, type RetrieveOptions, type RetrieveResult, type StoreLimits
} from './store-options.js'
import { pageRange, readHashes, readPage, readRecord, scanListings, scanMailboxes, scanUsage } from './store-reads.js'
import { sweepChunk } from './sweep-batch.js'
import {
  decodeProofRow, decodeTombstoneRow, encodeProofValue, encodeTombstoneValue, proofKey, tagRange, tombstoneKey,
  type ProofRow, type TombstoneBatch, type TombstonePersistence, type TombstoneRow
} from './tombstone-rows.js'
import { Sweeper } from './sweeper.js'
import { WriteBatcher, type ItemOutcome } from './write-batcher.js'

export type { PutResult } from './put-batch.js'
export type { Usage } from './store-keys.js'
export type { BatchInfo, HashListing, MessageStoreInit, RetrieveOptions, RetrieveResult } from './store-options.js'

type State = 'closed' | 'opening' | 'open' | 'closing'

/** Mailbox counters kept in memory: ~150 bytes each, so ~15 MB at the cap. */
const USAGE_CACHE_ENTRIES = 100_000
/** Smallest dedup filter: 2^16 records fit the 128 KiB minimum bit array anyway. */
const MIN_FILTER_RECORDS = 65_536

/**
 * LevelDB-backed mailbox store of one swarm member. Every mutation goes
 * through a single writer that group-commits concurrent puts and reads the
 * next batch's dedup lookups while the current batch writes (write-batcher.ts,
 * put-batch.ts); an in-memory filter spares new messages the dedup lookup
 * (hash-filter.ts). Reads use LevelDB snapshots and never wait for writes.
 * The key layout is in store-keys.ts.
 */
export class MessageStore implements TombstonePersistence {
  private readonly db: Level<Uint8Array, Uint8Array>
  /** The two calls the batch writers need, typed without classic-level's generics. */
  private readonly writerDb: StoreDb
  private readonly now: () => number
  private readonly metrics: StoreMetrics
  private readonly limits: StoreLimits

  private readonly init: MessageStoreInit
  private readonly batcher: WriteBatcher<SwarmRecord, PutResult, PutPrefetch>
  /** The put batch being committed, for a batch prefetched alongside it. */
  private committing?: CommitInProgress
  private sweeper?: Sweeper
  private state: State = 'closed'
  private meta: NodeMeta = { records: 0, bytes: 0, seq: 0 }
  private readonly usageCache = new UsageCache(USAGE_CACHE_ENTRIES)
  private filter = new DedupFilter()
  private readonly usageScan = async (mailbox: Uint8Array): Promise<Usage> => scanUsage(this.db, mailbox)

  constructor (init: MessageStoreInit) {
    this.init = init
    const db = new Level<Uint8Array, Uint8Array>(init.path, { keyEncoding: 'view', valueEncoding: 'view' })
    this.db = db
    this.writerDb = {
      getMany: async (keys) => db.getMany(keys),
      // Chained rather than array batch: one native call per op instead of
      // several property reads, ~14% less CPU per put in a side-by-side run.
      batch: async (ops, options) => {
        const batch = db.batch()
        for (const op of ops) {
          if (op.type === 'put') batch.put(op.key, op.value)
          else batch.del(op.key)
        }
        await batch.write(options)
      }
    }
    this.now = init.now ?? Date.now
    this.metrics = new StoreMetrics(init.registry)
    this.limits = resolveLimits(init)
    this.batcher = new WriteBatcher({
      maxBatchItems: init.maxBatchPuts ?? DEFAULT_MAX_BATCH_PUTS,
      prefetch: async (records) => prefetchPutBatch(this.writerDb, this.filter, records, this.committing),
      commit: async (records, prefetched, writing) => this.commitPuts(records, prefetched, writing)
    })
  }

  get isOpen (): boolean {
    return this.state === 'open'
  }

  async open (): Promise<void> {
    if (this.state !== 'closed') return
    this.state = 'opening'
    try {
      await this.db.open()
      await this.checkLayout()
      this.setMeta(decodeNodeMeta(await this.db.get(KEY_NODE_META)))
      this.filter = new DedupFilter()
      this.rebuildFilter()
      this.state = 'open'
    } catch (err) {
      this.state = 'closed'
      await this.db.close()
      throw err
    }
  }

  /** Stops the sweeper, writes every queued put and delete, then closes the database. */
  async close (): Promise<void> {
    if (this.state !== 'open') return
    this.state = 'closing'
    await this.stopSweeper()
    await this.batcher.idle()
    await this.filter.stop()
    await this.db.close()
    this.usageCache.clear()
    this.state = 'closed'
  }

  /**
   * Stores a record, or extends the expiry of the identical record already
   * stored. Resolves once the batch holding it is in LevelDB (see `sync`).
   * A rejected put stores nothing.
   */
  put (record: SwarmRecord): Promise<PutResult> {
    // Not an async body: one promise per put instead of two on the ingest path.
    try {
      this.assertOpen()
      checkPut(record, this.limits, this.now())
    } catch (err) {
      if (!(err instanceof StoreClosedError)) this.metrics.op('put', 'rejected')
      return Promise.reject(err)
    }
    return this.batcher.enqueue(record)
  }

  /** One page of a mailbox namespace's live records in (timestamp, hash) order. */
  async retrieve (mailbox: Uint8Array, namespace: number, options: RetrieveOptions): Promise<RetrieveResult> {
    this.assertOpen()
    let range
    try {
      checkMailbox(mailbox)
      checkNamespace(namespace)
      checkRetrieveOptions(options)
      range = pageRange(mailbox, namespace, options.cursor)
    } catch (err) {
      this.metrics.op('retrieve', 'rejected')
      throw err
    }
    try {
      const page = await readPage(this.db, range, options, this.now())
      this.metrics.op('retrieve', 'ok')
      return page
    } catch (err) {
      this.metrics.op('retrieve', 'error')
      throw err
    }
  }

  /**
   * Deletes the listed records of a mailbox namespace stored at or before
   * `before` (ms; the owner's signed timestamp, so a replay spares the same
   * content deposited again later); returns how many it deleted.
   */
  async delete (mailbox: Uint8Array, namespace: number, hashes: Uint8Array[], before = Number.MAX_SAFE_INTEGER): Promise<number> {
    this.assertOpen()
    try {
      checkMailbox(mailbox)
      checkNamespace(namespace)
      for (const h of hashes) checkHash(h)
    } catch (err) {
      this.metrics.op('delete', 'rejected')
      throw err
    }
    const unique = [...new Map(hashes.map(h => [bytesId(h), h])).values()]
    return this.metered('delete', this.batcher.exclusive(async () => {
      const values = await this.db.getMany(unique.map(h => hashKey(mailbox, h)))
      const removals: Removal[] = []
      unique.forEach((hash, i) => {
        const v = values[i]
        if (v === undefined) return
        const entry = parseHashValue(v)
        if (entry.namespace === namespace && entry.timestamp <= before) removals.push({ mailbox, hash, entry })
      })
      await this.remove(removals)
      return removals.length
    }))
  }

  /**
   * Deletes every record of the mailbox (or of one namespace) stored at or
   * before `before` (ms): a DELETE_ALL signed at time T never removes what was
   * deposited after it, so a replay of it cannot delete newer messages.
   */
  async deleteAll (mailbox: Uint8Array, namespace?: number, before = Number.MAX_SAFE_INTEGER): Promise<number> {
    this.assertOpen()
    try {
      checkMailbox(mailbox)
      if (namespace !== undefined) checkNamespace(namespace)
    } catch (err) {
      this.metrics.op('delete_all', 'rejected')
      throw err
    }
    return this.metered('delete_all', this.batcher.exclusive(async () => {
      // The hash index holds everything needed to delete without reading payloads.
      const removals: Removal[] = []
      for await (const [key, value] of this.db.iterator(hashRange(mailbox))) {
        const entry = parseHashValue(value)
        if ((namespace === undefined || entry.namespace === namespace) && entry.timestamp <= before) {
          removals.push({ mailbox, hash: key.subarray(1 + MAILBOX_BYTES), entry })
        }
      }
      for (let i = 0; i < removals.length; i += this.limits.sweepBatchRecords) {
        await this.remove(removals.slice(i, i + this.limits.sweepBatchRecords))
      }
      return removals.length
    }))
  }

  /** Deletes every record with expiry <= `now`, in batches; returns the count. */
  async sweepExpired (now: number = this.now()): Promise<number> {
    this.assertOpen()
    let total = 0
    let after: Uint8Array | undefined
    for (;;) {
      const step = await this.batcher.exclusive(async () => {
        const r = await sweepChunk({ ...this.removalContext(), level: this.db }, now, this.limits.sweepBatchRecords, after)
        this.setMeta(r.meta)
        return r
      })
      total += step.swept
      this.metrics.swept.inc(step.swept)
      after = step.lastKey
      // Stop between chunks when closing: close() only waits for jobs already queued.
      if (!step.more || this.state !== 'open') return total
    }
  }

  /** Runs {@link sweepExpired} every `intervalMs`, never two at once; the timer does not hold the process open. */
  startSweeper (intervalMs: number = DEFAULT_SWEEP_INTERVAL_MS): void {
    this.assertOpen()
    if (this.sweeper?.isRunning === true) return
    this.sweeper = new Sweeper({
      intervalMs,
      sweep: async () => this.sweepExpired(),
      timers: this.init.sweeperTimers
    })
    this.sweeper.start()
  }

  /** Cancels the sweeper schedule and waits for a running sweep. */
  async stopSweeper (): Promise<void> {
    await this.sweeper?.stop()
  }

  /** True when a live record with this hash is stored in the mailbox. */
  async has (mailbox: Uint8Array, hash: Uint8Array): Promise<boolean> {
    this.assertOpen()
    checkMailbox(mailbox)
    checkHash(hash)
    const v = await this.db.get(hashKey(mailbox, hash))
    return v !== undefined && parseHashValue(v).expiry > this.now()
  }

  /** The live record with this hash, for anti-entropy and handover fetches. */
  async get (mailbox: Uint8Array, hash: Uint8Array): Promise<SwarmRecord | undefined> {
    this.assertOpen()
    checkMailbox(mailbox)
    checkHash(hash)
    return readRecord(this.db, mailbox, hash, this.now())
  }

  /** Live records' hashes in hash order, with the namespace and expiry replicas compare. */
  async listHashes (mailbox: Uint8Array): Promise<HashListing[]> {
    this.assertOpen()
    checkMailbox(mailbox)
    return readHashes(this.db, mailbox, this.now())
  }

  /**
   * Anti-entropy digest: SHA-256 over (hash || u64be expiry) of every live
   * record, in hash order. Replicas holding the same records with the same
   * expiries agree; a later expiry on one side shows up as a difference.
   */
  async digest (mailbox: Uint8Array): Promise<Uint8Array> {
    const h = createHash('sha256')
    const expiry = Buffer.alloc(8)
    for (const e of await this.listHashes(mailbox)) {
      writeU64(expiry, 0, e.expiry)
      h.update(e.hash).update(expiry)
    }
    return h.digest()
  }

  /** Usage counters of one mailbox (expired but unswept records still count). */
  async usage (mailbox: Uint8Array): Promise<Usage> {
    this.assertOpen()
    checkMailbox(mailbox)
    return { ...(this.usageCache.get(bytesId(mailbox)) ?? await scanUsage(this.db, mailbox)) }
  }

  /** Every mailbox holding at least one record, in byte order (only those after `after` when given). */
  async * iterateMailboxes (after?: Uint8Array): AsyncGenerator<Uint8Array> {
    this.assertOpen()
    if (after !== undefined) checkMailbox(after)
    yield * scanMailboxes(this.db, after)
  }

  /** Every mailbox holding live records (after `after`), in byte order, with its hash listing: one pass, for anti-entropy. */
  async * iterateListings (after?: Uint8Array): AsyncGenerator<{ mailbox: Uint8Array, listing: HashListing[] }> {
    this.assertOpen()
    if (after !== undefined) checkMailbox(after)
    yield * scanListings(this.db, this.now(), after)
  }

  /** Every live record of a mailbox in (namespace, timestamp, hash) order; for handover. */
  async * exportMailbox (mailbox: Uint8Array): AsyncGenerator<SwarmRecord> {
    this.assertOpen()
    checkMailbox(mailbox)
    const now = this.now()
    for await (const value of this.db.values(recordRange(mailbox))) {
      const record = decodeRecord(value)
      if (record.expiry > now) yield record
    }
  }

  /**
   * Writes tombstone and proof rows in one batch, through the single writer
   * and always synced: a delete's tombstones are durable before its records
   * go (tombstone-rows.ts).
   */
  async writeTombstones (batch: TombstoneBatch): Promise<void> {
    this.assertOpen()
    const ops: BatchOp[] = []
    for (const d of batch.drop) ops.push({ type: 'del', key: tombstoneKey(d.mailbox, d.hash) })
    for (const id of batch.dropProofs) ops.push({ type: 'del', key: proofKey(id) })
    for (const p of batch.proofs) ops.push({ type: 'put', key: proofKey(p.id), value: encodeProofValue(p) })
    for (const t of batch.put) ops.push({ type: 'put', key: tombstoneKey(t.mailbox, t.hash), value: encodeTombstoneValue(t) })
    if (ops.length === 0) return
    await this.batcher.exclusive(async () => this.writerDb.batch(ops, { sync: true }))
  }

  async * readTombstones (): AsyncGenerator<TombstoneRow> {
    this.assertOpen()
    for await (const [key, value] of this.db.iterator(tagRange('tombstone'))) yield decodeTombstoneRow(key, value)
  }

  async * readDeleteProofs (): AsyncGenerator<ProofRow> {
    this.assertOpen()
    for await (const [key, value] of this.db.iterator(tagRange('proof'))) yield decodeProofRow(key, value)
  }

  /** Records and encoded bytes stored, expired-but-unswept included. */
  stats (): Usage {
    return { records: this.meta.records, bytes: this.meta.bytes }
  }

  private async commitPuts (records: SwarmRecord[], prefetched: Promise<PutPrefetch> | undefined, writing: () => void): Promise<Array<ItemOutcome<PutResult>>> {
    // Set before the first await: a prefetch started from `writing` must see it.
    const current: CommitInProgress = {}
    this.committing = current
    try {
      const pre = await (prefetched ?? prefetchPutBatch(this.writerDb, this.filter, records))
      const result = await commitPutBatch({
        db: this.writerDb,
        writing,
        meta: this.meta,
        scanUsage: this.usageScan,
        expiryBucketMs: this.limits.expiryBucketMs,
        maxTtlMs: this.limits.maxTtlMs,
        usageCache: this.usageCache,
        quotas: this.limits,
        metrics: this.metrics,
        sync: this.limits.sync
      }, records, pre)
      current.written = result.written
      for (const h of result.added) this.filter.add(h)
      if (this.filter.needsRebuild) this.rebuildFilter()
      this.usageCache.commit(result.mailboxUsage)
      this.setMeta(result.meta)
      const hook = this.init.onBatch
      // Outside this call: a throwing hook must not fail puts that are already durable.
      if (hook !== undefined) queueMicrotask(() => { hook({ puts: records.length, operations: result.operations }) })
      return result.outcomes
    } catch (err) {
      this.metrics.op('put', 'error', records.length)
      throw err
    } finally {
      this.committing = undefined
    }
  }

  /** Starts a background build of the dedup filter sized for twice what is stored now. */
  private rebuildFilter (): void {
    const capacity = Math.max(MIN_FILTER_RECORDS, 2 * this.meta.records)
    this.filter.rebuild(capacity, () => hashesOf(this.db.keys(allHashesRange())))
  }

  private async remove (removals: Removal[]): Promise<void> {
    this.setMeta(await commitRemoval(this.removalContext(), removals))
  }

  private setMeta (meta: NodeMeta): void {
    this.meta = meta
    this.metrics.usage(meta.records, meta.bytes)
  }

  private removalContext (): RemovalContext {
    return { db: this.writerDb, usageCache: this.usageCache, scanUsage: this.usageScan, meta: this.meta, sync: this.limits.sync }
  }

  private async metered<V> (op: 'delete' | 'delete_all', work: Promise<V>): Promise<V> {
    try {
      const v = await work
      this.metrics.op(op, 'ok')
      return v
    } catch (err) {
      this.metrics.op(op, 'error')
      throw err
    }
  }

  private async checkLayout (): Promise<void> {
    const layout = await this.db.get(KEY_LAYOUT)
    if (layout === undefined) {
      const any = await this.db.keys({ limit: 1 }).all()
      if (any.length > 0) throw new StoreSchemaError(`${this.init.path} holds data without a layout marker`)
      await this.db.batch([
        { type: 'put', key: KEY_LAYOUT, value: Uint8Array.of(LAYOUT_VERSION) },
        { type: 'put', key: KEY_NODE_META, value: encodeNodeMeta({ records: 0, bytes: 0, seq: 0 }) }
      ], { sync: true })
    } else if (layout.byteLength !== 1 || layout[0] !== LAYOUT_VERSION) {
      throw new StoreSchemaError(`${this.init.path} uses store layout ${layout[0]}, this build reads ${LAYOUT_VERSION}`)
    }
  }

  private assertOpen (): void {
    if (this.state !== 'open') throw new StoreClosedError()
  }
}

async function * hashesOf (keys: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const key of keys) yield parseHashKey(key).hash
}
