import {
  CELL_PAYLOAD_BYTES, CREATE_BETA_BYTES, CREATE_HEADER_BYTES, CREATE_MAC_BYTES, MAX_HOPS, MAX_PEER_ID_BYTES,
  ROUTING_SLOT_BYTES, SLOT_FLAG_EXIT, SLOT_FLAGS_OFFSET, SLOT_NEXT_EPH_OFFSET, SLOT_NEXT_MAC_OFFSET,
  SLOT_PEER_ID_LEN_OFFSET, SLOT_PEER_ID_OFFSET, SLOT_RESERVED_OFFSET, X25519_KEY_BYTES
} from '../wire/onion-format.js'
import { CreateRoutingError, InvalidPathError } from './errors.js'
import { CREATE_KEY_BYTES, KDF_SALT, createInfo, splitCreateKeys, type CreateKeys } from './labels.js'
import { platform } from './platform/index.js'

/**
 * One-shot CREATE: a Sphinx-style header (Danezis & Goldberg 2009) that every hop
 * peels with one X25519, one HKDF, one HMAC and one AES-256-CTR keystream.
 *
 * Header = `[ephPub 32][mac 16][beta 480]`, beta = MAX_HOPS routing slots of 96 B.
 * Hop i decrypts `(beta || 0^96) XOR AES-CTR(headerKey_i)`: the first slot is its
 * routing info (which carries hop i+1's ephPub and MAC), the remaining 480 bytes are
 * hop i+1's beta. Instead of Sphinx's blinded group element each hop gets a fresh
 * ephemeral key carried in the previous hop's slot, so the filler only has to make
 * the MACs line up. The header is the same size for every path length and position.
 */

const L = CREATE_BETA_BYTES
const S = ROUTING_SLOT_BYTES
/** Bytes of keystream a hop applies: its beta plus the slot it shifts in. */
export const KEYSTREAM_BYTES = L + S

/** One hop of a path as the client sees it. */
export interface PathHop {
  /** The hop's peer id bytes (opaque here; at most MAX_PEER_ID_BYTES for hops after the first). */
  peerId: Uint8Array
  /** The hop's current onion public key (raw X25519). */
  onionKey: Uint8Array
}

/** What the client keeps after building a CREATE. */
export interface BuiltCreate {
  /** The CREATE cell payload for the first hop (CELL_PAYLOAD_BYTES). */
  payload: Uint8Array
  /** Per-hop key material, first hop first; feed to ClientCircuitCrypto. */
  hops: CreateKeys[]
}

/** Decoded routing slot. */
export type RoutingInfo =
  | { exit: true }
  | { exit: false, nextPeerId: Uint8Array, nextEph: Uint8Array, nextMac: Uint8Array }

/** The hop's header keystream (AES-256-CTR, IV 0) XORed over `input`. */
export function keystream (headerKey: Uint8Array, input: Uint8Array): Uint8Array {
  return platform.aes256CtrZeroIv(headerKey, input)
}

/** The client's side of kdf.ts deriveCreateKeys, on the platform's HKDF (the same bytes). */
function deriveCreateKeys (shared: Uint8Array, ephPub: Uint8Array, onionPub: Uint8Array): CreateKeys {
  return splitCreateKeys(platform.hkdfSha256(shared, KDF_SALT, createInfo(ephPub, onionPub), CREATE_KEY_BYTES))
}

/** The client's side of kdf.ts headerMac. */
function headerMac (macKey: Uint8Array, beta: Uint8Array): Uint8Array {
  return platform.hmacSha256(macKey, beta).subarray(0, CREATE_MAC_BYTES)
}

/** A fresh ephemeral X25519 key pair. */
function generateX25519 (): { privateKey: Uint8Array, publicKey: Uint8Array } {
  const privateKey = platform.randomFill(new Uint8Array(X25519_KEY_BYTES))
  return { privateKey, publicKey: platform.x25519PublicKey(privateKey) }
}

export function xorInto (target: Uint8Array, source: Uint8Array): void {
  for (let i = 0; i < target.length; i++) target[i] ^= source[i]
}

function allZero (bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i] !== 0) return false
  return true
}

/** Write a routing slot into `slot` (S bytes, zeroed by the caller). */
export function encodeRoutingSlot (slot: Uint8Array, info: RoutingInfo): void {
  if (info.exit) {
    slot[SLOT_FLAGS_OFFSET] = SLOT_FLAG_EXIT
    return
  }
  const { nextPeerId, nextEph, nextMac } = info
  if (nextPeerId.byteLength < 1 || nextPeerId.byteLength > MAX_PEER_ID_BYTES) {
    throw new InvalidPathError(`peer id must be 1..${MAX_PEER_ID_BYTES} bytes`)
  }
  slot[SLOT_FLAGS_OFFSET] = 0
  slot[SLOT_PEER_ID_LEN_OFFSET] = nextPeerId.byteLength
  slot.set(nextPeerId, SLOT_PEER_ID_OFFSET)
  slot.set(nextEph, SLOT_NEXT_EPH_OFFSET)
  slot.set(nextMac, SLOT_NEXT_MAC_OFFSET)
}

/**
 * Parse a decrypted routing slot. Returned arrays are copies.
 * @throws CreateRoutingError on unknown flags or a bad peer id length
 */
