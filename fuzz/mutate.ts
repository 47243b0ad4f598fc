import {
  CELL_PAYLOAD_BYTES, CELL_SIZE, CREATE_HEADER_BYTES, RELAY_BODY_BYTES, RELAY_DATA_BYTES
} from '../src/wire/onion-format.js'

/**
 * Byte-level mutations shared by every target: bit flips, interesting integers
 * and sizes (cell, payload and body boundaries), truncation, splicing with other
 * inputs, range copies, deletions and insertions. Targets add structure-aware
 * mutations of their own through FuzzTarget.mutate.
 */

const INTERESTING_U8 = [0x00, 0x01, 0x02, 0x05, 0x7f, 0x80, 0xfe, 0xff]
const INTERESTING_U16 = [0, 1, 0xff, 0x100, RELAY_DATA_BYTES, RELAY_DATA_BYTES + 1, RELAY_BODY_BYTES, CELL_SIZE, 0x7fff, 0x8000, 0xfffe, 0xffff]
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]
export const INTERESTING_SIZES = [0, 1, 4, 5, 11, 96, CREATE_HEADER_BYTES, RELAY_BODY_BYTES, CELL_PAYLOAD_BYTES, CELL_SIZE - 1, CELL_SIZE, CELL_SIZE + 1, 2 * CELL_SIZE]

/** mulberry32: tiny, seedable, good enough to drive mutations reproducibly. */
export class Prng {
  private state: number
  constructor (seed: number) { this.state = seed >>> 0 }
  next (): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  int (n: number): number { return Math.floor(this.next() * n) }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }
  bytes (n: number): Uint8Array { return Uint8Array.from({ length: n }, () => this.int(256)) }
}

function writeInt (out: Uint8Array, at: number, value: number, width: number, littleEndian: boolean): void {
  for (let i = 0; i < width && at + i < out.length; i++) {
    const shift = 8 * (littleEndian ? i : width - 1 - i)
    out[at + i] = Math.floor(value / 2 ** shift) & 0xff
  }
}

/** One random mutation of `input` (never in place). */
export function mutate (rng: Prng, input: Uint8Array, pool: readonly Uint8Array[], maxBytes: number): Uint8Array {
  let out = input.slice()
  const at = (): number => rng.int(Math.max(out.length, 1))
  switch (rng.int(12)) {
    case 0: if (out.length > 0) { const p = at(); out[p] ^= 1 << rng.int(8) } break
    case 1: if (out.length > 0) out[at()] = rng.int(256); break
    case 2: if (out.length > 0) out[at()] = rng.pick(INTERESTING_U8); break
    case 3: writeInt(out, at(), rng.pick(INTERESTING_U16), 2, rng.int(4) === 0); break
    case 4: writeInt(out, at(), rng.pick(INTERESTING_U32), 4, rng.int(4) === 0); break
    case 5: out = out.subarray(0, rng.int(out.length + 1)).slice(); break
    case 6: { const size = rng.pick(INTERESTING_SIZES); const next = new Uint8Array(size); next.set(out.subarray(0, size)); out = next; break }
    case 7: { const extra = rng.bytes(1 + rng.int(64)); const next = new Uint8Array(out.length + extra.length); next.set(out); next.set(extra, out.length); out = next; break }
    case 8: { // splice: head of this input, tail of another
      const other = rng.pick(pool)
      const cut = rng.int(out.length + 1)
      const from = rng.int(other.length + 1)
      const next = new Uint8Array(cut + other.length - from)
      next.set(out.subarray(0, cut))
      next.set(other.subarray(from), cut)
      out = next
      break
    }
    case 9: { // copy a range over another position
      if (out.length < 2) break
      const src = at(); const len = 1 + rng.int(Math.min(64, out.length - src)); const dst = at()
      out.copyWithin(dst, src, src + len)
      break
    }
    case 10: { // delete a range
      const start = at(); const len = rng.int(Math.min(64, out.length - start) + 1)
      const next = new Uint8Array(out.length - len)
      next.set(out.subarray(0, start)); next.set(out.subarray(start + len), start)
      out = next
      break
    }
    default: { // insert random bytes
      const start = rng.int(out.length + 1); const extra = rng.bytes(1 + rng.int(16))
      const next = new Uint8Array(out.length + extra.length)
      next.set(out.subarray(0, start)); next.set(extra, start); next.set(out.subarray(start), start + extra.length)
      out = next
    }
  }
  return out.length > maxBytes ? out.slice(0, maxBytes) : out
}
