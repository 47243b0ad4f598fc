import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { platform } from '../crypto/platform/index.js'
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES } from '../crypto/sizes.js'
import { bytesToHex, Reader, Writer } from '../wire/bytes.js'
import {
  DocumentKind, MAX_AUTHORITIES, MAX_DOCUMENT_BYTES, MAX_MEMBER_ADDR_BYTES,
  MAX_MEMBER_ADDRS, MEMBERSHIP_FORMAT, MEMBERSHIP_SIGNING_DOMAIN, RECORD_HASH_BYTES, type DocumentKindValue
} from './constants.js'
import {
  DocumentSignatureError, DocumentTooLargeError, ForeignNetworkError, InvalidAuthorityError, InvalidDocumentFieldError,
  MalformedDocumentError, TooFewSignaturesError, WrongDocumentKindError
} from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

/**
 * Membership documents (docs/protocol.md §11): an authority's vote, and the
 * consensus that k authorities sign. Both share one body layout:
 *
 *   format u8 (1) | kind u8 | period u64 | validAfter u64 | validUntil u64
 *   | threshold u8 | authorityCount u8 | authorityCount × key 32 (ascending)
 *   | [vote: voter u8 (index into the keys)]
 *   | memberCount u32 | members (ascending by key): key 32 | recordHash 32 | flags u8
 *     | addrCount u8 | addrCount × (len u16 | multiaddr bytes)
 *
 * followed by `sigCount u8 | sigCount × (authority index u8 | Ed25519 signature 64)`
 * (indices ascending, distinct). Each signature covers
 * "ghostnode/v1/membership" | 0x00 | body. Members are named by their raw
 * Ed25519 identity key, from which the peer id derives.
 */

export interface MemberEntry {
  /** Peer id string (derived from `key`). */
  readonly peerId: string
  /** Raw Ed25519 identity key. */
  readonly key: Uint8Array
  /** SHA-256 of the member's node record the authorities saw. */
  readonly recordHash: Uint8Array
  /** Bit set of MemberFlag. */
  readonly flags: number
  /** Addresses the authorities found dialable. */
  readonly addrs: Multiaddr[]
}

export interface DocumentBody {
  kind: DocumentKindValue
  /** floor(validAfter / interval): documents of a later period replace earlier ones. */
  period: number
  validAfter: number
  validUntil: number
  threshold: number
  /** Raw Ed25519 keys of the network's authorities, ascending. */
  authorities: Uint8Array[]
  /** Votes: index of the voting authority. */
  voter?: number
  members: MemberEntry[]
}

export interface DocumentSignature {
  index: number
  signature: Uint8Array
}

export interface SignedDocument extends DocumentBody {
  /** The encoded body (what is signed). */
  body: Uint8Array
  /** SHA-256 of the body: two documents with the same hash say the same thing. */
  hash: Uint8Array
  signatures: DocumentSignature[]
  /** The whole encoding, signatures included. */
  bytes: Uint8Array
}

/** Who this node believes: the network's authority keys and how many must sign. */
export interface AuthorityTrust {
  authorities: Uint8Array[]
  threshold: number
}

const DOMAIN = new TextEncoder().encode(MEMBERSHIP_SIGNING_DOMAIN)
const malformed = (message: string): Error => new MalformedDocumentError(message)

export function sha256 (bytes: Uint8Array): Uint8Array {
  return platform.sha256(bytes)
}

export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.byteLength - b.byteLength
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  return compareBytes(a, b) === 0
}

/** The raw Ed25519 key inside an Ed25519 peer id (authorities and members are named by it). */
export function keyOfPeerId (peerId: string): Uint8Array {
  let parsed
  try {
    parsed = peerIdFromString(peerId)
  } catch (err) {
    throw new InvalidAuthorityError(`not a peer id: ${peerId} (${(err as Error).message})`)
  }
  if (parsed.type !== 'Ed25519' || parsed.publicKey == null) throw new InvalidAuthorityError(`not an Ed25519 peer id: ${peerId}`)
  return parsed.publicKey.raw
}

export function peerIdOfKey (key: Uint8Array): string {
  return peerIdFromPublicKey(publicKeyFromRaw(key)).toString()
}

/** Sorted, de-duplicated authority keys: every authority must encode the same list. */
export function normalizeAuthorities (keys: Uint8Array[]): Uint8Array[] {
  const sorted = [...keys].sort(compareBytes)
  return sorted.filter((k, i) => i === 0 || !bytesEqual(k, sorted[i - 1]))
}

