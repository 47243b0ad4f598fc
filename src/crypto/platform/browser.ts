import { ctr } from '@noble/ciphers/aes.js'
import { ed25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { InvalidKeyError } from '../errors.js'
import { nobleAeadOpenInPlace, nobleAeadSealInPlace, nobleX25519, nobleX25519PublicKey } from '../noble.js'
import type { CryptoPlatform } from './types.js'

/**
 * The browser implementation: WebCrypto's CSPRNG (`crypto.getRandomValues`, the
 * one WebCrypto call that is synchronous) and `@noble/*` for everything else.
 * No node:* import: this module is what `npm run build:browser` bundles.
 */

const KEY_BYTES = 32
/** getRandomValues refuses more than 65,536 bytes per call. */
const MAX_RANDOM_CALL_BYTES = 65_536
const ZERO_IV = new Uint8Array(16)

function assertBytes (bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) throw new InvalidKeyError(`${what} must be ${length} bytes`)
}

function randomFill<T extends Uint8Array> (target: T): T {
  for (let at = 0; at < target.byteLength; at += MAX_RANDOM_CALL_BYTES) {
    globalThis.crypto.getRandomValues(target.subarray(at, Math.min(target.byteLength, at + MAX_RANDOM_CALL_BYTES)))
  }
  return target
}

/** A usable Ed25519 public key: canonical, on the curve, not of small order. */
function edPoint (publicKey: Uint8Array): void {
  assertBytes(publicKey, KEY_BYTES, 'Ed25519 public key')
  let point
  try {
    point = (ed25519.Point as unknown as { fromBytes: (bytes: Uint8Array, zip215: boolean) => { isSmallOrder: () => boolean } }).fromBytes(publicKey, false)
  } catch (err) {
    throw new InvalidKeyError('not a usable Ed25519 public key', { cause: err })
  }
  if (point.isSmallOrder()) throw new InvalidKeyError('not a usable Ed25519 public key (small order)')
}

export const platform: CryptoPlatform = {
  name: 'browser',
  randomFill,
  randomFillAt: (target, offset, length) => { randomFill(target.subarray(offset, offset + length)) },
  randomInt: (min, max) => {
    const range = max - min
    if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || range <= 0 || range > 2 ** 32) throw new RangeError('randomInt needs min < max and a range of at most 2^32')
    // rejection sampling: no modulo bias
    const limit = 2 ** 32 - (2 ** 32 % range)
    const word = new Uint32Array(1)
    for (;;) {
      globalThis.crypto.getRandomValues(word)
      if (word[0] < limit) return min + (word[0] % range)
    }
  },
  sha256: (data) => sha256(data),
  hmacSha256: (key, message) => hmac(sha256, key, message),
  hkdfSha256: (ikm, salt, info, length) => hkdf(sha256, ikm, salt, info, length),
  aes256CtrZeroIv: (key, input) => ctr(key, ZERO_IV).encrypt(input),
  aeadSealInPlace: nobleAeadSealInPlace,
  aeadOpenInPlace: nobleAeadOpenInPlace,
  x25519PublicKey: nobleX25519PublicKey,
  x25519: nobleX25519,
  ed25519PublicKey: (seed) => {
    assertBytes(seed, KEY_BYTES, 'Ed25519 seed')
    return ed25519.getPublicKey(seed)
  },
  ed25519Sign: (seed, message) => {
    assertBytes(seed, KEY_BYTES, 'Ed25519 seed')
    return ed25519.sign(message, seed)
  },
  ed25519Verify: (publicKey, message, signature) => {
    if (publicKey.byteLength !== KEY_BYTES || signature.byteLength !== 64) return false
    try {
      // RFC 8032 strict (canonical encodings), as OpenSSL verifies on Node
      return ed25519.verify(signature, message, publicKey, { zip215: false })
    } catch {
      return false
    }
  },
  ed25519PublicToX25519: (publicKey) => {
    edPoint(publicKey)
    return ed25519.utils.toMontgomery(publicKey)
  },
  ed25519SeedToX25519: (seed) => {
    assertBytes(seed, KEY_BYTES, 'Ed25519 seed')
    return ed25519.utils.toMontgomerySecret(seed)
  },
  equal: (a, b) => {
    if (a.byteLength !== b.byteLength) return false
    let diff = 0
    for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i]
    return diff === 0
  }
}
