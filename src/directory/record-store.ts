import { platform } from '../crypto/platform/index.js'
import type { SignedNodeRecord, VerifiedNodeRecord } from './node-record.js'
import type { PeerId } from '@libp2p/interface'

/** Records held at most; a full store refuses new peers (updates of known peers still apply). */
export const DEFAULT_DIRECTORY_MAX_RECORDS = 10_000

/** Bytes of a change-log epoch: new each time a store is created, so a cursor from before a restart is never reused. */
export const CHANGE_EPOCH_BYTES = 8

/** Where an asker stands in a responder's change log. */
export interface ChangeCursor {
  epoch: Uint8Array
  seq: number
}

/** What offering a record did. */
export type OfferOutcome = 'added' | 'updated' | 'stale' | 'full'

/**
 * The verified records a node knows, one per peer, bounded. The newest version
 * of a peer's record replaces older ones; a record with the same version as the
 * held one is ignored (first seen wins), so a peer that signs two records with
 * one version cannot make nodes flip between them.
 *
 * Refusing new peers when full (rather than evicting) keeps records already
 * held from being flushed out by a burst of freshly generated identities.
 */
export class RecordStore {
  readonly maxRecords: number
  private readonly records = new Map<string, VerifiedNodeRecord>()
  private readonly self?: string
  /** Encoded records in serving order, rebuilt lazily after a change. */
  private snapshot?: Uint8Array[]
  /** This store's change log: each held record's key with the sequence number of its last change, oldest change first. */
  readonly epoch: Uint8Array = platform.randomFill(new Uint8Array(CHANGE_EPOCH_BYTES))
  private readonly changes = new Map<string, number>()
  private seq = 0

  /** `self` is never counted against the bound, so a full store can still hold our own record. */
  constructor (maxRecords = DEFAULT_DIRECTORY_MAX_RECORDS, self?: PeerId) {
    this.maxRecords = maxRecords
    this.self = self?.toString()
  }

  get size (): number {
    return this.records.size
  }

  get (peerId: PeerId | string): VerifiedNodeRecord | undefined {
    return this.records.get(peerId.toString())
  }

  has (peerId: PeerId | string): boolean {
    return this.records.has(peerId.toString())
  }

  all (): VerifiedNodeRecord[] {
    return [...this.records.values()]
  }

  /**
   * Would a record with this peer and version be taken? Lets callers skip the
   * signature check for records they would drop anyway.
   */
  wouldAccept (record: SignedNodeRecord): OfferOutcome {
    const key = record.peerId.toString()
    const held = this.records.get(key)
    if (held != null) return record.version > held.version ? 'updated' : 'stale'
    if (key !== this.self && this.othersCount() >= this.maxRecords) return 'full'
    return 'added'
  }

  /** Stores the record if it is new or newer; returns what happened and the record it replaced. */
  offer (record: VerifiedNodeRecord): { outcome: OfferOutcome, previous?: VerifiedNodeRecord } {
    const outcome = this.wouldAccept(record)
    if (outcome === 'stale' || outcome === 'full') return { outcome }
    const key = record.peerId.toString()
    const previous = this.records.get(key)
    this.records.set(key, record)
    this.snapshot = undefined
    this.changes.delete(key)
    this.changes.set(key, ++this.seq)
    return { outcome, previous }
  }

  /** Removes the record of `peerId` (no longer a member); returns it if held. */
  remove (peerId: PeerId | string): VerifiedNodeRecord | undefined {
    const key = peerId.toString()
    const held = this.records.get(key)
    if (held == null || key === this.self) return undefined
    this.records.delete(key)
    this.changes.delete(key)
    this.snapshot = undefined
    return held
  }

  /** Removes and returns every record whose validUntil is at or before `now`. */
  sweep (now: number): VerifiedNodeRecord[] {
    const expired: VerifiedNodeRecord[] = []
    for (const [key, record] of this.records) {
      if (record.validUntil <= now) {
        this.records.delete(key)
        this.changes.delete(key)
        expired.push(record)
      }
    }
    if (expired.length > 0) this.snapshot = undefined
    return expired
  }

  /**
   * Encoded records to serve, own record first, stopping before `maxBytes`
   * (counting a 4-byte length prefix per record as a safe upper bound).
   */
  encoded (maxBytes: number): Uint8Array[] {
    if (this.snapshot == null) {
      const own = this.self == null ? undefined : this.records.get(this.self)
      const rest = [...this.records.values()].filter(r => r !== own)
      this.snapshot = (own == null ? rest : [own, ...rest]).map(r => r.bytes)
    }
    const out: Uint8Array[] = []
    let total = 0
    for (const bytes of this.snapshot) {
      total += bytes.byteLength + 4
      if (total > maxBytes) break
      out.push(bytes)
    }
    return out
  }

  /**
   * The records added or updated after `since` (this store's cursor; another
   * epoch, or a sequence number ahead of ours, means everything), oldest change
   * first, stopping before `maxBytes` (4 bytes of length prefix counted per
   * record). The returned cursor is where the asker stands afterwards: past the
   * last record sent, or at the newest change when all of them fit. Removals
   * are not sent: every node drops expired and non-member records itself.
   */
  changedSince (since: ChangeCursor | undefined, maxBytes: number, include: (record: VerifiedNodeRecord) => boolean = () => true): { records: Uint8Array[], cursor: ChangeCursor } {
    const from = since !== undefined && sameEpoch(since.epoch, this.epoch) && since.seq <= this.seq ? since.seq : 0
    const records: Uint8Array[] = []
    let through = from
    let total = 0
    for (const [key, seq] of this.changes) {
      if (seq <= from) continue
      const record = this.records.get(key)
      if (record === undefined) continue
      if (include(record)) {
        total += record.bytes.byteLength + 4
        if (total > maxBytes) return { records, cursor: { epoch: this.epoch, seq: through } }
        records.push(record.bytes)
      }
      through = seq
    }
    return { records, cursor: { epoch: this.epoch, seq: this.seq } }
  }

  private othersCount (): number {
    return this.self != null && this.records.has(this.self) ? this.records.size - 1 : this.records.size
  }
}

/** Whether two change-log epochs are the same (public values: no constant-time compare needed). */
export function sameEpoch (a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}
