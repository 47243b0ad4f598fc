import { timingSafeEqual } from 'node:crypto'
import {
  CELL_PAYLOAD_BYTES, CREATE_BETA_BYTES, CREATE_HEADER_BYTES, CREATE_MAC_BYTES, ROUTING_SLOT_BYTES, X25519_KEY_BYTES
} from '../wire/onion-format.js'
import { decodeRoutingSlot, keystream, KEYSTREAM_BYTES } from './create-header.js'
import { CreateMacError, CreateSizeError, InvalidKeyError } from './errors.js'
import { deriveCreateKeys, headerMac } from './kdf.js'
import { randomFill } from './random.js'
import { onionX25519, type OnionKey } from './x25519.js'
import type { CreateKeys } from './labels.js'

/**
 * The relay's half of the one-shot CREATE (create-header.ts is the client's):
 * one X25519 with the onion key, HKDF and HMAC on libsodium (kdf.ts), the
 * header keystream. Node only: it holds the onion key as a node:crypto KeyObject.
 */

const L = CREATE_BETA_BYTES
const S = ROUTING_SLOT_BYTES

/** Result of peeling one CREATE layer. */
export type CreateLayerResult = {
  /** Epoch of the onion key that opened the layer (the replay filter is per epoch). */
  epoch: number
  keys: CreateKeys
  /** Check-and-insert this in the replay filter before acting on the CREATE. */
  replayTag: Uint8Array
} & ({ exit: true } | { exit: false, nextPeerId: Uint8Array, nextPayload: Uint8Array })

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
