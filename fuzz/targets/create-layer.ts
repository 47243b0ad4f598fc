import { buildCreate, decodeRoutingSlot } from '../../src/crypto/create-header.js'
import { processCreateLayer } from '../../src/crypto/create-peel.js'
import { CreateMacError, CreateRoutingError } from '../../src/crypto/errors.js'
import { deriveCreateKeys, headerMac } from '../../src/crypto/kdf.js'
import { onionKeyFromRaw, x25519, type OnionKey } from '../../src/crypto/x25519.js'
import {
  CELL_PAYLOAD_BYTES, CREATE_HEADER_BYTES, CREATE_MAC_BYTES, MAX_HOPS, ROUTING_SLOT_BYTES, X25519_KEY_BYTES
} from '../../src/wire/onion-format.js'
import { Rejections, tolerateTyped, type FuzzTarget } from '../harness.js'

// Fixed onion keys so saved findings replay against the same keys.
const KEYS: OnionKey[] = Array.from({ length: MAX_HOPS }, (_, i) =>
  onionKeyFromRaw(i + 1, Uint8Array.from({ length: 32 }, (_, j) => (i * 32 + j * 7 + 1) & 0xff)))

function fit (input: Uint8Array): Uint8Array {
  const out = new Uint8Array(CELL_PAYLOAD_BYTES)
  out.set(input.subarray(0, CELL_PAYLOAD_BYTES))
  return out
}

/** Re-MAC the (mutated) beta under the first key so routing parsing is reached. */
function remac (payload: Uint8Array): Uint8Array {
  const ephPub = payload.subarray(0, X25519_KEY_BYTES)
  const keys = deriveCreateKeys(x25519(KEYS[0].privateKey, ephPub), ephPub, KEYS[0].publicKey)
  const out = payload.slice()
  out.set(headerMac(keys.headerMacKey, payload.subarray(X25519_KEY_BYTES + CREATE_MAC_BYTES, CREATE_HEADER_BYTES)), X25519_KEY_BYTES)
  return out
}

/** CREATE layer processing: size checks, MAC gate, routing slot parsing, chained hops. */
export const createLayerTarget: FuzzTarget = {
  name: 'create-layer',

  seeds () {
    const path = (n: number): Array<{ peerId: Uint8Array, onionKey: Uint8Array }> =>
      KEYS.slice(0, n).map((k, i) => ({ peerId: new Uint8Array(38).fill(i + 1), onionKey: k.publicKey }))
    return [1, 2, 3, MAX_HOPS].map(n => buildCreate(path(n)).payload)
  },

  async run (input) {
    const steps = new Rejections()
    const raw = await steps.attempt(() => processCreateLayer([KEYS[0]], input))
    if (raw != null && input.length !== CELL_PAYLOAD_BYTES) throw new Error('accepted a payload of the wrong size')

    // Follow a valid chain as far as it goes, hop by hop.
    let payload: Uint8Array | undefined = fit(input)
    for (let hop = 0; hop < MAX_HOPS && payload != null; hop++) {
      const result = await steps.attempt(() => processCreateLayer([KEYS[hop]], payload as Uint8Array))
      if (result == null || result.exit) break
      if (result.nextPayload.length !== CELL_PAYLOAD_BYTES) throw new Error('next payload has the wrong size')
      payload = result.nextPayload
    }

    const resealed = await steps.attempt(() => remac(fit(input)))
    if (resealed != null) {
      try {
        processCreateLayer([KEYS[0]], resealed)
      } catch (err) {
        // Past a valid MAC only the routing parser may reject the input.
        if (err instanceof CreateMacError) throw new Error('a correctly re-MACed header failed its MAC')
        if (!(err instanceof CreateRoutingError)) throw err
      }
    }
    // Raw slot parsing on bytes that were never decrypted: exercised, but its
    // (near-certain) rejection does not count against the input.
    await tolerateTyped(() => decodeRoutingSlot(fit(input).subarray(0, ROUTING_SLOT_BYTES)))
    steps.finish()
  }
}
