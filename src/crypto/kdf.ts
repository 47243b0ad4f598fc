import { createHmac, createSecretKey, hkdfSync } from 'node:crypto'
import { CREATE_MAC_BYTES } from '../wire/onion-format.js'
import { CREATE_KEY_BYTES, KDF_SALT, createInfo, splitCreateKeys, type CreateKeys } from './labels.js'

/**
 * Per-hop key derivation on node:crypto. Keys are wrapped in KeyObjects before use:
 * node re-imports a Buffer key on every call, which measured 2× slower for HKDF and
 * 4× slower for HMAC on this machine.
 */

const SALT = Buffer.from(KDF_SALT)

/**
 * HKDF-SHA256(ikm = X25519 secret, salt = "ghostnode/v1",
 * info = "ghostnode/v1/create" || ephPub || onionPub), split per CREATE_KEY_LAYOUT.
 */
export function deriveCreateKeys (shared: Uint8Array, ephPub: Uint8Array, onionPub: Uint8Array): CreateKeys {
  const okm = hkdfSync('sha256', createSecretKey(shared), SALT, createInfo(ephPub, onionPub), CREATE_KEY_BYTES)
  return splitCreateKeys(new Uint8Array(okm))
}

/** HMAC-SHA256(macKey, beta) truncated to CREATE_MAC_BYTES. */
export function headerMac (macKey: Uint8Array, beta: Uint8Array): Uint8Array {
  const digest = createHmac('sha256', createSecretKey(macKey)).update(beta).digest()
  return new Uint8Array(digest.buffer, digest.byteOffset, CREATE_MAC_BYTES)
}
