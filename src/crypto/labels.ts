/**
 * Versioned key-derivation labels and the layout of the derived key material.
 *
 * Pure module (no node: imports) so the browser implementation in noble.ts derives
 * byte-identical keys. Changing any label or offset is a protocol version bump.
 */

const encoder = new TextEncoder()

/** HKDF salt for every per-hop key derivation. */
export const KDF_SALT_LABEL = 'ghostnode/v1'
/** HKDF info prefix for CREATE; the full info is `label || ephPub || onionPub`. */
export const KDF_CREATE_INFO_LABEL = 'ghostnode/v1/create'

/**
 * AEAD associated data of a backward layer sealed by the hop that originated the
 * cell (the exit, or a middle hop reporting a failure). Forwarding hops seal with
 * empty associated data, so the client learns, authenticated, which hop spoke.
 */
export const ORIGIN_AAD_LABEL = 'ghostnode/v1/origin'

export const ORIGIN_AAD: Uint8Array = encoder.encode(ORIGIN_AAD_LABEL)
export const KDF_SALT: Uint8Array = encoder.encode(KDF_SALT_LABEL)
export const KDF_CREATE_INFO: Uint8Array = encoder.encode(KDF_CREATE_INFO_LABEL)

/**
 * Output of one HKDF-SHA256 expand, split in this order. Direction separation is by
 * position: the forward and backward keys are distinct, independent output blocks.
 */
export const CREATE_KEY_LAYOUT = [
  ['headerKey', 32], // AES-256-CTR key that decrypts this hop's beta
  ['headerMacKey', 32], // HMAC-SHA256 key for the CREATE header MAC
  ['forwardKey', 32], // ChaCha20-Poly1305, client → exit
  ['backwardKey', 32], // ChaCha20-Poly1305, exit → client
  ['forwardNonce', 12], // nonce base, client → exit
  ['backwardNonce', 12], // nonce base, exit → client
  ['confirm', 32], // CREATED confirmation (exit hop)
  ['replayTag', 16] // replay-filter tag for this CREATE under this onion key
] as const

export type CreateKeyName = typeof CREATE_KEY_LAYOUT[number][0]

/** Everything one hop derives from one CREATE. */
export type CreateKeys = Record<CreateKeyName, Uint8Array>

/** Total HKDF output length: 200 bytes. */
export const CREATE_KEY_BYTES = CREATE_KEY_LAYOUT.reduce((sum, [, n]) => sum + n, 0)

/** `KDF_CREATE_INFO || ephPub || onionPub` */
export function createInfo (ephPub: Uint8Array, onionPub: Uint8Array): Uint8Array {
  const info = new Uint8Array(KDF_CREATE_INFO.length + ephPub.length + onionPub.length)
  info.set(KDF_CREATE_INFO, 0)
  info.set(ephPub, KDF_CREATE_INFO.length)
  info.set(onionPub, KDF_CREATE_INFO.length + ephPub.length)
  return info
}

/** Split HKDF output into named keys (views into `okm`). */
export function splitCreateKeys (okm: Uint8Array): CreateKeys {
  const keys: Partial<CreateKeys> = {}
  let offset = 0
  for (const [name, n] of CREATE_KEY_LAYOUT) {
    keys[name] = okm.subarray(offset, offset + n)
    offset += n
  }
  return keys as CreateKeys
}
