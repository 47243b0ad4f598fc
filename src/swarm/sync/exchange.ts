import { RangeSet, arcsOf, bucketInterval, digestOfListing, intersectArcs } from './ranges.js'
import { BucketAccumulator } from './buckets.js'
import {
  MAX_BUCKETS, MAX_BUCKET_BITS, MAX_DIGEST_ENTRIES, MAX_PEER_PAGE_BYTES, MAX_RANGE_LIMIT, MAX_REQUEST_HASHES,
  type BucketEntry, type DigestEntry, type SignedDelete
} from '../peer/protocol.js'
import type { RingRange } from '../ring.js'
import { positionOf } from '../ring.js'
import { SwarmPeerStatus, swarmStatusOf } from '../status.js'
import { SwarmPeerStatusError } from '../service-errors.js'
import type { LocalReplica } from '../replica.js'
import type { SwarmPeers } from '../peer/peers.js'
import type { SwarmMetrics } from '../swarm-metrics.js'
import type { SwarmRecord } from '../record-codec.js'
import type { HashListing } from '../store/store-options.js'
import type { Logger } from '@libp2p/interface'

/** Mailboxes per RANGE page and per DIGEST request: the responders' caps. */
const RANGE_PAGE = MAX_RANGE_LIMIT
const DIGEST_BATCH = MAX_DIGEST_ENTRIES
/** Hashes per FETCH/HANDOFF/DELETE request. */
const HASH_BATCH = MAX_REQUEST_HASHES

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
export const fromHex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'))
const EMPTY_DIGEST = digestOfListing([])
/** Mailboxes per bucket aimed at on the first level: 2,048 buckets cover ~16,000 mailboxes at this, and more share. */
const MAILBOXES_PER_BUCKET = 8
/** First-level buckets at most: an answer of 2,048 × 24 bytes stays under 64 KiB. */
const MAX_FIRST_LEVEL_BITS = 11
/** A differing bucket holding more mailboxes than this (either side) is split again rather than listed. */
const SPLIT_ABOVE = 16

/** A mailbox this member holds, with what bucket comparison needs (callers keep them in mailbox byte order). */
export interface LocalMailbox {
  mailbox: Uint8Array
  position: bigint
  digest: Uint8Array
}

function bitsFor (count: number, max: number): number {
  let bits = 0
  while (bits < max && count / 2 ** bits > MAILBOXES_PER_BUCKET) bits++
  return bits
}

export interface MailboxExchangeInit {
  local: LocalReplica
  peers: SwarmPeers
  metrics: SwarmMetrics
  log: Logger
  /** Charges one record copied here to its mailbox's deposit budget; false defers the rest to a later round. */
  allowDeposit?: (mailbox: Uint8Array) => boolean
}

/**
 * The per-mailbox steps of churn handling and anti-entropy with one peer
 * (docs/protocol.md §10.6): listing a peer's mailboxes in ring arcs (RANGE),
 * comparing listings (DIGEST), copying records both ways (FETCH, PUT),
 * passing deletes on (DELETE) and handing a mailbox over (HANDOFF).
 */
export class MailboxExchange {
  private readonly init: MailboxExchangeInit
  private readonly log: Logger

  constructor (init: MailboxExchangeInit) {
    this.init = init
    this.log = init.log
  }

  /** Mailboxes in `owned` whose remote digest differs from ours. */
  async differing (remote: Map<string, Uint8Array>, owned: RangeSet): Promise<Uint8Array[]> {
    const out: Uint8Array[] = []
    for (const [id, digest] of remote) {
      const mailbox = fromHex(id)
      if (!owned.has(positionOf(mailbox))) continue
      const local = digestOfListing(await this.init.local.store.listHashes(mailbox))
      if (hex(local) !== hex(digest)) out.push(mailbox)
    }
    return out
  }

  /** (mailbox hex → digest) for every mailbox `peer` holds in `ranges`, all pages. */
  async remoteDigests (peer: string, ranges: Parameters<SwarmPeers['range']>[1]): Promise<Map<string, Uint8Array>> {
    const out = new Map<string, Uint8Array>()
    if (ranges.length === 0) return out
    // a RANGE request carries at most 65,535 arcs; more (huge rings) are asked in slices
    for (let i = 0; i < ranges.length; i += 0xffff) {
      const slice = ranges.slice(i, i + 0xffff)
      let after: Uint8Array | undefined
      for (;;) {
        const page = await this.init.peers.range(peer, slice, RANGE_PAGE, after)
        for (const e of page.mailboxes) out.set(hex(e.mailbox), Uint8Array.from(e.digest))
        if (!page.more || page.mailboxes.length === 0) break
        after = page.mailboxes[page.mailboxes.length - 1].mailbox
      }
    }
    return out
  }

