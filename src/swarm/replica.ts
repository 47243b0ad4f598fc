import { positionOf } from './ring.js'
import { RangeSet, digestOfListing } from './sync/ranges.js'
import { BucketAccumulator } from './sync/buckets.js'
import {
  MAX_BUCKETS, MAX_PEER_PAGE_BYTES, SwarmOp, encodeBucketsAnswer, encodeCountAnswer, encodeDigestAnswer, encodeHashesAnswer, encodePageAnswer, encodePutAnswer,
  encodeRangeAnswer, encodeRecordsAnswer, type DigestAnswer, type DigestEntry, type PageAnswer, type PutAnswer, type RangeAnswer,
  type BucketEntry, type DeleteAllRequest, type DeleteRequest, type SwarmRequest, type WatchRequest
} from './peer/protocol.js'
import { encodeCursor } from './store/store-keys.js'
import type { Watchers } from './watchers.js'
import { checkRecordHash, encodedRecordSize, type SwarmRecord } from './record-codec.js'
import { SwarmNotReadyError, SwarmProtocolError, SwarmUnauthorizedError } from './service-errors.js'
import type { RingRange } from './ring.js'
import type { MessageStore } from './store/store.js'
import type { Tombstones } from './sync/tombstones.js'

export interface LocalReplicaInit {
  store: MessageStore
  tombstones: Tombstones
  /** False while this member is still pulling the range a mailbox lies in. */
  isReady: (mailbox: Uint8Array) => boolean
  /** Longest TTL: how long a tombstone for a record of unknown expiry is kept. */
  maxTtlMs: number
  /** Exits watching mailboxes here for their subscribed clients: told of every record newly stored. */
  watchers?: Watchers
  /** A member pushed a record this node (an exit) watched for; false when nothing here waits for it. */
  onPush?: (record: SwarmRecord) => boolean
}

/** Pages a WATCH reads past records the subscriber already knows (it lists at most 64). */
const MAX_WATCH_PAGES = 4

const MAX_HASH = new Uint8Array(32).fill(0xff)
const bufferOf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength)
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => bufferOf(a).equals(b)

/**
 * This member's copy of the swarm data: what the node-to-node protocol serves
 * and what the coordinator uses when the node is itself a member of a
 * mailbox's swarm, so local and remote members behave the same. Deletes leave
 * tombstones that stop replication from copying a deleted record back.
 */
export class LocalReplica {
  readonly store: MessageStore
  readonly tombstones: Tombstones
  private readonly isReady: (mailbox: Uint8Array) => boolean
  private readonly maxTtlMs: number
  private readonly watchers?: Watchers
  private readonly onPush?: (record: SwarmRecord) => boolean

  constructor (init: LocalReplicaInit) {
    this.store = init.store
    this.tombstones = init.tombstones
    this.isReady = init.isReady
    this.maxTtlMs = init.maxTtlMs
    if (init.watchers != null) this.watchers = init.watchers
    if (init.onPush != null) this.onPush = init.onPush
  }

  /** Stores a record; a copy of a deleted record is acknowledged but not stored. */
  async put (record: SwarmRecord): Promise<PutAnswer> {
    if (this.tombstones.blocks(record.mailbox, record.hash, record.timestamp)) return { stored: false, expiry: record.expiry }
    const answer = await this.store.put(record)
    if (answer.stored) this.watchers?.stored(record)
    return answer
  }

  /**
   * The records at or after `since` the subscriber does not know; with none,
   * `peer` stays registered as a watcher and gets the next new record pushed.
   * The watch is registered before the read, so a record stored meanwhile is
   * either read or pushed (the caller checked the owner's signature).
   */
  async watch (peer: string, req: WatchRequest): Promise<PageAnswer> {
    if (!this.isReady(req.mailbox)) throw new SwarmNotReadyError()
    const drop = this.watchers?.add(peer, req)
    const known = new Set(req.known.map(h => bufferOf(h).toString('hex')))
    let cursor = req.since > 0 ? encodeCursor(req.since - 1, MAX_HASH) : undefined
    const records: SwarmRecord[] = []
    for (let pages = 0; pages < MAX_WATCH_PAGES && records.length === 0; pages++) {
      const page = await this.store.retrieve(req.mailbox, req.namespace, { maxBytes: Math.min(req.maxBytes, MAX_PEER_PAGE_BYTES), ...(cursor !== undefined ? { cursor } : {}) })
      records.push(...page.records.filter(r => !known.has(bufferOf(r.hash).toString('hex'))))
      if (page.nextCursor === undefined) break
      cursor = page.nextCursor
    }
    if (records.length > 0) drop?.()
    return { records }
  }

