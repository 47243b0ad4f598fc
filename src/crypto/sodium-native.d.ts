/**
 * sodium-native ships no type declarations; these are the calls ghostnode
 * makes (libsodium's ChaCha20-Poly1305, IETF variant, detached tags, and the
 * ChaCha20 and Poly1305 primitives it is made of, and SHA-256). Every
 * buffer is written in place; a failed decrypt throws and zeroes `m`.
 */
declare module 'sodium-native' {
  export const crypto_aead_chacha20poly1305_ietf_KEYBYTES: number
  export const crypto_aead_chacha20poly1305_ietf_NPUBBYTES: number
  export const crypto_aead_chacha20poly1305_ietf_ABYTES: number
  export function crypto_aead_chacha20poly1305_ietf_encrypt_detached (c: Uint8Array, mac: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number
  /** X25519; throws when the result is all zero (a low-order point). */
  export function crypto_scalarmult (q: Uint8Array, n: Uint8Array, p: Uint8Array): void
  export function crypto_scalarmult_base (q: Uint8Array, n: Uint8Array): void
  export function crypto_aead_chacha20poly1305_ietf_decrypt_detached (m: Uint8Array, nsec: null, c: Uint8Array, mac: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): void
  /** ChaCha20 (IETF) keystream into `c`, block counter 0. */
  export function crypto_stream_chacha20_ietf (c: Uint8Array, n: Uint8Array, k: Uint8Array): void
  /** `c = m XOR ChaCha20 (IETF) keystream` starting at block `ic`; c may be m. */
  export function crypto_stream_chacha20_ietf_xor_ic (c: Uint8Array, m: Uint8Array, n: Uint8Array, ic: number, k: Uint8Array): void
  /** Poly1305 of `input` under the one-time key `k` into the 16-byte `out`. */
  export function crypto_onetimeauth (out: Uint8Array, input: Uint8Array, k: Uint8Array): void
  /** True when `h` is the Poly1305 of `input` under `k` (compared in constant time). */
  export function crypto_onetimeauth_verify (h: Uint8Array, input: Uint8Array, k: Uint8Array): boolean
  export const crypto_hash_sha256_STATEBYTES: number
  /** SHA-256 of `input` into the 32-byte `out`. */
  export function crypto_hash_sha256 (out: Uint8Array, input: Uint8Array): void
  /** Incremental SHA-256; the state is plain bytes (copying it forks the hash). */
  export function crypto_hash_sha256_init (state: Uint8Array): void
  export function crypto_hash_sha256_update (state: Uint8Array, input: Uint8Array): void
  export function crypto_hash_sha256_final (state: Uint8Array, out: Uint8Array): void
  /** Ed25519 key pair from a 32-byte seed: pk 32, sk 64 (seed || pk). */
  export function crypto_sign_seed_keypair (pk: Uint8Array, sk: Uint8Array, seed: Uint8Array): void
  export function crypto_sign_detached (sig: Uint8Array, m: Uint8Array, sk: Uint8Array): void
  /** Ed25519 public key to X25519; throws for non-canonical, non-point or small-order keys. */
  export function crypto_sign_ed25519_pk_to_curve25519 (x25519Pk: Uint8Array, ed25519Pk: Uint8Array): void
  export function crypto_sign_ed25519_sk_to_curve25519 (x25519Sk: Uint8Array, ed25519Sk: Uint8Array): void
}