export function encodeDocumentBody (doc: DocumentBody): Uint8Array {
  if (doc.authorities.length === 0 || doc.authorities.length > MAX_AUTHORITIES) throw new InvalidDocumentFieldError(`1..${MAX_AUTHORITIES} authorities`)
  if (doc.threshold < 1 || doc.threshold > doc.authorities.length) throw new InvalidDocumentFieldError('threshold out of range')
  const w = new Writer(1024)
  w.u8(MEMBERSHIP_FORMAT).u8(doc.kind).u64(doc.period).u64(doc.validAfter).u64(doc.validUntil)
  w.u8(doc.threshold).u8(doc.authorities.length)
  for (const key of doc.authorities) w.bytes(checkedKey(key))
  if (doc.kind === DocumentKind.VOTE) {
    if (doc.voter == null || doc.voter >= doc.authorities.length) throw new InvalidDocumentFieldError('a vote names its voter')
    w.u8(doc.voter)
  }
  const members = [...doc.members].sort((a, b) => compareBytes(a.key, b.key))
  w.u32(members.length)
  for (const m of members) {
    if (m.recordHash.byteLength !== RECORD_HASH_BYTES) throw new InvalidDocumentFieldError('record hash must be 32 bytes')
    if (m.addrs.length > MAX_MEMBER_ADDRS) throw new InvalidDocumentFieldError(`at most ${MAX_MEMBER_ADDRS} addresses`)
    w.bytes(checkedKey(m.key)).bytes(m.recordHash).u8(m.flags).u8(m.addrs.length)
    for (const addr of m.addrs) {
      const raw = addr.bytes
      if (raw.byteLength === 0 || raw.byteLength > MAX_MEMBER_ADDR_BYTES) throw new InvalidDocumentFieldError('address length out of range')
      w.u16(raw.byteLength).bytes(raw)
    }
  }
  return w.finish().slice()
}

function checkedKey (key: Uint8Array): Uint8Array {
  if (key.byteLength !== ED25519_PUBLIC_KEY_BYTES) throw new InvalidDocumentFieldError('keys are 32 bytes')
  return key
}

export function documentSigningMessage (body: Uint8Array): Uint8Array {
  const out = new Uint8Array(DOMAIN.byteLength + 1 + body.byteLength)
  out.set(DOMAIN, 0)
  out.set(body, DOMAIN.byteLength + 1)
  return out
}

export async function signDocumentBody (body: Uint8Array, privateKey: PrivateKey): Promise<Uint8Array> {
  return privateKey.sign(documentSigningMessage(body))
}

export function assembleDocument (body: Uint8Array, signatures: DocumentSignature[]): Uint8Array {
  const sigs = [...signatures].sort((a, b) => a.index - b.index)
  const w = new Writer(body.byteLength + 1 + sigs.length * 65)
  w.bytes(body).u8(sigs.length)
  for (const s of sigs) {
    if (s.signature.byteLength !== ED25519_SIGNATURE_BYTES) throw new InvalidDocumentFieldError('signatures are 64 bytes')
    w.u8(s.index).bytes(s.signature)
  }
  return w.finish().slice()
}

/**
 * Parses a document without checking signatures. Every failure is a typed
 * MembershipDocumentError; the encoding is canonical (sorted, no duplicates,
 * no trailing bytes), so two encodings of one document are the same bytes.
 */
export function decodeDocument (bytes: Uint8Array): SignedDocument {
  if (!(bytes instanceof Uint8Array)) throw new MalformedDocumentError('document must be bytes')
  if (bytes.byteLength > MAX_DOCUMENT_BYTES) throw new DocumentTooLargeError()
  const r = new Reader(bytes, malformed)
  if (r.u8('format') !== MEMBERSHIP_FORMAT) throw new MalformedDocumentError('unsupported membership document format')
  const kind = r.u8('kind')
  if (kind !== DocumentKind.VOTE && kind !== DocumentKind.CONSENSUS) throw new MalformedDocumentError(`unknown document kind ${kind}`)
  const period = r.u64('period')
  const validAfter = r.u64('validAfter')
  const validUntil = r.u64('validUntil')
  if (validUntil <= validAfter) throw new MalformedDocumentError('validUntil must follow validAfter')
  const threshold = r.u8('threshold')
  const authorityCount = r.u8('authority count')
  if (authorityCount === 0 || authorityCount > MAX_AUTHORITIES) throw new MalformedDocumentError('authority count out of range')
  if (threshold === 0 || threshold > authorityCount) throw new MalformedDocumentError('threshold out of range')
  const authorities: Uint8Array[] = []
  for (let i = 0; i < authorityCount; i++) {
    const key = r.bytesOf(ED25519_PUBLIC_KEY_BYTES, 'authority key').slice()
    if (i > 0 && compareBytes(authorities[i - 1], key) >= 0) throw new MalformedDocumentError('authority keys must ascend')
    authorities.push(key)
  }
  let voter: number | undefined
  if (kind === DocumentKind.VOTE) {
    voter = r.u8('voter')
    if (voter >= authorityCount) throw new MalformedDocumentError('voter index out of range')
  }
  const memberCount = r.u32('member count')
  // each member takes at least 66 bytes: refuse a count the bytes cannot hold before allocating
  if (memberCount * 66 > r.remaining) throw new MalformedDocumentError('member count exceeds the document')
  const members: MemberEntry[] = []
  let previous: Uint8Array | undefined
  for (let i = 0; i < memberCount; i++) {
    const key = r.bytesOf(ED25519_PUBLIC_KEY_BYTES, 'member key').slice()
    if (previous != null && compareBytes(previous, key) >= 0) throw new MalformedDocumentError('members must ascend by key')
    previous = key
    const recordHash = r.bytesOf(RECORD_HASH_BYTES, 'record hash').slice()
    const flags = r.u8('flags')
    const addrCount = r.u8('address count')
    if (addrCount > MAX_MEMBER_ADDRS) throw new MalformedDocumentError('too many addresses')
    const addrs: Multiaddr[] = []
    for (let a = 0; a < addrCount; a++) {
      const len = r.u16('address length')
      if (len === 0 || len > MAX_MEMBER_ADDR_BYTES) throw new MalformedDocumentError('address length out of range')
      addrs.push(decodeAddr(r.bytesOf(len, 'address')))
    }
    members.push(new DecodedMember(key, recordHash, flags, addrs))
  }
  const bodyLength = bytes.byteLength - r.remaining
  const sigCount = r.u8('signature count')
  const signatures: DocumentSignature[] = []
  for (let i = 0; i < sigCount; i++) {
    const index = r.u8('signer index')
    if (index >= authorityCount) throw new MalformedDocumentError('signer index out of range')
    if (i > 0 && signatures[i - 1].index >= index) throw new MalformedDocumentError('signer indices must ascend')
    signatures.push({ index, signature: r.bytesOf(ED25519_SIGNATURE_BYTES, 'signature').slice() })
  }
  r.end('the signatures')
  const body = bytes.slice(0, bodyLength)
  return {
    kind, period, validAfter, validUntil, threshold, authorities, members, signatures, body,
    hash: sha256(body),
    bytes: bytes.slice(),
    ...(voter !== undefined ? { voter } : {})
  }
}

