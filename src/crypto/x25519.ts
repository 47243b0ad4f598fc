import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto'
import sodium from 'sodium-native'
import { X25519_KEY_BYTES } from '../wire/onion-format.js'
import { InvalidKeyError, LowOrderPointError } from './errors.js'
import { randomBytes } from './random.js'

/**
 * X25519 on node:crypto, and on libsodium for the CREATE path (x25519Raw below).
 * Raw keys cross the wire as 32 bytes; node wants KeyObjects.
 *
 * Raw conversion goes through JWK: it measured as fast as the `raw-public` format
 * (~1 µs export, ~19 µs import) and, unlike it, works on every Node ≥ 22 that
 * operators may run. DER export is ~28× slower on export (see bench).
 */

/** An X25519 key pair with the public half in raw form. */
export interface X25519KeyPair {
  privateKey: KeyObject
  publicKey: Uint8Array
}

/** A node's onion key for one epoch. */
export interface OnionKey extends X25519KeyPair {
  /** The epoch this key was published for; replay tags are kept per epoch. */
  epoch: number
}

/** PKCS#8 prefix for a raw X25519 private key (RFC 8410). */
const PKCS8_X25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20
])

function assertKeyBytes (raw: Uint8Array, what: string): void {
  if (!(raw instanceof Uint8Array) || raw.byteLength !== X25519_KEY_BYTES) {
    throw new InvalidKeyError(`${what} must be ${X25519_KEY_BYTES} bytes`)
  }
}

function b64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

/** Raw 32-byte public key of an X25519 KeyObject (public or private). */
export function x25519PublicKeyToRaw (key: KeyObject): Uint8Array {
  const jwk = key.export({ format: 'jwk' })
  if (jwk.x == null) {
    throw new InvalidKeyError('not an X25519 key')
  }
  return new Uint8Array(Buffer.from(jwk.x, 'base64url'))
}

/** Raw 32-byte private scalar of an X25519 private KeyObject (for persisting onion keys). */
export function x25519PrivateKeyToRaw (key: KeyObject): Uint8Array {
  if (key.type !== 'private' || key.asymmetricKeyType !== 'x25519') {
    throw new InvalidKeyError('not an X25519 private key')
  }
  const jwk = key.export({ format: 'jwk' })
  return new Uint8Array(Buffer.from(jwk.d as string, 'base64url'))
}

/** Import a raw 32-byte X25519 public key. Every 32-byte string is a valid encoding. */
export function x25519PublicKeyFromRaw (raw: Uint8Array): KeyObject {
  assertKeyBytes(raw, 'X25519 public key')
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: b64url(raw) }, format: 'jwk' })
}

/** Import a raw 32-byte X25519 private key. */
export function x25519PrivateKeyFromRaw (raw: Uint8Array): KeyObject {
  assertKeyBytes(raw, 'X25519 private key')
  const der = new Uint8Array(PKCS8_X25519_PREFIX.length + raw.length)
  der.set(PKCS8_X25519_PREFIX, 0)
  der.set(raw, PKCS8_X25519_PREFIX.length)
  return createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' })
}

/** A fresh X25519 key pair. */
export function generateX25519 (): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  return { privateKey, publicKey: x25519PublicKeyToRaw(publicKey) }
}

/** A fresh onion key for `epoch`. */
export function generateOnionKey (epoch: number): OnionKey {
  return { epoch, ...generateX25519() }
}

/** Rebuild an onion key from its persisted raw private scalar. */
export function onionKeyFromRaw (epoch: number, rawPrivate: Uint8Array): OnionKey {
  const privateKey = x25519PrivateKeyFromRaw(rawPrivate)
  return { epoch, privateKey, publicKey: x25519PublicKeyToRaw(privateKey) }
}

function isAllZero (bytes: Uint8Array): boolean {
  let acc = 0
  for (let i = 0; i < bytes.length; i++) acc |= bytes[i]
  return acc === 0
}

/**
 * X25519(privateKey, publicKey). Throws LowOrderPointError when the result is all
 * zero: OpenSSL refuses to derive it, and we check again so the rule does not rest
 * on one library's behaviour.
 */
export function x25519 (privateKey: KeyObject, publicKey: KeyObject | Uint8Array): Uint8Array {
  const pub = publicKey instanceof Uint8Array ? x25519PublicKeyFromRaw(publicKey) : publicKey
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey, publicKey: pub })
  } catch (err) {
    throw new LowOrderPointError(undefined, { cause: err })
  }
  if (isAllZero(shared)) {
    throw new LowOrderPointError()
  }
  return new Uint8Array(shared.buffer, shared.byteOffset, shared.byteLength)
}

/**
 * X25519 on raw 32-byte keys through libsodium: no KeyObject import, about
 * half the time of node:crypto's import + diffieHellman (bench/onion-micro.ts).
 * The CREATE path (client and every hop) uses it. Throws LowOrderPointError
 * when the result is all zero, like x25519().
 */
export function x25519Raw (privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  assertKeyBytes(privateKey, 'X25519 private key')
  assertKeyBytes(publicKey, 'X25519 public key')
  const shared = new Uint8Array(X25519_KEY_BYTES)
  try {
    sodium.crypto_scalarmult(shared, privateKey, publicKey)
  } catch (err) {
    throw new LowOrderPointError(undefined, { cause: err })
  }
  if (isAllZero(shared)) {
    throw new LowOrderPointError()
  }
  return shared
}

/** A fresh X25519 key pair as raw bytes (a client's ephemeral CREATE keys). */
export function generateX25519Raw (): { privateKey: Uint8Array, publicKey: Uint8Array } {
  const privateKey = randomBytes(X25519_KEY_BYTES)
  const publicKey = new Uint8Array(X25519_KEY_BYTES)
  sodium.crypto_scalarmult_base(publicKey, privateKey)
  return { privateKey, publicKey }
}

/** The raw scalar of each onion key, exported once (the KeyObject stays the key's form everywhere else). */
const rawPrivates = new WeakMap<KeyObject, Uint8Array>()

/** X25519(onion private key, raw public key) through libsodium. */
export function onionX25519 (onion: KeyObject, publicKey: Uint8Array): Uint8Array {
  let raw = rawPrivates.get(onion)
  if (raw == null) {
    raw = x25519PrivateKeyToRaw(onion)
    rawPrivates.set(onion, raw)
  }
  return x25519Raw(raw, publicKey)
}
