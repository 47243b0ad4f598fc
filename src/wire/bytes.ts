
/**
 * Bounds-checked big-endian reader and growable writer shared by the binary
 * codecs (swarm frames and exit bodies, membership documents). A read past the
 * end throws the error the codec's `fail` makes, never a RangeError, so
 * garbage from the wire always ends in a typed error of that codec.
 */

const TWO_POW_32 = 2 ** 32
/** Largest high word of a u64 that still fits a safe integer (2^53 - 1). */
const MAX_SAFE_HIGH_WORD = 0x1fffff

export class Reader {
  private readonly bytes: Uint8Array
  private readonly view: DataView
  private offset = 0
  private readonly fail: (message: string) => Error

  constructor (bytes: Uint8Array, fail: (message: string) => Error) {
    this.bytes = bytes
    this.fail = fail
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  get remaining (): number {
    return this.bytes.byteLength - this.offset
  }

  private need (n: number, what: string): number {
    if (this.remaining < n) throw this.fail(`truncated ${what}: need ${n} bytes, ${this.remaining} left`)
    const at = this.offset
    this.offset += n
    return at
  }

  u8 (what = 'u8'): number {
    return this.view.getUint8(this.need(1, what))
  }

  u16 (what = 'u16'): number {
    return this.view.getUint16(this.need(2, what))
  }

  i16 (what = 'i16'): number {
    return this.view.getInt16(this.need(2, what))
  }

  u32 (what = 'u32'): number {
    return this.view.getUint32(this.need(4, what))
  }

  /** u64 that must fit a safe integer (timestamps, expiries). */
  u64 (what = 'u64'): number {
    const at = this.need(8, what)
    const high = this.view.getUint32(at)
    if (high > MAX_SAFE_HIGH_WORD) throw this.fail(`${what} exceeds 2^53 - 1`)
    return high * TWO_POW_32 + this.view.getUint32(at + 4)
  }

  /** u64 read as a bigint (ring positions). */
  u64n (what = 'u64'): bigint {
    return this.view.getBigUint64(this.need(8, what))
  }

  /** A view (no copy) of the next `n` bytes. */
  bytesOf (n: number, what = 'bytes'): Uint8Array {
    const at = this.need(n, what)
    return this.bytes.subarray(at, at + n)
  }

  /** Everything left, as a view. */
  rest (): Uint8Array {
    const at = this.offset
    this.offset = this.bytes.byteLength
    return this.bytes.subarray(at)
  }

  /** Throws unless every byte was consumed: encodings are canonical. */
  end (what: string): void {
    if (this.remaining !== 0) throw this.fail(`${this.remaining} trailing bytes after ${what}`)
  }
}

export class Writer {
  private buf: Uint8Array
  private view: DataView
  private length = 0

  constructor (initialBytes = 256) {
    this.buf = new Uint8Array(initialBytes)
    this.view = new DataView(this.buf.buffer)
  }

  private room (n: number): number {
    if (this.length + n > this.buf.byteLength) {
      const bigger = new Uint8Array(Math.max(this.buf.byteLength * 2, this.length + n))
      bigger.set(this.buf.subarray(0, this.length))
      this.buf = bigger
      this.view = new DataView(bigger.buffer)
    }
    const at = this.length
    this.length += n
    return at
  }

  u8 (v: number): this {
    const at = this.room(1)
    this.view.setUint8(at, v)
    return this
  }

  u16 (v: number): this {
    const at = this.room(2)
    this.view.setUint16(at, v)
    return this
  }

  i16 (v: number): this {
    const at = this.room(2)
    this.view.setInt16(at, v)
    return this
  }

  u32 (v: number): this {
    const at = this.room(4)
    this.view.setUint32(at, v)
    return this
  }

  u64 (v: number): this {
    const at = this.room(8)
    this.view.setUint32(at, Math.floor(v / TWO_POW_32))
    this.view.setUint32(at + 4, v >>> 0)
    return this
  }

  u64n (v: bigint): this {
    const at = this.room(8)
    this.view.setBigUint64(at, v)
    return this
  }

  bytes (b: Uint8Array): this {
    // room() may replace the buffer: take the offset first
    const at = this.room(b.byteLength)
    this.buf.set(b, at)
    return this
  }

  finish (): Uint8Array {
    return this.buf.subarray(0, this.length)
  }
}

const HEX = /^(?:[0-9a-f]{2})*$/i

/** Lowercase hex of `bytes` (no Buffer: this module runs in browsers too). */
export function bytesToHex (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.byteLength; i++) out += bytes[i].toString(16).padStart(2, '0')
  return out
}

/** Bytes of an even-length hex string; throws RangeError for anything else. */
export function hexToBytes (hex: string): Uint8Array {
  if (!HEX.test(hex)) throw new RangeError('not an even-length hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.byteLength; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}
