import { createHash } from 'node:crypto'
import { writeU64 } from '../record-codec.js'
import type { RingRange } from '../ring.js'
import type { HashListing } from '../store/store-options.js'

const MAX_U64 = (1n << 64n) - 1n

/**
 * A set of ring arcs for fast membership tests: RingRange's (start, end]
 * wrapping arcs turned into sorted, merged, inclusive [lo, hi] intervals and
 * searched by bisection, so filtering a store's mailboxes against thousands
 * of arcs (2,048 vnodes × R per member) costs O(log n) per mailbox.
 */
export class RangeSet {
  private readonly lo: bigint[] = []
  private readonly hi: bigint[] = []

  constructor (ranges: RingRange[]) {
    const intervals: Array<[bigint, bigint]> = []
    for (const { start, end } of ranges) {
      if (start === end) intervals.push([0n, MAX_U64])
      else if (start < end) intervals.push([start + 1n, end])
      else {
        if (start < MAX_U64) intervals.push([start + 1n, MAX_U64])
        intervals.push([0n, end])
      }
    }
    intervals.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    for (const [l, h] of intervals) {
      const last = this.hi.length - 1
      if (last >= 0 && l <= this.hi[last] + 1n) {
        if (h > this.hi[last]) this.hi[last] = h
      } else {
        this.lo.push(l)
        this.hi.push(h)
      }
    }
  }

  get isEmpty (): boolean {
    return this.lo.length === 0
  }

  has (position: bigint): boolean {
    let a = 0
    let b = this.lo.length
    while (a < b) {
      const m = (a + b) >>> 1
      if (this.lo[m] <= position) a = m + 1
      else b = m
    }
    return a > 0 && position <= this.hi[a - 1]
  }
}

/** The same digest as MessageStore.digest(), from a listing already read (hash order). */
export function digestOfListing (listing: HashListing[]): Uint8Array {
  const h = createHash('sha256')
  const expiry = Buffer.alloc(8)
  for (const e of listing) {
    writeU64(expiry, 0, e.expiry)
    h.update(e.hash).update(expiry)
  }
  return h.digest()
}
