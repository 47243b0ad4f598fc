import { InvalidKeyError } from '../crypto/errors.js'
import { platform } from '../crypto/platform/index.js'
import { ED25519_SEED_BYTES, ED25519_SIGNATURE_BYTES } from '../crypto/sizes.js'
import { bytesToHex, hexToBytes } from '../wire/bytes.js'
import { HASH_BYTES, MAILBOX_BYTES } from './sizes.js'
import { DEFAULT_AUTH_WINDOW_MS } from './service-defaults.js'
import { BadSignatureError, InvalidMailboxKeyError, StaleTimestampError } from './service-errors.js'
import { Writer } from './wire.js'

/**
 * Authentication of mailbox reads and deletes (docs/protocol.md §10.4).
 *
 * The owner of a mailbox signs with its Ed25519 key:
 *
 *   "ghostnode/v1/swarm-auth" || 0x00 || label || 0x00 || mailbox (32)
 *   || namespace (i16) || timestamp (u64 ms) || len (u32) || payload
 *
 * label is "retrieve", "delete", "delete_all" or "subscribe"; payload is the
 * cursor (retrieve), the concatenated hashes (delete), the flags byte
 * (delete_all) or since u64 || waitMs u32 || the known hashes (subscribe). The domain and label keep a signature from being valid for
 * another operation or another protocol; the timestamp bounds replay to the
 * accepted window (±60 s by default).
 *
 * Signing and verification go through the crypto platform: node:crypto and
 * libsodium on Node (about 90 µs per verify on the development machine),
 * @noble/curves in browsers (about 1.6 ms).
 */

export const SWARM_AUTH_DOMAIN = 'ghostnode/v1/swarm-auth'
export const SIGNATURE_BYTES = ED25519_SIGNATURE_BYTES
export { ED25519_SEED_BYTES }
export { DEFAULT_AUTH_WINDOW_MS }

export const AuthOp = {
  RETRIEVE: 'retrieve',
  DELETE: 'delete',
  DELETE_ALL: 'delete_all',
  SUBSCRIBE: 'subscribe'
} as const
export type AuthOp = typeof AuthOp[keyof typeof AuthOp]

const encoder = new TextEncoder()
const DOMAIN = encoder.encode(SWARM_AUTH_DOMAIN)

export interface SignedFields {
  op: AuthOp
  mailbox: Uint8Array
  namespace: number
  timestamp: number
  payload: Uint8Array
}

/** The exact bytes a mailbox key signs for a request. */
export function authMessage (f: SignedFields): Uint8Array {
  if (f.mailbox.byteLength !== MAILBOX_BYTES) throw new InvalidMailboxKeyError(`mailbox must be ${MAILBOX_BYTES} bytes`)
  return new Writer(DOMAIN.byteLength + 64 + f.payload.byteLength)
    .bytes(DOMAIN).u8(0).bytes(encoder.encode(f.op)).u8(0)
    .bytes(f.mailbox).i16(f.namespace).u64(f.timestamp).u32(f.payload.byteLength).bytes(f.payload)
    .finish()
}

/** What a retrieve signs: the cursor (empty for the first page). */
export function retrieveFields (mailbox: Uint8Array, namespace: number, timestamp: number, cursor?: Uint8Array): SignedFields {
  return { op: AuthOp.RETRIEVE, mailbox, namespace, timestamp, payload: cursor ?? new Uint8Array(0) }
}

/** What a delete signs: the hashes, concatenated in the order sent. */
export function deleteFields (mailbox: Uint8Array, namespace: number, timestamp: number, hashes: Uint8Array[]): SignedFields {
  const payload = new Uint8Array(hashes.length * HASH_BYTES)
  hashes.forEach((h, i) => payload.set(h, i * HASH_BYTES))
  return { op: AuthOp.DELETE, mailbox, namespace, timestamp, payload }
}

