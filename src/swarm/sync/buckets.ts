import { createHash, type Hash } from 'node:crypto'
import { BUCKET_DIGEST_BYTES, type BucketEntry } from '../peer/protocol.js'
import { bucketOf } from './ranges.js'

/**
 * Bucket digests for anti-entropy (docs/protocol.md §10.6): mailboxes grouped
 * by the top `bits` bits of their ring position, each bucket's digest SHA-256
 * over (mailbox || mailbox digest) of its mailboxes, fed in mailbox byte order,
 * truncated to 16 bytes. The responder (BUCKETS) and the requester compute it
 * the same way, so equal digests mean the same mailboxes with the same records.
 */
export class BucketAccumulator {
  private readonly bits: number
  private readonly buckets = new Map<number, { hash: Hash, count: number }>()

  constructor (bits: number) {
    this.bits = bits
  }

  get size (): number {
    return this.buckets.size
  }

  /** Adds one mailbox; callers add mailboxes in byte order. */
  add (mailbox: Uint8Array, position: bigint, digest: Uint8Array): void {
    const b = bucketOf(position, this.bits)
    let entry = this.buckets.get(b)
    if (entry === undefined) this.buckets.set(b, entry = { hash: createHash('sha256'), count: 0 })
    entry.hash.update(mailbox).update(digest)
    entry.count++
  }

  /** The non-empty buckets, in bucket order. */
  entries (): BucketEntry[] {
    return [...this.buckets.entries()]
      .sort((x, y) => x[0] - y[0])
      .map(([bucket, e]) => ({ bucket, count: e.count, digest: e.hash.digest().subarray(0, BUCKET_DIGEST_BYTES) }))
  }
}
