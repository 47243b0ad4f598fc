import { chacha20poly1305 } from '@noble/ciphers/chacha.js'
import { x25519 } from '@noble/curves/ed25519.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { CREATE_MAC_BYTES, X25519_KEY_BYTES } from '../wire/onion-format.js'
import { InvalidKeyError, LowOrderPointError } from './errors.js'
import { CREATE_KEY_BYTES, KDF_SALT, createInfo, splitCreateKeys, type CreateKeys } from './labels.js'

/**
 * The per-hop key derivation on @noble/* (pure JS), for the browser client and as
 * an independent cross-check of the node:crypto path (kdf.ts, x25519.ts). Both must
 * produce identical bytes; test/crypto/noble.test.ts pins shared vectors.
 *
 * This module must not import node:* so browser bundles can use it.
 */

function assertKeyBytes (raw: Uint8Array, what: string): void {
  if (!(raw instanceof Uint8Array) || raw.byteLength !== X25519_KEY_BYTES) {
    throw new InvalidKeyError(`${what} must be ${X25519_KEY_BYTES} bytes`)
  }
}

/** X25519 public key of a raw 32-byte private key. */
export function nobleX25519PublicKey (privateKey: Uint8Array): Uint8Array {
  assertKeyBytes(privateKey, 'X25519 private key')
  return x25519.getPublicKey(privateKey)
}

/** X25519(privateKey, publicKey); throws LowOrderPointError for an all-zero result. */
export function nobleX25519 (privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  assertKeyBytes(privateKey, 'X25519 private key')
  assertKeyBytes(publicKey, 'X25519 public key')
  let shared: Uint8Array
  try {
    shared = x25519.getSharedSecret(privateKey, publicKey)
  } catch (err) {
    throw new LowOrderPointError(undefined, { cause: err })
  }
  if (shared.every(b => b === 0)) {
    throw new LowOrderPointError()
  }
  return shared
}

/** Same as kdf.ts deriveCreateKeys, on @noble/hashes. */
export function nobleDeriveCreateKeys (shared: Uint8Array, ephPub: Uint8Array, onionPub: Uint8Array): CreateKeys {
  return splitCreateKeys(hkdf(sha256, shared, KDF_SALT, createInfo(ephPub, onionPub), CREATE_KEY_BYTES))
}

/** Same as kdf.ts headerMac, on @noble/hashes. */
export function nobleHeaderMac (macKey: Uint8Array, beta: Uint8Array): Uint8Array {
  return hmac(sha256, macKey, beta).subarray(0, CREATE_MAC_BYTES)
}

/** Same as aead.ts aeadSealInPlace (ChaCha20-Poly1305, IETF), on @noble/ciphers. */
export function nobleAeadSealInPlace (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tagOut: Uint8Array, ad: Uint8Array | null): void {
  const sealed = chacha20poly1305(key, nonce, ad ?? undefined).encrypt(body)
  body.set(sealed.subarray(0, body.byteLength))
  tagOut.set(sealed.subarray(body.byteLength))
}

/** Same as aead.ts aeadOpenInPlace, on @noble/ciphers (body zeroed on failure, as libsodium does). */
export function nobleAeadOpenInPlace (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tag: Uint8Array, ad: Uint8Array | null): boolean {
  const sealed = new Uint8Array(body.byteLength + tag.byteLength)
  sealed.set(body)
  sealed.set(tag, body.byteLength)
  try {
    body.set(chacha20poly1305(key, nonce, ad ?? undefined).decrypt(sealed))
    return true
  } catch {
    body.fill(0)
    return false
  }
}