export function decodeRoutingSlot (slot: Uint8Array): RoutingInfo {
  if (slot.byteLength !== S) {
    throw new CreateRoutingError(`routing slot must be ${S} bytes`)
  }
  const flags = slot[SLOT_FLAGS_OFFSET]
  const idLen = slot[SLOT_PEER_ID_LEN_OFFSET]
  if ((flags & ~SLOT_FLAG_EXIT) !== 0) {
    throw new CreateRoutingError('unknown routing flags')
  }
  if ((flags & SLOT_FLAG_EXIT) !== 0) {
    // the exit's slot is all zero past its flags: one encoding per meaning
    if (!allZero(slot, SLOT_PEER_ID_LEN_OFFSET, S)) throw new CreateRoutingError('exit slot carries a next hop or non-zero bytes')
    return { exit: true }
  }
  if (idLen < 1 || idLen > MAX_PEER_ID_BYTES) {
    throw new CreateRoutingError('bad next-hop peer id length')
  }
  if (!allZero(slot, SLOT_PEER_ID_OFFSET + idLen, SLOT_PEER_ID_OFFSET + MAX_PEER_ID_BYTES) || !allZero(slot, SLOT_RESERVED_OFFSET, S)) {
    throw new CreateRoutingError('non-zero padding or reserved bytes in the routing slot')
  }
  return {
    exit: false,
    nextPeerId: slot.slice(SLOT_PEER_ID_OFFSET, SLOT_PEER_ID_OFFSET + idLen),
    nextEph: slot.slice(SLOT_NEXT_EPH_OFFSET, SLOT_NEXT_EPH_OFFSET + X25519_KEY_BYTES),
    nextMac: slot.slice(SLOT_NEXT_MAC_OFFSET, SLOT_NEXT_MAC_OFFSET + CREATE_MAC_BYTES)
  }
}

function checkPath (path: readonly PathHop[]): void {
  if (path.length < 1 || path.length > MAX_HOPS) {
    throw new InvalidPathError(`a circuit has 1..${MAX_HOPS} hops, got ${path.length}`)
  }
  path.forEach((hop, i) => {
    if (hop.onionKey?.byteLength !== X25519_KEY_BYTES) {
      throw new InvalidPathError(`hop ${i}: onion key must be ${X25519_KEY_BYTES} bytes`)
    }
    // The first hop's peer id never enters the header (the client dials it directly).
    const idLen = hop.peerId?.byteLength ?? 0
    if (i > 0 && (idLen < 1 || idLen > MAX_PEER_ID_BYTES)) {
      throw new InvalidPathError(`hop ${i}: peer id must be 1..${MAX_PEER_ID_BYTES} bytes`)
    }
  })
}

/**
 * Build the one-shot CREATE payload for `path` (first hop first, last hop = exit).
 * Costs one X25519 key generation and one X25519 per hop.
 * @throws InvalidPathError, LowOrderPointError (a bogus onion key)
 */
export function buildCreate (path: readonly PathHop[]): BuiltCreate {
  checkPath(path)
  const n = path.length
  const ephs = path.map(() => generateX25519())
  const hops = path.map((hop, i) =>
    deriveCreateKeys(platform.x25519(ephs[i].privateKey, hop.onionKey), ephs[i].publicKey, hop.onionKey))
  // the ephemeral secrets are spent: only the derived keys live on
  for (const eph of ephs) eph.privateKey.fill(0)
  const streams = hops.map(k => keystream(k.headerKey, new Uint8Array(KEYSTREAM_BYTES)))

  // Filler: what hops 0..n-2 append (their keystream tails over the 0^S they shift in),
  // pre-computed so the last hops' betas decrypt to exactly what their MACs cover.
  let filler = new Uint8Array(0)
  for (let i = 1; i < n; i++) {
    const next = new Uint8Array(i * S)
    next.set(filler, 0)
    xorInto(next, streams[i - 1].subarray(KEYSTREAM_BYTES - i * S))
    filler = next
  }

  // Exit's beta: its slot, then random (not zeros: the exit must not learn the path
  // length from where the padding ends), encrypted, then the filler.
  const head = L - (n - 1) * S
  let beta = new Uint8Array(L)
  encodeRoutingSlot(beta.subarray(0, S), { exit: true })
  platform.randomFill(beta.subarray(S, head))
  xorInto(beta.subarray(0, head), streams[n - 1])
  beta.set(filler, head)
  let mac = headerMac(hops[n - 1].headerMacKey, beta)

  for (let i = n - 2; i >= 0; i--) {
    const outer = new Uint8Array(L)
    encodeRoutingSlot(outer.subarray(0, S), {
      exit: false, nextPeerId: path[i + 1].peerId, nextEph: ephs[i + 1].publicKey, nextMac: mac
    })
    outer.set(beta.subarray(0, L - S), S)
    xorInto(outer, streams[i])
    beta = outer
    mac = headerMac(hops[i].headerMacKey, beta)
  }

  const payload = new Uint8Array(CELL_PAYLOAD_BYTES)
  payload.set(ephs[0].publicKey, 0)
  payload.set(mac, X25519_KEY_BYTES)
  payload.set(beta, X25519_KEY_BYTES + CREATE_MAC_BYTES)
  platform.randomFill(payload.subarray(CREATE_HEADER_BYTES))
  return { payload, hops }
}