  async get (mailbox: Uint8Array, namespace: number, maxBytes: number, cursor?: Uint8Array): Promise<PageAnswer> {
    if (!this.isReady(mailbox)) throw new SwarmNotReadyError()
    const page = await this.store.retrieve(mailbox, namespace, { maxBytes: Math.min(maxBytes, MAX_PEER_PAGE_BYTES), ...(cursor !== undefined ? { cursor } : {}) })
    return page.nextCursor !== undefined ? { records: page.records, nextCursor: page.nextCursor } : { records: page.records }
  }

  /**
   * Deletes the listed records stored at or before the owner's signed
   * timestamp, leaving tombstones that keep the signed request (the caller
   * has checked the signature).
   */
  async delete (req: DeleteRequest): Promise<number> {
    const before = req.auth.timestamp
    for (const hash of req.hashes) {
      const record = await this.store.get(req.mailbox, hash)
      if (record !== undefined && record.timestamp > before) continue
      this.tombstones.add(req.mailbox, hash, record?.timestamp ?? before, record?.expiry ?? before + this.maxTtlMs, req)
    }
    // durable before the records go: a crash in between is finished at the next start
    await this.tombstones.flush()
    return this.store.delete(req.mailbox, req.namespace, req.hashes, before)
  }

  /**
   * At start, after the tombstones are loaded: deletes what a tombstone covers
   * and the store still holds (a crash came between the tombstones' write and
   * the records' delete). Returns how many it deleted.
   */
  async finishDeletes (): Promise<number> {
    let deleted = 0
    for (const t of [...this.tombstones.live()]) {
      if (!await this.store.has(t.mailbox, t.hash)) continue
      const record = await this.store.get(t.mailbox, t.hash)
      if (record === undefined || record.timestamp > t.timestamp) continue
      deleted += await this.store.delete(t.mailbox, record.namespace, [t.hash], t.timestamp)
    }
    return deleted
  }

  /** Deletes the records stored at or before the owner's signed timestamp, leaving tombstones. */
  async deleteAll (req: DeleteAllRequest): Promise<number> {
    const { mailbox, namespace } = req
    const before = req.auth.timestamp
    const listing = await this.store.listHashes(mailbox)
    for (const e of listing) {
      if ((namespace === undefined || e.namespace === namespace) && (e.timestamp ?? 0) <= before) this.tombstones.add(mailbox, e.hash, before, e.expiry, req)
    }
    await this.tombstones.flush()
    return this.store.deleteAll(mailbox, namespace, before)
  }

  /**
   * Per entry: undefined when our digest matches, else our listing (hash
   * order). A mailbox the requester may not list (not in its swarm) is
   * answered as matching: nothing is revealed and nothing is to be done.
   */
  async digest (entries: DigestEntry[], scope: ServeScope = {}): Promise<DigestAnswer> {
    const { signal, mayList } = scope
    const out: DigestAnswer = []
    for (const { mailbox, digest } of entries) {
      signal?.throwIfAborted()
      if (mayList !== undefined && !mayList(mailbox)) {
        out.push(undefined)
        continue
      }
      const listing = await this.store.listHashes(mailbox)
      out.push(sameBytes(digestOfListing(listing), digest) ? undefined : listing)
    }
    return out
  }

  /** The live records among `hashes`, stopping before `maxBytes` (at least one). */
  async fetch (mailbox: Uint8Array, hashes: Uint8Array[], maxBytes: number, scope: ServeScope = {}): Promise<SwarmRecord[]> {
    const { signal, mayList } = scope
    if (mayList !== undefined && !mayList(mailbox)) throw new SwarmUnauthorizedError()
    const budget = Math.min(maxBytes, MAX_PEER_PAGE_BYTES)
    const out: SwarmRecord[] = []
    let bytes = 0
    for (const hash of hashes) {
      signal?.throwIfAborted()
      const record = await this.store.get(mailbox, hash)
      if (record === undefined) continue
      const size = encodedRecordSize(record)
      if (out.length > 0 && bytes + size > budget) break
      out.push(record)
      bytes += size
    }
    return out
  }