  /**
   * The arcs of `shared` (arcs both members should hold) where `peer` and this
   * member may differ, found by comparing bucket digests (BUCKETS) rather than
   * listing every mailbox: identical replicas exchange one bucket list; a
   * differing bucket is split again when large, then listed (RANGE) by the
   * caller. `local` is what this member holds in `shared`, in byte order.
   */
  async differingArcs (peer: string, shared: RingRange[], local: LocalMailbox[]): Promise<RingRange[]> {
    if (shared.length === 0) return []
    const sharedSet = new RangeSet(shared)
    const bits = bitsFor(local.length, MAX_FIRST_LEVEL_BITS)
    const first = await this.init.peers.buckets(peer, arcsOf(sharedSet.intervals()), bits)
    const differing = compareBuckets(bucketize(local, bits), first)
    const listed: Array<[bigint, bigint]> = []
    const split: Array<{ bucket: number, count: number }> = []
    for (const d of differing) {
      if (d.count > SPLIT_ABOVE && bits < MAX_BUCKET_BITS) split.push(d)
      else listed.push(bucketInterval(d.bucket, bits))
    }
    // a second level: each large differing bucket cut so its sub-buckets hold about one mailbox each
    const sub = Math.min(MAX_BUCKET_BITS, bits + Math.min(12, Math.ceil(Math.log2(Math.max(...split.map(s => s.count), 2)))))
    const perRequest = Math.max(1, Math.floor(MAX_BUCKETS / 2 ** (sub - bits)))
    for (let i = 0; i < split.length; i += perRequest) {
      const group = split.slice(i, i + perRequest)
      const area = new RangeSet(arcsOf(group.map(g => bucketInterval(g.bucket, bits))))
      const arcs = intersectArcs(area, sharedSet)
      const theirs = await this.init.peers.buckets(peer, arcs, sub)
      const mine = bucketize(local.filter(m => area.has(m.position)), sub)
      for (const d of compareBuckets(mine, theirs)) listed.push(bucketInterval(d.bucket, sub))
    }
    if (listed.length === 0) return []
    return intersectArcs(new RangeSet(arcsOf(listed)), sharedSet)
  }

  /**
   * Reconciles `mailboxes` with one peer: DIGEST returns its listings where
   * they differ from ours; we fetch what it has and we lack (or hold with an
   * earlier expiry), push what we have and it lacks, and pass on deletes.
   */
  async exchange (peer: string, mailboxes: Uint8Array[], options: { push: boolean }): Promise<{ pulled: number, pushed: number }> {
    const moved = { pulled: 0, pushed: 0 }
    for (let i = 0; i < mailboxes.length; i += DIGEST_BATCH) {
      const batch = mailboxes.slice(i, i + DIGEST_BATCH)
      const locals = await Promise.all(batch.map(async m => this.init.local.store.listHashes(m)))
      const entries: DigestEntry[] = batch.map((mailbox, j) => ({ mailbox, digest: locals[j].length === 0 ? EMPTY_DIGEST : digestOfListing(locals[j]) }))
      const answers = await this.init.peers.digest(peer, entries)
      for (const [j, theirs] of answers.entries()) {
        if (theirs === undefined) continue
        const step = await this.reconcileMailbox(peer, batch[j], locals[j], theirs, options)
        moved.pulled += step.pulled
        moved.pushed += step.pushed
      }
    }
    return moved
  }

  private async reconcileMailbox (peer: string, mailbox: Uint8Array, ours: HashListing[], theirs: HashListing[], options: { push: boolean }): Promise<{ pulled: number, pushed: number }> {
    const { tombstones } = this.init.local
    const mine = new Map(ours.map(e => [hex(e.hash), e]))
    const seen = new Set<string>()
    const wanted: Uint8Array[] = []
    // the owners' signed deletes behind the tombstones of records the peer still holds
    const deletes = new Set<SignedDelete>()
    for (const e of theirs) {
      const id = hex(e.hash)
      seen.add(id)
      if (tombstones.has(mailbox, e.hash)) {
        const proof = tombstones.proofOf(mailbox, e.hash)
        if (proof !== undefined) deletes.add(proof)
        continue
      }
      const held = mine.get(id)
      if (held === undefined || held.expiry < e.expiry) wanted.push(e.hash)
    }
    let pulled = 0
    for (let i = 0; i < wanted.length;) {
      const records = await this.init.peers.fetch(peer, mailbox, wanted.slice(i, i + HASH_BATCH), MAX_PEER_PAGE_BYTES)
      if (records.length === 0) break
      i += records.length
      const step = await this.storeLocally(mailbox, records)
      pulled += step.stored
      if (step.deferred) break
    }
    this.init.metrics.syncRecords.inc({ action: 'pulled' }, pulled)
    if (!options.push) return { pulled, pushed: 0 }
    const theirsById = new Map(theirs.map(e => [hex(e.hash), e]))
    const toPush = ours.filter(e => {
      const other = theirsById.get(hex(e.hash))
      return other === undefined || other.expiry < e.expiry
    })
    const pushed = await this.pushRecords(peer, mailbox, toPush.map(e => e.hash))
    if (deletes.size > 0) await this.propagateDeletes(peer, deletes)
    return { pulled, pushed }
  }

