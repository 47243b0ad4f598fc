import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { ed25519 } from '@noble/curves/ed25519.js'

import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES } from './sizes.js'

/** A raw 32-byte Ed25519 public key as a node:crypto key (JWK import: no DER prefix to get wrong). */
export function ed25519PublicKeyObject (raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' })
}

/**
 * True when the 32 bytes decode to a point on the Ed25519 curve. node:crypto
 * imports any 32 bytes as a key (and then verifies nothing under it), so the
 * point is decompressed with @noble/curves (~100 µs, once per new mailbox).
 */
export function isEd25519PublicKey (raw: Uint8Array): boolean {
  if (raw.byteLength !== ED25519_PUBLIC_KEY_BYTES) return false
  try {
    ed25519.Point.fromBytes(raw)
    return true
  } catch {
    return false
  }
}

/**
 * True when `signature` is the raw key's Ed25519 signature over `message`
 * (node:crypto, ~90 µs). A key that is not a valid curve point, or a signature
 * of the wrong length, verifies nothing.
 */
export function verifyEd25519 (publicKey: Uint8Array | KeyObject, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.byteLength !== ED25519_SIGNATURE_BYTES) return false
  try {
    const key = publicKey instanceof Uint8Array ? ed25519PublicKeyObject(publicKey) : publicKey
    return verify(null, message, key, signature)
  } catch {
    return false
  }
}