/**
 * A member as decoded: its peer id is derived on first use, so a flood of
 * documents that fail their signature check costs no key parsing per member.
 * A key that is not a curve point gets an id that matches no peer.
 */
class DecodedMember implements MemberEntry {
  private id?: string
  constructor (readonly key: Uint8Array, readonly recordHash: Uint8Array, readonly flags: number, readonly addrs: Multiaddr[]) {}

  get peerId (): string {
    if (this.id === undefined) {
      try {
        this.id = peerIdOfKey(this.key)
      } catch {
        this.id = `invalid:${bytesToHex(this.key)}`
      }
    }
    return this.id
  }
}

function decodeAddr (raw: Uint8Array): Multiaddr {
  let ma: Multiaddr
  try {
    ma = multiaddr(raw.slice())
    if (!bytesEqual(ma.bytes, raw)) throw new Error('not canonical')
  } catch {
    throw new MalformedDocumentError('invalid or non-canonical multiaddr')
  }
  return ma
}

/**
 * Counts the signatures of trusted authorities that verify. Only keys both in
 * the document's list and in `trust` count, each once: a document naming extra
 * authorities gains nothing from them. Throws unless at least `trust.threshold`
 * verify. Returns the indices (into the document's list) that verified.
 */
export function verifyConsensus (doc: SignedDocument, trust: AuthorityTrust): number[] {
  if (doc.kind !== DocumentKind.CONSENSUS) throw new WrongDocumentKindError('expected a consensus document, got a vote')
  const trusted = doc.authorities.map(key => trust.authorities.some(t => bytesEqual(t, key)))
  if (trusted.filter(Boolean).length < trust.threshold) throw new ForeignNetworkError()
  const candidates = doc.signatures.filter(s => trusted[s.index])
  if (candidates.length < trust.threshold) throw new TooFewSignaturesError(`${candidates.length} trusted signatures, ${trust.threshold} needed`)
  const message = documentSigningMessage(doc.body)
  const valid: number[] = []
  for (const s of candidates) {
    if (platform.ed25519Verify(doc.authorities[s.index], message, s.signature)) valid.push(s.index)
  }
  if (valid.length < trust.threshold) throw new TooFewSignaturesError(`${valid.length} valid trusted signatures, ${trust.threshold} needed`)
  return valid
}

/** A vote must be signed by exactly its voter, who must be a trusted authority. */
export function verifyVote (doc: SignedDocument, trust: AuthorityTrust): void {
  if (doc.kind !== DocumentKind.VOTE || doc.voter == null) throw new WrongDocumentKindError('expected a vote')
  const voterKey = doc.authorities[doc.voter]
  if (!trust.authorities.some(t => bytesEqual(t, voterKey))) throw new ForeignNetworkError('vote by an authority this node does not trust')
  if (doc.signatures.length !== 1 || doc.signatures[0].index !== doc.voter) throw new DocumentSignatureError('a vote carries its voter\'s signature only')
  if (!platform.ed25519Verify(voterKey, documentSigningMessage(doc.body), doc.signatures[0].signature)) throw new DocumentSignatureError()
}
