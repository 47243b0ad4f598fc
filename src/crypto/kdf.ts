import sodium from 'sodium-native'
import { CREATE_MAC_BYTES } from '../wire/onion-format.js'
import { CREATE_KEY_BYTES, KDF_SALT, createInfo, splitCreateKeys, type CreateKeys } from './labels.js'

/**
 * Per-hop key derivation: HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) on
 * libsodium's SHA-256. node:crypto's `hkdfSync` and `createHmac` need a KeyObject
 * (or import one) and a new object per call: 8 µs and 5 µs in a warm loop, but
 * 80–150 µs and 25–40 µs inside a relay processing a CREATE between other work,
 * which made them most of a hop's CREATE time. These make no objects: the SHA-256
 * states are module-wide scratch buffers (one caller at a time; nothing awaits).
 * test/unit/crypto/kdf.test.ts holds them to node:crypto's HMAC and HKDF.
 */

const SALT = Uint8Array.from(KDF_SALT)
const HASH_BYTES = 32
const BLOCK_BYTES = 64

const STATE_BYTES = sodium.crypto_hash_sha256_STATEBYTES
const state = new Uint8Array(STATE_BYTES)
const innerStart = new Uint8Array(STATE_BYTES)
const outerStart = new Uint8Array(STATE_BYTES)
const keyBlock = new Uint8Array(BLOCK_BYTES)
const pad = new Uint8Array(BLOCK_BYTES)
const inner = new Uint8Array(HASH_BYTES)
const prk = new Uint8Array(HASH_BYTES)
const block = new Uint8Array(HASH_BYTES)
const counter = new Uint8Array(1)

/** Sets innerStart/outerStart to the SHA-256 states after absorbing key ⊕ ipad and key ⊕ opad. */
function keyHmac (key: Uint8Array): void {
  keyBlock.fill(0)
  if (key.byteLength > BLOCK_BYTES) sodium.crypto_hash_sha256(keyBlock.subarray(0, HASH_BYTES), key)
  else keyBlock.set(key)
  for (let i = 0; i < BLOCK_BYTES; i++) pad[i] = keyBlock[i] ^ 0x36
  sodium.crypto_hash_sha256_init(innerStart)
  sodium.crypto_hash_sha256_update(innerStart, pad)
  for (let i = 0; i < BLOCK_BYTES; i++) pad[i] = keyBlock[i] ^ 0x5c
  sodium.crypto_hash_sha256_init(outerStart)
  sodium.crypto_hash_sha256_update(outerStart, pad)
  keyBlock.fill(0)
  pad.fill(0)
}

/** HMAC under the key last given to keyHmac, of `a ‖ b ‖ c` (empty parts skipped), into `out` (32 bytes). */
function keyedHmac (out: Uint8Array, a: Uint8Array, b?: Uint8Array, c?: Uint8Array): void {
  state.set(innerStart)
  sodium.crypto_hash_sha256_update(state, a)
  if (b !== undefined) sodium.crypto_hash_sha256_update(state, b)
  if (c !== undefined) sodium.crypto_hash_sha256_update(state, c)
  sodium.crypto_hash_sha256_final(state, inner)
  state.set(outerStart)
  sodium.crypto_hash_sha256_update(state, inner)
  sodium.crypto_hash_sha256_final(state, out)
}

/** HMAC-SHA256(key, message) into `out` (32 bytes). */
export function hmacSha256Into (out: Uint8Array, key: Uint8Array, message: Uint8Array): void {
  keyHmac(key)
  keyedHmac(out, message)
  wipeStates()
}

/** HKDF-SHA256 (RFC 5869): `length` bytes (at most 255 × 32) of output keying material. */
export function hkdfSha256 (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_BYTES) throw new RangeError(`HKDF-SHA256 output must be 0..${255 * HASH_BYTES} bytes`)
  const okm = new Uint8Array(length)
  keyHmac(salt.byteLength > 0 ? salt : new Uint8Array(HASH_BYTES))
  keyedHmac(prk, ikm)
  keyHmac(prk)
  for (let i = 0, at = 0; at < length; i++, at += HASH_BYTES) {
    counter[0] = i + 1
    if (i === 0) keyedHmac(block, info, counter)
    else keyedHmac(block, block, info, counter)
    okm.set(length - at >= HASH_BYTES ? block : block.subarray(0, length - at), at)
  }
  prk.fill(0)
  block.fill(0)
  wipeStates()
  return okm
}

function wipeStates (): void {
  state.fill(0)
  innerStart.fill(0)
  outerStart.fill(0)
  inner.fill(0)
}

/**
 * HKDF-SHA256(ikm = X25519 secret, salt = "ghostnode/v1",
 * info = "ghostnode/v1/create" || ephPub || onionPub), split per CREATE_KEY_LAYOUT.
 */
export function deriveCreateKeys (shared: Uint8Array, ephPub: Uint8Array, onionPub: Uint8Array): CreateKeys {
  return splitCreateKeys(hkdfSha256(shared, SALT, createInfo(ephPub, onionPub), CREATE_KEY_BYTES))
}

/** HMAC-SHA256(macKey, beta) truncated to CREATE_MAC_BYTES. */
export function headerMac (macKey: Uint8Array, beta: Uint8Array): Uint8Array {
  const digest = new Uint8Array(HASH_BYTES)
  hmacSha256Into(digest, macKey, beta)
  return digest.subarray(0, CREATE_MAC_BYTES)
}
