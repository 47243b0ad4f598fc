import type { SignedNodeRecord, VerifiedNodeRecord } from './node-record.js'
import type { PeerId } from '@libp2p/interface'

/** Records held at most; a full store refuses new peers (updates of known peers still apply). */
export const DEFAULT_DIRECTORY_MAX_RECORDS = 10_000

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
    return { outcome, previous }
  }

  /** Removes the record of `peerId` (no longer a member); returns it if held. */
  remove (peerId: PeerId | string): VerifiedNodeRecord | undefined {
    const key = peerId.toString()
    const held = this.records.get(key)
    if (held == null || key === this.self) return undefined
    this.records.delete(key)
    this.snapshot = undefined
    return held
  }

  /** Removes and returns every record whose validUntil is at or before `now`. */
  sweep (now: number): VerifiedNodeRecord[] {
    const expired: VerifiedNodeRecord[] = []
    for (const [key, record] of this.records) {
      if (record.validUntil <= now) {
        this.records.delete(key)
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

  private othersCount (): number {
    return this.self != null && this.records.has(this.self) ? this.records.size - 1 : this.records.size
  }
}
