import { platform } from '../crypto/platform/index.js'
import { AEAD_TAG_BYTES, ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES } from '../crypto/sizes.js'
import { X25519_KEY_BYTES } from '../wire/onion-format.js'
import { MAILBOX_BYTES } from '../swarm/sizes.js'
import { DEFAULT_MAX_SWARM_MESSAGE_BYTES } from '../swarm/constants.js'
import {
  EnvelopeContentError, EnvelopeOpenError, EnvelopeTooLargeError, NotAnEnvelopeError, UnsupportedEnvelopeVersionError
} from './envelope-errors.js'
import type { MailboxKey } from '../swarm/auth.js'

/**
 * End-to-end sealed mailbox messages (docs/protocol.md §13). Version 1:
 *
 *   envelope  = "gne" | version 0x01 | ephPub 32 | ciphertext | tag 16
 *   plaintext = flags u8 | [sender 32 | signature 64]  (flags bit 0) | length u32 | content | zeros
 *
 * The sender makes a fresh X25519 key per message and agrees it with the X25519
 * form of the recipient's mailbox key (the Ed25519 → Curve25519 birational map).
 * HKDF-SHA256(ikm = shared, salt = "ghostnode/v1/envelope",
 * info = "ghostnode/v1/envelope/key" || 0x00 || ephPub || mailbox) gives a 32-byte
 * ChaCha20-Poly1305 key and a 12-byte nonce (used once: the key is new per message).
 * The AEAD's associated data is the 36-byte header and the mailbox, so an envelope
 * moved to another mailbox or re-headed does not open.
 *
 * A signed envelope carries the sender's mailbox key and its Ed25519 signature over
 * "ghostnode/v1/envelope-sig" || 0x00 || mailbox || ephPub || content, inside the
 * encryption: only the recipient learns who wrote, and the signature names the
 * recipient and this envelope, so the recipient cannot pass it off to a third
 * party as a message to them.
 *
 * Sizes: the whole envelope is padded to the next size class (256 B doubling up to
 * the swarm's largest message), so exits and swarm members see a class, not a length.
 */

export const ENVELOPE_VERSION = 1
const MAGIC = Uint8Array.of(0x67, 0x6e, 0x65) // "gne"
const HEADER_BYTES = MAGIC.byteLength + 1 + X25519_KEY_BYTES
const FLAG_SIGNED = 0x01
const SIGNED_PART_BYTES = ED25519_PUBLIC_KEY_BYTES + ED25519_SIGNATURE_BYTES
const LENGTH_BYTES = 4
const KEY_BYTES = 32
const NONCE_BYTES = 12
/** Smallest size class; classes double from here. */
export const MIN_ENVELOPE_BYTES = 256

const encoder = new TextEncoder()
export const ENVELOPE_SALT = encoder.encode('ghostnode/v1/envelope')
export const ENVELOPE_KEY_INFO = encoder.encode('ghostnode/v1/envelope/key')
export const ENVELOPE_SIGNATURE_DOMAIN = encoder.encode('ghostnode/v1/envelope-sig')

export interface SealOptions {
  /** Sign inside the envelope with this mailbox key: the recipient learns and verifies the sender. */
  from?: MailboxKey
  /** Largest envelope (the swarm's `swarm.maxMessageBytes`). @default 65536 */
  maxBytes?: number
}

/** An opened envelope. */
export interface OpenedEnvelope {
  content: Uint8Array
  /** The sender's mailbox key, present only when its signature verified. */
  sender?: Uint8Array
}

/** Bytes an envelope adds to its content before padding. */
export function envelopeOverhead (signed: boolean): number {
  return HEADER_BYTES + 1 + (signed ? SIGNED_PART_BYTES : 0) + LENGTH_BYTES + AEAD_TAG_BYTES
}

