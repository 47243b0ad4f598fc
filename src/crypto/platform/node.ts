import { createCipheriv, createSecretKey, randomInt as nodeRandomInt, timingSafeEqual } from 'node:crypto'
import sodium from 'sodium-native'
import { aeadOpenInPlace, aeadSealInPlace } from '../aead.js'
import { verifyEd25519 } from '../ed25519.js'
import { InvalidKeyError } from '../errors.js'
import { hkdfSha256, hmacSha256Into } from '../kdf.js'
import { randomFill, randomFillAt } from '../random.js'
import { x25519Raw } from '../x25519.js'
import type { CryptoPlatform } from './types.js'

/**
 * The Node implementation: libsodium through `sodium-native` for everything on a
 * relay's or client's per-message path, node:crypto for AES-CTR (one call per
 * CREATE hop) and for Ed25519 verification (the relays' existing, measured path).
 */

const KEY_BYTES = 32
const ZERO_IV = new Uint8Array(16)

function assertBytes (bytes: Uint8Array, length: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== length) throw new InvalidKeyError(`${what} must be ${length} bytes`)
}

/** libsodium's 64-byte secret key (seed || public key) for a 32-byte seed. */
function signingKey (seed: Uint8Array): { secretKey: Uint8Array, publicKey: Uint8Array } {
  assertBytes(seed, KEY_BYTES, 'Ed25519 seed')
  const publicKey = new Uint8Array(32)
  const secretKey = new Uint8Array(64)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, seed)
  return { secretKey, publicKey }
}

export const platform: CryptoPlatform = {
  name: 'node',
  randomFill,
  randomFillAt,
  randomInt: (min, max) => nodeRandomInt(min, max),
  sha256: (data) => {
    const out = new Uint8Array(32)
    sodium.crypto_hash_sha256(out, data)
    return out
  },
  hmacSha256: (key, message) => {
    const out = new Uint8Array(32)
    hmacSha256Into(out, key, message)
    return out
  },
  hkdfSha256,
  aes256CtrZeroIv: (key, input) => {
    const out = createCipheriv('aes-256-ctr', createSecretKey(key), ZERO_IV).update(input)
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
  },
  aeadSealInPlace,
  aeadOpenInPlace,
  x25519PublicKey: (privateKey) => {
    assertBytes(privateKey, KEY_BYTES, 'X25519 private key')
    const publicKey = new Uint8Array(KEY_BYTES)
    sodium.crypto_scalarmult_base(publicKey, privateKey)
    return publicKey
  },
  x25519: x25519Raw,
  ed25519PublicKey: (seed) => signingKey(seed).publicKey,
  ed25519Sign: (seed, message) => {
    const signature = new Uint8Array(64)
    sodium.crypto_sign_detached(signature, message, signingKey(seed).secretKey)
    return signature
  },
  ed25519Verify: (publicKey, message, signature) => publicKey.byteLength === KEY_BYTES && verifyEd25519(publicKey, message, signature),
  ed25519PublicToX25519: (publicKey) => {
    assertBytes(publicKey, KEY_BYTES, 'Ed25519 public key')
    const out = new Uint8Array(KEY_BYTES)
    try {
      // libsodium refuses non-canonical encodings, non-points and small-order points
      sodium.crypto_sign_ed25519_pk_to_curve25519(out, publicKey)
    } catch (err) {
      throw new InvalidKeyError('not a usable Ed25519 public key', { cause: err })
    }
    return out
  },
  ed25519SeedToX25519: (seed) => {
    const out = new Uint8Array(KEY_BYTES)
    sodium.crypto_sign_ed25519_sk_to_curve25519(out, signingKey(seed).secretKey)
    return out
  },
  equal: (a, b) => a.byteLength === b.byteLength && timingSafeEqual(a, b)
}