  /** Mailboxes held whose ring position lies in `ranges` (and the requester may list), after `after`, with their digests. */
  async range (ranges: RingRange[], limit: number, after?: Uint8Array, scope: ServeScope = {}): Promise<RangeAnswer> {
    const { signal, mayList } = scope
    const set = new RangeSet(ranges)
    const mailboxes: DigestEntry[] = []
    if (set.isEmpty || limit === 0) return { mailboxes, more: false }
    // a page starts where the last one stopped: paging through n mailboxes reads each once
    for await (const { mailbox, listing } of this.store.iterateListings(after)) {
      signal?.throwIfAborted()
      if (!set.has(positionOf(mailbox))) continue
      if (mayList !== undefined && !mayList(mailbox)) continue
      if (mailboxes.length >= limit) return { mailboxes, more: true }
      mailboxes.push({ mailbox, digest: digestOfListing(listing) })
    }
    return { mailboxes, more: false }
  }

  /**
   * Bucket digests of the mailboxes held in `ranges` (that the requester may
   * list): grouped by the top `bits` bits of their ring position, each digest
   * SHA-256 over (mailbox || mailbox digest) in mailbox byte order, truncated.
   * Two members holding the same records in those arcs answer the same.
   */
  async buckets (ranges: RingRange[], bits: number, scope: ServeScope = {}): Promise<BucketEntry[]> {
    const { signal, mayList } = scope
    const set = new RangeSet(ranges)
    const acc = new BucketAccumulator(bits)
    if (set.isEmpty) return []
    for await (const { mailbox, listing } of this.store.iterateListings()) {
      signal?.throwIfAborted()
      const position = positionOf(mailbox)
      if (!set.has(position)) continue
      if (mayList !== undefined && !mayList(mailbox)) continue
      acc.add(mailbox, position, digestOfListing(listing))
      if (acc.size > MAX_BUCKETS) throw new SwarmProtocolError(`more than ${MAX_BUCKETS} buckets: ask with fewer bits`)
    }
    return acc.entries()
  }

  /** The hashes among `hashes` this member holds neither as a record nor as a tombstone. */
  async handoff (mailbox: Uint8Array, hashes: Uint8Array[], signal?: AbortSignal): Promise<Uint8Array[]> {
    const missing: Uint8Array[] = []
    for (const hash of hashes) {
      signal?.throwIfAborted()
      if (this.tombstones.has(mailbox, hash)) continue
      if (!await this.store.has(mailbox, hash)) missing.push(hash)
    }
    return missing
  }

  /**
   * Runs a decoded node-to-node request and encodes its answer body. The
   * server has checked who asks (and the owner's signature on reads and
   * deletes); `scope.signal` stops the work between entries.
   */
  async serve (request: SwarmRequest, scope: ServeScope = {}): Promise<Uint8Array> {
    scope.signal?.throwIfAborted()
    switch (request.op) {
      case SwarmOp.PUT: return encodePutAnswer(await this.put(request.record))
      case SwarmOp.GET: return encodePageAnswer(await this.get(request.mailbox, request.namespace, request.maxBytes, request.cursor))
      case SwarmOp.DELETE: return encodeCountAnswer(await this.delete(request))
      case SwarmOp.DELETE_ALL: return encodeCountAnswer(await this.deleteAll(request))
      case SwarmOp.DIGEST: return encodeDigestAnswer(await this.digest(request.entries, scope))
      case SwarmOp.FETCH: return encodeRecordsAnswer(await this.fetch(request.mailbox, request.hashes, request.maxBytes, scope))
      case SwarmOp.RANGE: return encodeRangeAnswer(await this.range(request.ranges, request.limit, request.after, scope))
      case SwarmOp.HANDOFF: return encodeHashesAnswer(await this.handoff(request.mailbox, request.hashes, scope.signal))
      case SwarmOp.WATCH: return encodePageAnswer(await this.watch(scope.peer ?? '', request))
      case SwarmOp.PUSH:
        checkRecordHash(request.record)
        this.onPush?.(request.record)
        return new Uint8Array(0)
      case SwarmOp.BUCKETS: return encodeBucketsAnswer(await this.buckets(request.ranges, request.bits, scope))
    }
  }
}

/** Bounds of one served request: its deadline, and which mailboxes the requester may list or copy. */
export interface ServeScope {
  signal?: AbortSignal
  /** Mailboxes whose swarm the requester belongs to; absent: all. */
  mayList?: (mailbox: Uint8Array) => boolean
  /** Who asks (a WATCH registers it as the watcher). */
  peer?: string
}