/** Envelope bytes for `contentBytes` bytes of content: the size class it pads to. */
export function envelopeSize (contentBytes: number, signed: boolean, maxBytes = DEFAULT_MAX_SWARM_MESSAGE_BYTES): number {
  const needed = envelopeOverhead(signed) + contentBytes
  if (needed > maxBytes) throw new EnvelopeTooLargeError(contentBytes, maxBytes)
  let size = MIN_ENVELOPE_BYTES
  while (size < needed) size *= 2
  return Math.min(size, maxBytes)
}

function keyAndNonce (shared: Uint8Array, ephPub: Uint8Array, mailbox: Uint8Array): { key: Uint8Array, nonce: Uint8Array } {
  const info = new Uint8Array(ENVELOPE_KEY_INFO.byteLength + 1 + X25519_KEY_BYTES + MAILBOX_BYTES)
  info.set(ENVELOPE_KEY_INFO, 0)
  info.set(ephPub, ENVELOPE_KEY_INFO.byteLength + 1)
  info.set(mailbox, ENVELOPE_KEY_INFO.byteLength + 1 + X25519_KEY_BYTES)
  const okm = platform.hkdfSha256(shared, ENVELOPE_SALT, info, KEY_BYTES + NONCE_BYTES)
  shared.fill(0)
  return { key: okm.subarray(0, KEY_BYTES), nonce: okm.subarray(KEY_BYTES) }
}

function associatedData (header: Uint8Array, mailbox: Uint8Array): Uint8Array {
  const ad = new Uint8Array(HEADER_BYTES + MAILBOX_BYTES)
  ad.set(header, 0)
  ad.set(mailbox, HEADER_BYTES)
  return ad
}

/** What a sender signs: the recipient, this envelope's ephemeral key and the content. */
export function envelopeSignedMessage (mailbox: Uint8Array, ephPub: Uint8Array, content: Uint8Array): Uint8Array {
  const d = ENVELOPE_SIGNATURE_DOMAIN.byteLength
  const msg = new Uint8Array(d + 1 + MAILBOX_BYTES + X25519_KEY_BYTES + content.byteLength)
  msg.set(ENVELOPE_SIGNATURE_DOMAIN, 0)
  msg.set(mailbox, d + 1)
  msg.set(ephPub, d + 1 + MAILBOX_BYTES)
  msg.set(content, d + 1 + MAILBOX_BYTES + X25519_KEY_BYTES)
  return msg
}

/** True when the bytes carry the envelope header (of any version). */
export function isEnvelope (bytes: Uint8Array): boolean {
  return bytes.byteLength >= MAGIC.byteLength + 1 && bytes[0] === MAGIC[0] && bytes[1] === MAGIC[1] && bytes[2] === MAGIC[2]
}

/**
 * Seals `content` to `mailbox` (the recipient's Ed25519 public key). Every call
 * makes a new ephemeral key, so sealing the same content twice gives two
 * different envelopes (two messages); a retry must resend the same bytes.
 * @throws InvalidKeyError for a mailbox key that is not a usable Ed25519 point
 */
export function sealEnvelope (mailbox: Uint8Array, content: Uint8Array, options: SealOptions = {}): Uint8Array {
  if (mailbox.byteLength !== MAILBOX_BYTES) throw new EnvelopeContentError(`a mailbox is ${MAILBOX_BYTES} bytes`)
  const recipient = platform.ed25519PublicToX25519(mailbox)
  const signed = options.from != null
  const size = envelopeSize(content.byteLength, signed, options.maxBytes)
  const out = new Uint8Array(size)
  const ephPriv = platform.randomFill(new Uint8Array(X25519_KEY_BYTES))
  const ephPub = platform.x25519PublicKey(ephPriv)
  out.set(MAGIC, 0)
  out[MAGIC.byteLength] = ENVELOPE_VERSION
  out.set(ephPub, MAGIC.byteLength + 1)
  const header = out.subarray(0, HEADER_BYTES)
  const { key, nonce } = keyAndNonce(platform.x25519(ephPriv, recipient), ephPub, mailbox)
  ephPriv.fill(0)

  // plaintext written in place between the header and the tag; padding stays zero
  const body = out.subarray(HEADER_BYTES, size - AEAD_TAG_BYTES)
  let at = 0
  body[at++] = signed ? FLAG_SIGNED : 0
  if (options.from != null) {
    body.set(options.from.publicKey, at)
    body.set(options.from.sign(envelopeSignedMessage(mailbox, ephPub, content)), at + ED25519_PUBLIC_KEY_BYTES)
    at += SIGNED_PART_BYTES
  }
  new DataView(body.buffer, body.byteOffset, body.byteLength).setUint32(at, content.byteLength)
  body.set(content, at + LENGTH_BYTES)
  platform.aeadSealInPlace(key, nonce, body, out.subarray(size - AEAD_TAG_BYTES), associatedData(header, mailbox))
  key.fill(0)
  return out
}

