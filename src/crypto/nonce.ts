import { InvalidKeyError, NonceExhaustedError } from './errors.js'

/** Layer nonce size (ChaCha20-Poly1305, IETF). */
export const NONCE_BYTES = 12
const COUNTER_MAX_WORD = 0xffffffff

/**
 * Per-direction AEAD nonce sequence: nonce(n) = base XOR (0^32 || n as u64 BE).
 *
 * The counter is implicit (both ends advance it per cell on an ordered link), so it
 * never appears on the wire. It is kept as two u32 words to stay off BigInt on the
 * hot path. Every value 0 .. 2^64-1 is used once; asking for more throws
 * NonceExhaustedError rather than wrapping around to a repeated nonce.
 */
export class NonceCounter {
  private readonly base: Uint8Array
  private readonly nonce = new Uint8Array(NONCE_BYTES)
  private hi: number
  private lo: number
  private exhausted = false

  /**
   * @param base - 12-byte nonce base from the key derivation
   * @param start - first counter value (tests use it to reach exhaustion)
   */
  constructor (base: Uint8Array, start: bigint = 0n) {
    if (base.byteLength !== NONCE_BYTES) {
      throw new InvalidKeyError(`nonce base must be ${NONCE_BYTES} bytes`)
    }
    if (start < 0n || start > 0xffffffffffffffffn) {
      throw new InvalidKeyError('nonce counter start out of range')
    }
    this.base = Uint8Array.from(base)
    this.hi = Number(start >> 32n)
    this.lo = Number(start & 0xffffffffn)
    this.nonce.set(this.base.subarray(0, 4), 0)
  }

  /** Counter value the next call to `next()` will use. */
  get value (): bigint {
    if (this.exhausted) return 1n << 64n
    return (BigInt(this.hi) << 32n) | BigInt(this.lo)
  }

  /**
   * The nonce for the current counter value, then advance. The returned buffer is
   * reused by the next call: consume it (e.g. pass it to createCipheriv, which
   * copies it) before calling again.
   */
  next (): Uint8Array {
    const nonce = this.current()
    this.advance()
    return nonce
  }

  /**
   * The nonce for the current counter value without advancing: an opener that may
   * try the same cell twice (see ClientCircuitCrypto.openBackwardFromAny) advances
   * only once a layer authenticates. Same buffer-reuse rule as next().
   */
  current (): Uint8Array {
    if (this.exhausted) {
      throw new NonceExhaustedError()
    }
    const { base, nonce, hi, lo } = this
    nonce[4] = base[4] ^ (hi >>> 24)
    nonce[5] = base[5] ^ ((hi >>> 16) & 0xff)
    nonce[6] = base[6] ^ ((hi >>> 8) & 0xff)
    nonce[7] = base[7] ^ (hi & 0xff)
    nonce[8] = base[8] ^ (lo >>> 24)
    nonce[9] = base[9] ^ ((lo >>> 16) & 0xff)
    nonce[10] = base[10] ^ ((lo >>> 8) & 0xff)
    nonce[11] = base[11] ^ (lo & 0xff)
    return nonce
  }

  /** Mark the current counter value used. */
  advance (): void {
    if (this.exhausted) {
      throw new NonceExhaustedError()
    }
    if (this.lo === COUNTER_MAX_WORD) {
      if (this.hi === COUNTER_MAX_WORD) {
        this.exhausted = true
      } else {
        this.hi++
        this.lo = 0
      }
    } else {
      this.lo++
    }
  }
}
