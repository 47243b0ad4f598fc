import sodium from 'sodium-native'
import { AEAD_TAG_BYTES } from './sizes.js'

/**
 * The layer AEAD on Node: ChaCha20-Poly1305, IETF form (RFC 8439), through
 * libsodium, in place, tag detached. noble.ts has the same two functions on
 * @noble/ciphers for browsers; test/unit/crypto/layer-aead.test.ts holds both
 * to one set of vectors and to libsodium's own AEAD.
 *
 * Composed from libsodium's ChaCha20 and Poly1305 as RFC 8439 §2.8 defines it,
 * not libsodium's one-call AEAD: that binding costs 32 bytes of JS heap per call
 * and these cost none, so a relay forwards a cell without allocating. The
 * one-time Poly1305 key and the MAC input live in module-wide scratch buffers
 * (one caller at a time: JS is single-threaded and nothing here awaits).
 */


/** One-time Poly1305 key: the first 32 bytes of ChaCha20 block 0. */
const POLY_KEY = new Uint8Array(32)

/**
 * The Poly1305 input, `ad ‖ pad16 ‖ ciphertext ‖ pad16 ‖ le64(|ad|) ‖ le64(|ciphertext|)`,
 * built in one buffer so it is one libsodium call. Grown (once) when a longer
 * message comes; the layer's 939-byte bodies fit the first size.
 */
let macInput = new Uint8Array(2048)
let macView = new DataView(macInput.buffer)
/** Views of macInput by length, made once (a layer uses two: with and without associated data). */
const macViews = new Map<number, Uint8Array>()
const MAX_CACHED_VIEWS = 16

function macInputOf (total: number): Uint8Array {
  let view = macViews.get(total)
  if (view === undefined) {
    view = macInput.subarray(0, total)
    if (macViews.size < MAX_CACHED_VIEWS) macViews.set(total, view)
  }
  return view
}

const pad16 = (n: number): number => (16 - (n % 16)) % 16

/** Writes the MAC input for `ad` and `ciphertext`; returns its view. */
function buildMacInput (ad: Uint8Array | null, ciphertext: Uint8Array): Uint8Array {
  const adLength = ad?.byteLength ?? 0
  const ctAt = adLength + pad16(adLength)
  const lengthsAt = ctAt + ciphertext.byteLength + pad16(ciphertext.byteLength)
  const total = lengthsAt + 16
  if (total > macInput.byteLength) {
    macInput = new Uint8Array(total)
    macView = new DataView(macInput.buffer)
    macViews.clear()
  }
  if (ad != null) macInput.set(ad, 0)
  macInput.fill(0, adLength, ctAt)
  macInput.set(ciphertext, ctAt)
  macInput.fill(0, ctAt + ciphertext.byteLength, lengthsAt)
  macView.setUint32(lengthsAt, adLength, true)
  macView.setUint32(lengthsAt + 4, 0, true)
  macView.setUint32(lengthsAt + 8, ciphertext.byteLength, true)
  macView.setUint32(lengthsAt + 12, 0, true)
  return macInputOf(total)
}

/** Encrypts `body` in place and writes the 16-byte tag to `tagOut`. */
export function aeadSealInPlace (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tagOut: Uint8Array, ad: Uint8Array | null): void {
  sodium.crypto_stream_chacha20_ietf(POLY_KEY, nonce, key)
  sodium.crypto_stream_chacha20_ietf_xor_ic(body, body, nonce, 1, key)
  sodium.crypto_onetimeauth(tagOut, buildMacInput(ad, body), POLY_KEY)
  POLY_KEY.fill(0)
}

/**
 * Decrypts `body` in place when `tag` verifies and returns true; otherwise
 * returns false and `body` is zeroed (as libsodium's AEAD does).
 */
export function aeadOpenInPlace (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tag: Uint8Array, ad: Uint8Array | null): boolean {
  sodium.crypto_stream_chacha20_ietf(POLY_KEY, nonce, key)
  // constant-time comparison inside libsodium
  const authentic = tag.byteLength === AEAD_TAG_BYTES && sodium.crypto_onetimeauth_verify(tag, buildMacInput(ad, body), POLY_KEY)
  POLY_KEY.fill(0)
  if (!authentic) {
    body.fill(0)
    return false
  }
  sodium.crypto_stream_chacha20_ietf_xor_ic(body, body, nonce, 1, key)
  return true
}
