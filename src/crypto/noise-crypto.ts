import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import sodium from 'sodium-native'

/**
 * The transport (Noise) ciphers on libsodium. @chainsafe/libp2p-noise seals
 * messages under 1,200 bytes in WebAssembly and larger ones with a new
 * node:crypto Cipheriv per message, and on Node 24 every Cipheriv made from a
 * raw key also throws and catches an error inside node:crypto while checking
 * the key's type: a relay spent ~9 % of its CPU building error stack traces
 * (docs/performance.md). libsodium's ChaCha20-Poly1305 (IETF) is the same
 * cipher, so peers using either interoperate; only the handshake's hashing and
 * key agreement stay on the library's defaults.
 */

const TAG_BYTES = 16

/** A buffer, or the library's own Uint8ArrayList (its version, not ours). */
type NoiseBytes = Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0]

function contiguous (data: NoiseBytes): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/** Seals `plaintext` into a new buffer: ciphertext ‖ tag. */
function seal (plaintext: NoiseBytes, nonce: Uint8Array, ad: Uint8Array, key: Uint8Array): Uint8Array {
  const length = plaintext.byteLength
  const out = Buffer.allocUnsafe(length + TAG_BYTES)
  // one copy of the parts into the output, then sealed in place
  if (plaintext instanceof Uint8Array) {
    out.set(plaintext, 0)
  } else {
    let at = 0
    for (const part of plaintext) {
      out.set(part, at)
      at += part.byteLength
    }
  }
  const body = out.subarray(0, length)
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(body, out.subarray(length), body, ad.byteLength > 0 ? ad : null, null, nonce, key)
  return out
}

/**
 * Opens `ciphertext ‖ tag`, into `dst` when the caller gives one of the right
 * size (Noise passes a view of the ciphertext itself, to decrypt in place).
 * @throws Error when the tag does not verify
 */
function open (ciphertext: NoiseBytes, nonce: Uint8Array, ad: Uint8Array, key: Uint8Array, dst?: Uint8Array): Uint8Array {
  if (ciphertext.byteLength < TAG_BYTES) throw new Error('Invalid chacha20poly1305 decryption')
  const sealed = contiguous(ciphertext)
  const length = sealed.byteLength - TAG_BYTES
  const body = sealed.subarray(0, length)
  const out = dst?.byteLength === length ? dst : new Uint8Array(length)
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, null, body, sealed.subarray(length), ad.byteLength > 0 ? ad : null, nonce, key)
  } catch {
    throw new Error('Invalid chacha20poly1305 decryption')
  }
  return out
}

export const sodiumNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt: seal,
  chaCha20Poly1305Decrypt: open
}
