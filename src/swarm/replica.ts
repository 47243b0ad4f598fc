import { positionOf } from './ring.js'
import { RangeSet, digestOfListing } from './ranges.js'
import {
  MAX_PEER_PAGE_BYTES, SwarmOp, encodeCountAnswer, encodeDigestAnswer, encodeHashesAnswer, encodePageAnswer, encodePutAnswer,
  encodeRangeAnswer, encodeRecordsAnswer, type DigestAnswer, type DigestEntry, type PageAnswer, type PutAnswer, type RangeAnswer,
  type SwarmRequest
} from './protocol.js'
import { encodedRecordSize, type SwarmRecord } from './record-codec.js'
import { SwarmNotReadyError } from './service-errors.js'
import type { RingRange } from './ring.js'
import type { MessageStore } from './store.js'
import type { Tombstones } from './tombstones.js'

export interface LocalReplicaInit {
  store: MessageStore
  tombstones: Tombstones
  /** False while this member is still pulling the range a mailbox lies in. */
  isReady: (mailbox: Uint8Array) => boolean
  /** Longest TTL: how long a tombstone for a record of unknown expiry is kept. */
  maxTtlMs: number
  now: () => number
}

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
  private readonly now: () => number

  constructor (init: LocalReplicaInit) {
    this.store = init.store
    this.tombstones = init.tombstones
    this.isReady = init.isReady
    this.maxTtlMs = init.maxTtlMs
    this.now = init.now
  }

  /** Stores a record; a copy of a deleted record is acknowledged but not stored. */
  async put (record: SwarmRecord): Promise<PutAnswer> {
    if (this.tombstones.blocks(record.mailbox, record.hash, record.timestamp)) return { stored: false, expiry: record.expiry }
    return this.store.put(record)
  }

  async get (mailbox: Uint8Array, namespace: number, maxBytes: number, cursor?: Uint8Array): Promise<PageAnswer> {
    if (!this.isReady(mailbox)) throw new SwarmNotReadyError()
    const page = await this.store.retrieve(mailbox, namespace, { maxBytes: Math.min(maxBytes, MAX_PEER_PAGE_BYTES), ...(cursor !== undefined ? { cursor } : {}) })
    return page.nextCursor !== undefined ? { records: page.records, nextCursor: page.nextCursor } : { records: page.records }
  }

  async delete (mailbox: Uint8Array, namespace: number, hashes: Uint8Array[]): Promise<number> {
    await this.remember(mailbox, hashes)
    return this.store.delete(mailbox, namespace, hashes)
  }

  /** Deletes the records stored at or before `before` (the owner's signed timestamp), leaving tombstones. */
  async deleteAll (mailbox: Uint8Array, namespace: number | undefined, before: number): Promise<number> {
    const listing = await this.store.listHashes(mailbox)
    for (const e of listing) {
      if ((namespace === undefined || e.namespace === namespace) && (e.timestamp ?? 0) <= before) this.tombstones.add(mailbox, e.hash, before, e.expiry)
    }
    return this.store.deleteAll(mailbox, namespace, before)
  }

  /** Per entry: undefined when our digest matches, else our listing (hash order). */
  async digest (entries: DigestEntry[], signal?: AbortSignal): Promise<DigestAnswer> {
    const out: DigestAnswer = []
    for (const { mailbox, digest } of entries) {
      signal?.throwIfAborted()
      const listing = await this.store.listHashes(mailbox)
      out.push(sameBytes(digestOfListing(listing), digest) ? undefined : listing)
    }
    return out
  }

  /** The live records among `hashes`, stopping before `maxBytes` (at least one). */
  async fetch (mailbox: Uint8Array, hashes: Uint8Array[], maxBytes: number, signal?: AbortSignal): Promise<SwarmRecord[]> {
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

  /** Mailboxes held whose ring position lies in `ranges`, after `after`, with their digests. */
  async range (ranges: RingRange[], limit: number, after?: Uint8Array, signal?: AbortSignal): Promise<RangeAnswer> {
    const set = new RangeSet(ranges)
    const mailboxes: DigestEntry[] = []
    if (set.isEmpty || limit === 0) return { mailboxes, more: false }
    for await (const mailbox of this.store.iterateMailboxes()) {
      signal?.throwIfAborted()
      if (after !== undefined && Buffer.compare(bufferOf(mailbox), bufferOf(after)) <= 0) continue
      if (!set.has(positionOf(mailbox))) continue
      if (mailboxes.length >= limit) return { mailboxes, more: true }
      const listing = await this.store.listHashes(mailbox)
      if (listing.length > 0) mailboxes.push({ mailbox, digest: digestOfListing(listing) })
    }
    return { mailboxes, more: false }
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

  /** Runs a decoded node-to-node request and encodes its answer body; `signal` stops its work between entries. */
  async serve (request: SwarmRequest, signal?: AbortSignal): Promise<Uint8Array> {
    signal?.throwIfAborted()
    switch (request.op) {
      case SwarmOp.PUT: return encodePutAnswer(await this.put(request.record))
      case SwarmOp.GET: return encodePageAnswer(await this.get(request.mailbox, request.namespace, request.maxBytes, request.cursor))
      case SwarmOp.DELETE: return encodeCountAnswer(await this.delete(request.mailbox, request.namespace, request.hashes))
      case SwarmOp.DELETE_ALL: return encodeCountAnswer(await this.deleteAll(request.mailbox, request.namespace, request.before))
      case SwarmOp.DIGEST: return encodeDigestAnswer(await this.digest(request.entries, signal))
      case SwarmOp.FETCH: return encodeRecordsAnswer(await this.fetch(request.mailbox, request.hashes, request.maxBytes, signal))
      case SwarmOp.RANGE: return encodeRangeAnswer(await this.range(request.ranges, request.limit, request.after, signal))
      case SwarmOp.HANDOFF: return encodeHashesAnswer(await this.handoff(request.mailbox, request.hashes, signal))
    }
  }

  /** Tombstones for records about to be deleted, with their expiries where we hold them. */
  private async remember (mailbox: Uint8Array, hashes: Uint8Array[]): Promise<void> {
    const now = this.now()
    for (const hash of hashes) {
      const record = await this.store.get(mailbox, hash)
      this.tombstones.add(mailbox, hash, record?.timestamp ?? now, record?.expiry ?? now + this.maxTtlMs)
    }
  }
}
