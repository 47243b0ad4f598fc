/** Sizes of keys, nonces, tags and signatures, for codecs that must not load a crypto implementation. */
export const AEAD_KEY_BYTES = 32
export const AEAD_NONCE_BYTES = 12
export const AEAD_TAG_BYTES = 16

export const ED25519_PUBLIC_KEY_BYTES = 32
export const ED25519_SIGNATURE_BYTES = 64
export const ED25519_SEED_BYTES = 32
