import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { X25519_KEY_BYTES } from '../wire/onion-format.js'
import {
  InvalidRecordFieldError, MalformedRecordError, RecordTooLargeError, UnsupportedRecordFormatError
} from './record-errors.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'

/**
 * Node records: a node's signed announcement of its addresses, current onion
 * key and capabilities. Byte layout (format 1, all integers big-endian):
 *
 *   format u8 = 1 | identityKey 32 (Ed25519) | onionKey 32 (X25519) | epoch u32
 *   | validUntil u64 (ms) | version u64 | capabilities u32 | addrCount u8
 *   | addrCount × (len u16, multiaddr bytes) | signature 64
 *
 * The signature is Ed25519 by the identity key over
 * "ghostnode/v1/node-record" || every byte before the signature.
 */

export const NODE_RECORD_FORMAT = 1
export const NODE_RECORD_DOMAIN = 'ghostnode/v1/node-record'
export const MAX_NODE_RECORD_ADDRS = 16
export const MAX_NODE_RECORD_ADDR_BYTES = 256
export const MAX_NODE_RECORD_BYTES = 4096
export const ED25519_KEY_BYTES = 32
export const ED25519_SIGNATURE_BYTES = 64
/** Bytes before the address list. */
const FIXED_HEADER_BYTES = 1 + ED25519_KEY_BYTES + X25519_KEY_BYTES + 4 + 8 + 8 + 4 + 1
const MAX_U64 = (1n << 64n) - 1n
const DOMAIN_BYTES = new TextEncoder().encode(NODE_RECORD_DOMAIN)

/** Capability bits. Unknown bits are carried through unchanged so newer roles do not break older nodes. */
export const Capability = {
  /** Forwards circuits (first and middle hops). */
  RELAY: 0x1,
  /** Executes requests at the end of a circuit (hop 3). */
  EXIT: 0x2,
  /** Stores swarm mailboxes (member of the consistent-hash ring). */
  SWARM: 0x4,
  /**
   * May be a client's first hop. Only the network's authorities grant it (a
   * member's flags, docs/protocol.md §11); a node's own record never needs it.
   */
  GUARD: 0x8
} as const
export const ALL_CAPABILITIES = Capability.RELAY | Capability.EXIT | Capability.SWARM

/** What a node says about itself. */
export interface NodeRecordFields {
  addrs: Multiaddr[]
  /** Raw X25519 public key, 32 bytes. */
  onionKey: Uint8Array
  /** Onion-key epoch (u32). */
  epoch: number
  /** Ms since the Unix epoch after which the record (and its onion key) must not be used. */
  validUntil: number
  /** Monotonic sequence (u64): the highest version per peer wins. */
  version: bigint
  /** Bit set of `Capability`. */
  capabilities: number
}

/** A decoded record. Its signature has NOT necessarily been checked: see VerifiedNodeRecord. */
export interface SignedNodeRecord extends NodeRecordFields {
  peerId: PeerId
  /** Raw Ed25519 public key the peer id is derived from. */
  identityKey: Uint8Array
  signature: Uint8Array
  /** The whole encoded record, signature included (what is stored and served). */
  bytes: Uint8Array
}

declare const verified: unique symbol
/** A record whose signature, expiry and onion key were checked (see record-verifier.ts). */
export type VerifiedNodeRecord = SignedNodeRecord & { readonly [verified]: true }

/** Marks a record as verified; only the verifier and the owner of the signing key may call it. */
export function markVerified (record: SignedNodeRecord): VerifiedNodeRecord {
  return record as VerifiedNodeRecord
}

/** The exact bytes the identity key signs. */
export function nodeRecordSigningMessage (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(DOMAIN_BYTES.byteLength + body.byteLength)
  out.set(DOMAIN_BYTES, 0)
  out.set(body, DOMAIN_BYTES.byteLength)
  return out
}

function checkU32 (value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new InvalidRecordFieldError(`${what} must be a u32`)
}

