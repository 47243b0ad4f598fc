import sodium from 'sodium-native'

/**
 * The layer AEAD on Node: ChaCha20-Poly1305, IETF form (RFC 8439), through
 * libsodium, in place, tag detached. noble.ts has the same two functions on
 * @noble/ciphers for browsers; test/unit/crypto/layer-aead.test.ts holds both
 * to one set of vectors.
 */

export const AEAD_KEY_BYTES = 32
export const AEAD_NONCE_BYTES = 12
export const AEAD_TAG_BYTES = 16

/** Encrypts `body` in place and writes the 16-byte tag to `tagOut`. */
export function aeadSealInPlace (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tagOut: Uint8Array, ad: Uint8Array | null): void {
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(body, tagOut, body, ad, null, nonce, key)
}

/**
 * Decrypts `body` in place when `tag` verifies and returns true; otherwise
 * returns false and `body` is zeroed (libsodium wipes it).
 */
export function aeadOpenInPlace (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tag: Uint8Array, ad: Uint8Array | null): boolean {
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(body, null, body, tag, ad, nonce, key)
    return true
  } catch {
    return false
  }
}
