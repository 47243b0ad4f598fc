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

  /** The merged inclusive intervals, in order. */
  intervals (): Array<[bigint, bigint]> {
    return this.lo.map((l, i) => [l, this.hi[i]])
  }

  /** True when every position in `other` is in this set. */
  covers (other: RangeSet): boolean {
    return other.minus(this).isEmpty
  }

  /** The positions in either set. */
  union (other: RangeSet): RangeSet {
    return new RangeSet(arcsOf([...this.intervals(), ...other.intervals()]))
  }

  /** The positions in this set and not in `other`. */
  minus (other: RangeSet): RangeSet {
    const out: Array<[bigint, bigint]> = []
    let j = 0
    for (let i = 0; i < this.lo.length; i++) {
      let lo = this.lo[i]
      const hi = this.hi[i]
      while (j < other.lo.length && other.hi[j] < lo) j++
      let k = j
      while (lo <= hi && k < other.lo.length && other.lo[k] <= hi) {
        if (other.lo[k] > lo) out.push([lo, other.lo[k] - 1n])
        if (other.hi[k] >= hi) { lo = hi + 1n; break }
        lo = other.hi[k] + 1n
        k++
      }
      if (lo <= hi) out.push([lo, hi])
    }
    return new RangeSet(arcsOf(out))
  }

  /**
   * The entries whose positions lie in this set, in position order, from
   * `sorted` (ascending by position): a bisection per interval, not a scan of all.
   */
  * select<T extends { position: bigint }> (sorted: T[]): Generator<T> {
    for (let k = 0; k < this.lo.length; k++) {
      let a = 0
      let b = sorted.length
      while (a < b) {
        const m = (a + b) >>> 1
        if (sorted[m].position < this.lo[k]) a = m + 1
        else b = m
      }
      for (; a < sorted.length && sorted[a].position <= this.hi[k]; a++) yield sorted[a]
    }
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

/** Ring arcs (start, end] covering exactly the inclusive intervals given (the inverse of RangeSet). */
export function arcsOf (intervals: Array<[bigint, bigint]>): RingRange[] {
  return intervals.map(([lo, hi]) => ({ start: lo === 0n ? MAX_U64 : lo - 1n, end: hi }))
}

/** The positions in both sets, as arcs. */
export function intersectArcs (a: RangeSet, b: RangeSet): RingRange[] {
  const x = a.intervals()
  const y = b.intervals()
  const out: Array<[bigint, bigint]> = []
  let i = 0
  let j = 0
  while (i < x.length && j < y.length) {
    const lo = x[i][0] > y[j][0] ? x[i][0] : y[j][0]
    const hi = x[i][1] < y[j][1] ? x[i][1] : y[j][1]
    if (lo <= hi) out.push([lo, hi])
    if (x[i][1] < y[j][1]) i++
    else j++
  }
  return arcsOf(out)
}

/** Bucket `bucket` of the top `bits` bits of a ring position, as an inclusive interval. */
export function bucketInterval (bucket: number, bits: number): [bigint, bigint] {
  if (bits === 0) return [0n, MAX_U64]
  const shift = BigInt(64 - bits)
  const lo = BigInt(bucket) << shift
  return [lo, lo + (1n << shift) - 1n]
}

/** The bucket of a ring position: its top `bits` bits. */
export function bucketOf (position: bigint, bits: number): number {
  return bits === 0 ? 0 : Number(position >> BigInt(64 - bits))
}