/** Encodes everything but the signature; throws InvalidRecordFieldError on out-of-range input. */
export function encodeNodeRecordBody (identityKey: Uint8Array, fields: NodeRecordFields): Uint8Array {
  if (!(identityKey instanceof Uint8Array) || identityKey.byteLength !== ED25519_KEY_BYTES) {
    throw new InvalidRecordFieldError('identity key must be a raw 32-byte Ed25519 public key')
  }
  if (!(fields.onionKey instanceof Uint8Array) || fields.onionKey.byteLength !== X25519_KEY_BYTES) {
    throw new InvalidRecordFieldError('onion key must be 32 bytes')
  }
  checkU32(fields.epoch, 'epoch')
  checkU32(fields.capabilities, 'capabilities')
  if (!Number.isSafeInteger(fields.validUntil) || fields.validUntil < 0) {
    throw new InvalidRecordFieldError('validUntil must be a non-negative safe integer (ms)')
  }
  if (typeof fields.version !== 'bigint' || fields.version < 0n || fields.version > MAX_U64) {
    throw new InvalidRecordFieldError('version must be a u64 bigint')
  }
  if (fields.addrs.length > MAX_NODE_RECORD_ADDRS) {
    throw new InvalidRecordFieldError(`at most ${MAX_NODE_RECORD_ADDRS} addresses`)
  }
  const addrBytes = fields.addrs.map(a => a.bytes)
  for (const b of addrBytes) {
    if (b.byteLength === 0 || b.byteLength > MAX_NODE_RECORD_ADDR_BYTES) {
      throw new InvalidRecordFieldError(`an address must be 1..${MAX_NODE_RECORD_ADDR_BYTES} bytes`)
    }
  }
  const size = FIXED_HEADER_BYTES + addrBytes.reduce((n, b) => n + 2 + b.byteLength, 0)
  if (size + ED25519_SIGNATURE_BYTES > MAX_NODE_RECORD_BYTES) {
    throw new InvalidRecordFieldError(`record would exceed ${MAX_NODE_RECORD_BYTES} bytes`)
  }
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  let o = 0
  out[o++] = NODE_RECORD_FORMAT
  out.set(identityKey, o); o += ED25519_KEY_BYTES
  out.set(fields.onionKey, o); o += X25519_KEY_BYTES
  view.setUint32(o, fields.epoch); o += 4
  view.setBigUint64(o, BigInt(fields.validUntil)); o += 8
  view.setBigUint64(o, fields.version); o += 8
  view.setUint32(o, fields.capabilities); o += 4
  out[o++] = addrBytes.length
  for (const b of addrBytes) {
    view.setUint16(o, b.byteLength); o += 2
    out.set(b, o); o += b.byteLength
  }
  return out
}

/** Appends the signature to an encoded body. */
export function assembleNodeRecord (body: Uint8Array, signature: Uint8Array): Uint8Array {
  if (signature.byteLength !== ED25519_SIGNATURE_BYTES) throw new InvalidRecordFieldError('signature must be 64 bytes')
  const out = new Uint8Array(body.byteLength + signature.byteLength)
  out.set(body, 0)
  out.set(signature, body.byteLength)
  return out
}

/** Builds and signs this node's record with its libp2p identity key (Ed25519). */
export async function createNodeRecord (privateKey: PrivateKey, fields: NodeRecordFields): Promise<VerifiedNodeRecord> {
  if (privateKey.type !== 'Ed25519') throw new InvalidRecordFieldError(`node records need an Ed25519 identity, not ${privateKey.type}`)
  const body = encodeNodeRecordBody(privateKey.publicKey.raw, fields)
  const signature = await privateKey.sign(nodeRecordSigningMessage(body))
  // decoding what we just built keeps one code path for every record in memory
  return markVerified(decodeNodeRecord(assembleNodeRecord(body, signature)))
}

/**
 * Parses an encoded record without checking its signature. Every failure is a
 * typed NodeRecordError (never a RangeError from a short buffer).
 */
