import { createCipheriv, createSecretKey, timingSafeEqual } from 'node:crypto'
import {
  CELL_PAYLOAD_BYTES, CREATE_BETA_BYTES, CREATE_HEADER_BYTES, CREATE_MAC_BYTES, MAX_HOPS, MAX_PEER_ID_BYTES,
  ROUTING_SLOT_BYTES, SLOT_FLAG_EXIT, SLOT_FLAGS_OFFSET, SLOT_NEXT_EPH_OFFSET, SLOT_NEXT_MAC_OFFSET,
  SLOT_PEER_ID_LEN_OFFSET, SLOT_PEER_ID_OFFSET, SLOT_RESERVED_OFFSET, X25519_KEY_BYTES
} from '../wire/onion-format.js'
import { CreateMacError, CreateRoutingError, CreateSizeError, InvalidKeyError, InvalidPathError } from './errors.js'
import { deriveCreateKeys, headerMac } from './kdf.js'
import { randomFill } from './random.js'
import { generateX25519Raw, onionX25519, x25519Raw, type OnionKey } from './x25519.js'
import type { CreateKeys } from './labels.js'

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
const KEYSTREAM_BYTES = L + S
const ZERO_IV = Buffer.alloc(16)

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

/** Result of peeling one CREATE layer. */
export type CreateLayerResult = {
  /** Epoch of the onion key that opened the layer (the replay filter is per epoch). */
  epoch: number
  keys: CreateKeys
  /** Check-and-insert this in the replay filter before acting on the CREATE. */
  replayTag: Uint8Array
} & ({ exit: true } | { exit: false, nextPeerId: Uint8Array, nextPayload: Uint8Array })

function keystream (headerKey: Uint8Array, input: Uint8Array): Buffer {
  return createCipheriv('aes-256-ctr', createSecretKey(headerKey), ZERO_IV).update(input)
}

function xorInto (target: Uint8Array, source: Uint8Array): void {
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
  const ephs = path.map(() => generateX25519Raw())
  const hops = path.map((hop, i) =>
    deriveCreateKeys(x25519Raw(ephs[i].privateKey, hop.onionKey), ephs[i].publicKey, hop.onionKey))
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
  randomFill(beta.subarray(S, head))
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
  randomFill(payload.subarray(CREATE_HEADER_BYTES))
  return { payload, hops }
}

/**
 * Peel one CREATE layer with the first onion key (current, then previous) whose MAC
 * verifies. Does not consult the replay filter: the caller checks `replayTag`.
 * @throws CreateSizeError, LowOrderPointError, CreateMacError, CreateRoutingError
 */
export function processCreateLayer (onionKeys: readonly OnionKey[], payload: Uint8Array): CreateLayerResult {
  if (onionKeys.length === 0) {
    throw new InvalidKeyError('no onion key to process CREATE with')
  }
  if (!(payload instanceof Uint8Array) || payload.byteLength !== CELL_PAYLOAD_BYTES) {
    throw new CreateSizeError(`CREATE payload must be ${CELL_PAYLOAD_BYTES} bytes`)
  }
  const ephPub = payload.slice(0, X25519_KEY_BYTES)
  const mac = payload.subarray(X25519_KEY_BYTES, X25519_KEY_BYTES + CREATE_MAC_BYTES)
  const beta = payload.subarray(X25519_KEY_BYTES + CREATE_MAC_BYTES, CREATE_HEADER_BYTES)

  let keys: CreateKeys | undefined
  let epoch = 0
  for (const onion of onionKeys) {
    const candidate = deriveCreateKeys(onionX25519(onion.privateKey, ephPub), ephPub, onion.publicKey)
    if (timingSafeEqual(headerMac(candidate.headerMacKey, beta), mac)) {
      keys = candidate
      epoch = onion.epoch
      break
    }
  }
  if (keys == null) {
    throw new CreateMacError()
  }

  const padded = new Uint8Array(KEYSTREAM_BYTES)
  padded.set(beta, 0)
  const plain = keystream(keys.headerKey, padded)
  const routing = decodeRoutingSlot(plain.subarray(0, S))
  if (routing.exit) {
    return { epoch, keys, replayTag: keys.replayTag, exit: true }
  }
  const nextPayload = new Uint8Array(CELL_PAYLOAD_BYTES)
  nextPayload.set(routing.nextEph, 0)
  nextPayload.set(routing.nextMac, X25519_KEY_BYTES)
  nextPayload.set(plain.subarray(S, S + L), X25519_KEY_BYTES + CREATE_MAC_BYTES)
  randomFill(nextPayload.subarray(CREATE_HEADER_BYTES))
  return { epoch, keys, replayTag: keys.replayTag, exit: false, nextPeerId: routing.nextPeerId, nextPayload }
}