  /** PUTs our copies of `hashes` to `peer`; returns how many it accepted. */
  private async pushRecords (peer: string, mailbox: Uint8Array, hashes: Uint8Array[]): Promise<number> {
    let pushed = 0
    for (const hash of hashes) {
      const record = await this.init.local.store.get(mailbox, hash)
      if (record === undefined) continue
      try {
        await this.init.peers.put(peer, record)
        pushed++
      } catch (err) {
        // the mailbox's deposit budget there is spent: the rest waits for a later round
        if (err instanceof SwarmPeerStatusError && err.status === SwarmPeerStatus.RATE_LIMITED) break
        // a full mailbox or node there is its operator's business; anything else ends this exchange
        if (swarmStatusOf(err) === undefined) throw err
      }
    }
    this.init.metrics.syncRecords.inc({ action: 'pushed' }, pushed)
    return pushed
  }

  /**
   * Passes the owners' signed deletes on to a peer that still holds records
   * they deleted: the peer verifies each signature itself. A refusal (say, a
   * replay of a delete it already ran) is its answer, not a failed exchange.
   */
  private async propagateDeletes (peer: string, deletes: Set<SignedDelete>): Promise<void> {
    for (const proof of deletes) {
      try {
        const n = await this.init.peers.delete(peer, proof)
        this.init.metrics.syncRecords.inc({ action: 'deletes_propagated' }, n)
      } catch (err) {
        if (swarmStatusOf(err) === undefined) throw err
      }
    }
  }

  /** Stores pulled records, each charged to the mailbox's deposit budget; `deferred` once that budget is spent. */
  private async storeLocally (mailbox: Uint8Array, records: SwarmRecord[]): Promise<{ stored: number, deferred: boolean }> {
    let stored = 0
    for (const record of records) {
      // a peer answers only for the mailbox asked; anything else is dropped
      if (hex(record.mailbox) !== hex(mailbox)) continue
      if (this.init.allowDeposit !== undefined && !this.init.allowDeposit(mailbox)) return { stored, deferred: true }
      try {
        await this.init.local.put(record)
        stored++
      } catch (err) {
        if (swarmStatusOf(err) === undefined) throw err
        this.log('a pulled record was refused - %e', err)
      }
    }
    return { stored, deferred: false }
  }

  /**
   * Offers a mailbox we no longer own to its owners and purges it once every
   * one of them confirms holding all of it. Anything short of that keeps it
   * (and the next round tries again).
   */
  async handOver (mailbox: Uint8Array, owners: string[]): Promise<'confirmed' | 'pending' | 'failed'> {
    const listing = await this.init.local.store.listHashes(mailbox)
    if (listing.length === 0) return 'confirmed'
    const hashes = listing.map(e => e.hash)
    try {
      for (const owner of owners) {
        let missing = await this.askMissing(owner, mailbox, hashes)
        if (missing.length > 0) {
          await this.pushRecords(owner, mailbox, missing)
          missing = await this.askMissing(owner, mailbox, hashes)
        }
        if (missing.length > 0) return 'pending'
      }
    } catch (err) {
      this.log('handover of a mailbox failed - %e', err)
      return 'failed'
    }
    // exactly the confirmed records: one deposited meanwhile stays until the next round hands it over
    let purged = 0
    for (const namespace of new Set(listing.map(e => e.namespace))) {
      purged += await this.init.local.store.delete(mailbox, namespace, listing.filter(e => e.namespace === namespace).map(e => e.hash))
    }
    this.init.metrics.syncRecords.inc({ action: 'purged' }, purged)
    return 'confirmed'
  }

  private async askMissing (owner: string, mailbox: Uint8Array, hashes: Uint8Array[]): Promise<Uint8Array[]> {
    const missing: Uint8Array[] = []
    for (let i = 0; i < hashes.length; i += HASH_BATCH) {
      missing.push(...await this.init.peers.handoff(owner, mailbox, hashes.slice(i, i + HASH_BATCH)))
    }
    return missing
  }
}

function bucketize (local: LocalMailbox[], bits: number): BucketEntry[] {
  const acc = new BucketAccumulator(bits)
  for (const m of local) acc.add(m.mailbox, m.position, m.digest)
  return acc.entries()
}

/** Buckets whose digests differ or that one side lacks, with the larger of the two counts. */
function compareBuckets (mine: BucketEntry[], theirs: BucketEntry[]): Array<{ bucket: number, count: number }> {
  const other = new Map(theirs.map(e => [e.bucket, e]))
  const out: Array<{ bucket: number, count: number }> = []
  for (const e of mine) {
    const t = other.get(e.bucket)
    other.delete(e.bucket)
    if (t === undefined || hex(t.digest) !== hex(e.digest)) out.push({ bucket: e.bucket, count: Math.max(e.count, t?.count ?? 0) })
  }
  for (const t of other.values()) out.push({ bucket: t.bucket, count: t.count })
  return out
}