export function decodeNodeRecord (bytes: Uint8Array): SignedNodeRecord {
  if (!(bytes instanceof Uint8Array)) throw new MalformedRecordError('record must be bytes')
  if (bytes.byteLength > MAX_NODE_RECORD_BYTES) throw new RecordTooLargeError()
  if (bytes.byteLength === 0) throw new MalformedRecordError('empty record')
  if (bytes[0] !== NODE_RECORD_FORMAT) throw new UnsupportedRecordFormatError(`unsupported node record format ${bytes[0]}`)
  if (bytes.byteLength < FIXED_HEADER_BYTES + ED25519_SIGNATURE_BYTES) throw new MalformedRecordError('record is truncated')

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  let o = 1
  const identityKey = bytes.slice(o, o + ED25519_KEY_BYTES); o += ED25519_KEY_BYTES
  const onionKey = bytes.slice(o, o + X25519_KEY_BYTES); o += X25519_KEY_BYTES
  const epoch = view.getUint32(o); o += 4
  const validUntilBig = view.getBigUint64(o); o += 8
  const version = view.getBigUint64(o); o += 8
  const capabilities = view.getUint32(o); o += 4
  const addrCount = bytes[o++]
  if (validUntilBig > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedRecordError('validUntil out of range')
  if (addrCount > MAX_NODE_RECORD_ADDRS) throw new MalformedRecordError(`more than ${MAX_NODE_RECORD_ADDRS} addresses`)

  const addrs: Multiaddr[] = []
  for (let i = 0; i < addrCount; i++) {
    if (o + 2 > bytes.byteLength - ED25519_SIGNATURE_BYTES) throw new MalformedRecordError('record is truncated')
    const len = view.getUint16(o); o += 2
    if (len === 0 || len > MAX_NODE_RECORD_ADDR_BYTES) throw new MalformedRecordError('address length out of range')
    if (o + len > bytes.byteLength - ED25519_SIGNATURE_BYTES) throw new MalformedRecordError('record is truncated')
    addrs.push(decodeAddr(bytes.slice(o, o + len)))
    o += len
  }
  if (bytes.byteLength - o !== ED25519_SIGNATURE_BYTES) throw new MalformedRecordError('trailing bytes after the signature')

  let peerId: PeerId
  try {
    peerId = peerIdFromPublicKey(publicKeyFromRaw(identityKey))
  } catch (err) {
    throw new MalformedRecordError('identity key is not an Ed25519 public key', { cause: err })
  }
  return {
    peerId,
    identityKey,
    addrs,
    onionKey,
    epoch,
    validUntil: Number(validUntilBig),
    version,
    capabilities,
    signature: bytes.slice(o),
    bytes: bytes.slice()
  }
}

/** A multiaddr from bytes, required to re-encode identically so the encoding stays canonical. */
function decodeAddr (raw: Uint8Array): Multiaddr {
  let ma: Multiaddr
  let again: Uint8Array
  try {
    ma = multiaddr(raw)
    again = ma.bytes
  } catch (err) {
    throw new MalformedRecordError('invalid multiaddr', { cause: err })
  }
  if (again.byteLength !== raw.byteLength || again.some((b, i) => b !== raw[i])) {
    throw new MalformedRecordError('multiaddr is not canonically encoded')
  }
  return ma
}

/** The signed part of an encoded record (everything but the trailing signature). */
export function nodeRecordBody (record: SignedNodeRecord): Uint8Array {
  return record.bytes.subarray(0, record.bytes.byteLength - ED25519_SIGNATURE_BYTES)
}

const P2P_CODE = 421

/**
 * The node's own addresses as a record carries them: without the /p2p/<self>
 * suffix (the record names the peer), deduplicated, and cut to what fits the
 * address count and record size limits.
 */
export function ownRecordAddrs (addrs: Multiaddr[]): Multiaddr[] {
  const out: Multiaddr[] = []
  const seen = new Set<string>()
  let size = FIXED_HEADER_BYTES + ED25519_SIGNATURE_BYTES
  for (const addr of addrs) {
    const bare = addr.getComponents().some(c => c.code === P2P_CODE) ? addr.decapsulateCode(P2P_CODE) : addr
    const key = bare.toString()
    const len = bare.bytes.byteLength
    if (seen.has(key) || len === 0 || len > MAX_NODE_RECORD_ADDR_BYTES || size + 2 + len > MAX_NODE_RECORD_BYTES) continue
    seen.add(key)
    size += 2 + len
    out.push(bare)
    if (out.length === MAX_NODE_RECORD_ADDRS) break
  }
  return out
}

/** True when the record advertises every bit of `capability`. */
export function hasCapability (record: { capabilities: number }, capability: number): boolean {
  return (record.capabilities & capability) === capability
}