/**
 * Opens an envelope sealed to `key`'s mailbox.
 * @throws NotAnEnvelopeError (raw message), UnsupportedEnvelopeVersionError,
 * EnvelopeOpenError (another mailbox's, or tampered), EnvelopeContentError (bad inside or sender signature)
 */
export function openEnvelope (key: MailboxKey, bytes: Uint8Array): OpenedEnvelope {
  if (!isEnvelope(bytes)) throw new NotAnEnvelopeError()
  const version = bytes[MAGIC.byteLength]
  if (version !== ENVELOPE_VERSION) throw new UnsupportedEnvelopeVersionError(version)
  if (bytes.byteLength < HEADER_BYTES + 1 + LENGTH_BYTES + AEAD_TAG_BYTES) throw new EnvelopeOpenError('too short')
  const header = bytes.subarray(0, HEADER_BYTES)
  const ephPub = bytes.slice(MAGIC.byteLength + 1, HEADER_BYTES)
  const mailbox = key.publicKey
  let shared: Uint8Array
  try {
    shared = key.agree(ephPub)
  } catch {
    throw new EnvelopeOpenError('unusable ephemeral key')
  }
  const { key: aeadKey, nonce } = keyAndNonce(shared, ephPub, mailbox)
  const body = bytes.slice(HEADER_BYTES, bytes.byteLength - AEAD_TAG_BYTES)
  const tag = bytes.subarray(bytes.byteLength - AEAD_TAG_BYTES)
  const ok = platform.aeadOpenInPlace(aeadKey, nonce, body, tag, associatedData(header, mailbox))
  aeadKey.fill(0)
  if (!ok) throw new EnvelopeOpenError()

  const flags = body[0]
  if ((flags & ~FLAG_SIGNED) !== 0) throw new EnvelopeContentError('unknown flags')
  let at = 1
  let sender: Uint8Array | undefined
  let signature: Uint8Array | undefined
  if ((flags & FLAG_SIGNED) !== 0) {
    if (body.byteLength < at + SIGNED_PART_BYTES + LENGTH_BYTES) throw new EnvelopeContentError('truncated sender part')
    sender = body.slice(at, at + ED25519_PUBLIC_KEY_BYTES)
    signature = body.subarray(at + ED25519_PUBLIC_KEY_BYTES, at + SIGNED_PART_BYTES)
    at += SIGNED_PART_BYTES
  }
  if (body.byteLength < at + LENGTH_BYTES) throw new EnvelopeContentError('truncated length')
  const length = new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(at)
  at += LENGTH_BYTES
  if (length > body.byteLength - at) throw new EnvelopeContentError('length past the end')
  // one encoding per message: padding is zeros
  for (let i = at + length; i < body.byteLength; i++) if (body[i] !== 0) throw new EnvelopeContentError('non-zero padding')
  const content = body.slice(at, at + length)
  if (sender != null && signature != null) {
    if (!platform.ed25519Verify(sender, envelopeSignedMessage(mailbox, ephPub, content), signature)) {
      throw new EnvelopeContentError('the sender signature does not verify')
    }
    return { content, sender }
  }
  return { content }
}