/** What a subscribe signs: where it starts, how long it may wait, and the hashes the subscriber already has. */
export function subscribeFields (mailbox: Uint8Array, namespace: number, timestamp: number, since: number, waitMs: number, known: Uint8Array[]): SignedFields {
  const w = new Writer(12 + known.length * HASH_BYTES).u64(since).u32(waitMs)
  for (const h of known) w.bytes(h)
  return { op: AuthOp.SUBSCRIBE, mailbox, namespace, timestamp, payload: w.finish() }
}

/** What a delete-all signs: a flags byte (1 when limited to `namespace`). */
export function deleteAllFields (mailbox: Uint8Array, namespace: number | undefined, timestamp: number): SignedFields {
  return { op: AuthOp.DELETE_ALL, mailbox, namespace: namespace ?? 0, timestamp, payload: Uint8Array.of(namespace === undefined ? 0 : 1) }
}

/** True when `signature` is the mailbox key's signature over `message`. */
export function verifyAuth (mailbox: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return mailbox.byteLength === MAILBOX_BYTES && signature.byteLength === SIGNATURE_BYTES && platform.ed25519Verify(mailbox, message, signature)
}

/**
 * Checks a signed request: timestamp within ±windowMs of `now`, then the
 * signature. The cheap check runs first, so a stale replay costs no verify.
 */
export function checkAuth (fields: SignedFields, signature: Uint8Array, now: number, windowMs = DEFAULT_AUTH_WINDOW_MS): void {
  const skew = fields.timestamp - now
  if (Math.abs(skew) > windowMs) throw new StaleTimestampError(skew, windowMs)
  if (!verifyAuth(fields.mailbox, authMessage(fields), signature)) throw new BadSignatureError()
}

/** A mailbox owner's key pair: the public key is the mailbox address. */
export class MailboxKey {
  readonly publicKey: Uint8Array
  private readonly seed: Uint8Array
  private x25519?: Uint8Array

  private constructor (seed: Uint8Array, publicKey: Uint8Array) {
    this.seed = seed
    this.publicKey = publicKey
  }

  static generate (): MailboxKey {
    return MailboxKey.fromSeed(platform.randomFill(new Uint8Array(ED25519_SEED_BYTES)))
  }

  /** From the 32-byte private seed (RFC 8032). */
  static fromSeed (seed: Uint8Array): MailboxKey {
    if (!(seed instanceof Uint8Array) || seed.byteLength !== ED25519_SEED_BYTES) throw new InvalidMailboxKeyError(`an Ed25519 seed is ${ED25519_SEED_BYTES} bytes`)
    let publicKey: Uint8Array
    try {
      publicKey = platform.ed25519PublicKey(seed)
    } catch (err) {
      throw new InvalidMailboxKeyError('not a usable Ed25519 seed', { cause: err })
    }
    return new MailboxKey(Uint8Array.from(seed), publicKey)
  }

  /** The private seed (for the key file). */
  exportSeed (): Uint8Array {
    return Uint8Array.from(this.seed)
  }

  sign (message: Uint8Array): Uint8Array {
    return platform.ed25519Sign(this.seed, message)
  }

  /** Signs a request's fields (see {@link authMessage}). */
  signFields (fields: Omit<SignedFields, 'mailbox'>): Uint8Array {
    return this.sign(authMessage({ ...fields, mailbox: this.publicKey }))
  }

  /** X25519(this key's X25519 form, `publicKey`): what opens envelopes sealed to this mailbox. */
  agree (publicKey: Uint8Array): Uint8Array {
    this.x25519 ??= platform.ed25519SeedToX25519(this.seed)
    try {
      return platform.x25519(this.x25519, publicKey)
    } catch (err) {
      throw new InvalidKeyError('key agreement failed: the peer key is unusable', { cause: err as Error })
    }
  }
}

/** Public keys are written as 64 lowercase hex characters (docs/swarm.md). */
export function formatMailbox (publicKey: Uint8Array): string {
  return bytesToHex(publicKey)
}

export function parseMailbox (text: string): Uint8Array {
  const t = text.trim().toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(t)) throw new InvalidMailboxKeyError(`a mailbox is a 32-byte Ed25519 public key in hex (64 characters), got "${text}"`)
  return hexToBytes(t)
}
