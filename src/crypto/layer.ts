import {
  CELL_PAYLOAD_BYTES, MAX_HOPS, RELAY_TAG_BYTES, RELAY_TAGS_BYTES
} from '../wire/onion-format.js'
import {
  CircuitCryptoFailedError, CreatedConfirmError, InvalidKeyError, InvalidPathError, LayerAuthError, LayerSizeError
} from './errors.js'
import { AEAD_KEY_BYTES } from './sizes.js'
import { platform } from './platform/index.js'
import { ORIGIN_AAD } from './labels.js'
import { NonceCounter } from './nonce.js'

/**
 * Layered ChaCha20-Poly1305 (IETF, RFC 8439; aead.ts: libsodium through sodium-native)
 * for RELAY and CREATED payloads: `[tag slot 0 .. tag slot MAX_HOPS-1 (16 B each)][body 939]`.
 *
 * Forward: the client seals innermost-first, hop i's tag in slot i. Each hop opens
 * with slot 0, then shifts the slots left and refills the last with random bytes.
 * Backward: each hop (exit first) seals the body, shifts the slots right (dropping
 * the last) and writes its tag into slot 0; the client opens slot i with hop i.
 * The hop that originates a backward cell seals with ORIGIN_AAD, forwarding hops
 * with none, so the client can tell (authenticated) which hop a cell came from.
 *
 * Every operation works in place on the 1019-byte payload of a cell, so the link
 * layer can rewrite the circuit id and forward the same buffer. A relay's forward
 * and backward steps go through one module-wide scratch payload with views made
 * once, so a forwarded cell costs no heap allocation (bench/onion-micro.ts counts
 * them); a failed open leaves the cell's own payload as it was.
 */

const CONFIRM_BYTES = 32

/** The key material a layer needs (a subset of CreateKeys). */
export interface LayerKeys {
  forwardKey: Uint8Array
  backwardKey: Uint8Array
  forwardNonce: Uint8Array
  backwardNonce: Uint8Array
  confirm: Uint8Array
}

function checkPayload (payload: Uint8Array): void {
  if (payload.byteLength !== CELL_PAYLOAD_BYTES) {
    throw new LayerSizeError(`relay payload must be ${CELL_PAYLOAD_BYTES} bytes, got ${payload.byteLength}`)
  }
}

function copyConfirm (confirm: Uint8Array): Uint8Array {
  if (confirm.byteLength !== CONFIRM_BYTES) {
    throw new InvalidKeyError(`confirmation must be ${CONFIRM_BYTES} bytes`)
  }
  return Uint8Array.from(confirm)
}

/** The body view of a RELAY/CREATED payload. */
export function relayBodyOf (payload: Uint8Array): Uint8Array {
  checkPayload(payload)
  return payload.subarray(RELAY_TAGS_BYTES)
}

const ORIGIN = Uint8Array.from(ORIGIN_AAD)

/** The relay's working copy of one payload, and views of it made once. */
const SCRATCH = new Uint8Array(CELL_PAYLOAD_BYTES)
const SCRATCH_TAG0 = SCRATCH.subarray(0, RELAY_TAG_BYTES)
const SCRATCH_BODY = SCRATCH.subarray(RELAY_TAGS_BYTES)

/** One direction of one hop: key + nonce sequence. */
class Direction {
  private readonly key: Uint8Array
  readonly nonces: NonceCounter

  constructor (key: Uint8Array, nonceBase: Uint8Array) {
    if (key.byteLength !== AEAD_KEY_BYTES) throw new InvalidKeyError(`layer key must be ${AEAD_KEY_BYTES} bytes`)
    this.key = Uint8Array.from(key)
    this.nonces = new NonceCounter(nonceBase)
  }

  /** Encrypts `body` in place and writes the tag to `tagOut`. */
  seal (body: Uint8Array, tagOut: Uint8Array, origin: boolean): void {
    platform.aeadSealInPlace(this.key, this.nonces.next(), body, tagOut, origin ? ORIGIN : null)
  }

  /**
   * Decrypts and authenticates `body` in place. False when the tag does not
   * verify: then `body` is zeroed (libsodium wipes it) and the counter has not
   * advanced, so a caller holding a copy may retry with the other associated data.
   */
  open (body: Uint8Array, tag: Uint8Array, origin: boolean): boolean {
    if (!platform.aeadOpenInPlace(this.key, this.nonces.current(), body, tag, origin ? ORIGIN : null)) return false
    this.nonces.advance()
    return true
  }
}

/**
 * A relay hop's state for one circuit. After an authentication failure every call
 * throws: the circuit is compromised or desynchronised and must be destroyed.
 */
export class HopCrypto {
  private readonly fwd: Direction
  private readonly bwd: Direction
  private readonly confirm: Uint8Array
  private failed = false

  constructor (keys: LayerKeys) {
    this.fwd = new Direction(keys.forwardKey, keys.forwardNonce)
    this.bwd = new Direction(keys.backwardKey, keys.backwardNonce)
    this.confirm = copyConfirm(keys.confirm)
  }

  /** Forward cells processed so far (the next forward counter value). */
  get forwardCount (): bigint {
    return this.fwd.nonces.value
  }

  /** Backward cells sealed so far, CREATED included. */
  get backwardCount (): bigint {
    return this.bwd.nonces.value
  }

  /**
   * Remove this hop's forward layer in place and shift the tag slots left. At the
   * exit the body (relayBodyOf(payload)) is plaintext afterwards.
   * @throws LayerAuthError when the layer does not authenticate
   */
  forward (payload: Uint8Array): void {
    this.checkUsable(payload)
    SCRATCH.set(payload)
    if (!this.fwd.open(SCRATCH_BODY, SCRATCH_TAG0, false)) {
      this.failed = true
      throw new LayerAuthError()
    }
    SCRATCH.copyWithin(0, RELAY_TAG_BYTES, RELAY_TAGS_BYTES)
    platform.randomFillAt(SCRATCH, RELAY_TAGS_BYTES - RELAY_TAG_BYTES, RELAY_TAG_BYTES)
    payload.set(SCRATCH)
  }

  /** Add this hop's backward layer in place: seal the body, shift the tags right, tag into slot 0. */
  backward (payload: Uint8Array): void {
    this.checkUsable(payload)
    SCRATCH.set(payload)
    this.sealBackward(false)
    payload.set(SCRATCH)
  }

  /**
   * Seal a plaintext body (already in the payload) as a new backward cell from this
   * hop: the exit's responses, or a middle hop's own report (e.g. END when its next
   * link failed). The client's openBackwardFromAny says which hop it came from.
   */
  originate (payload: Uint8Array): void {
    this.checkUsable(payload)
    SCRATCH.set(payload)
    platform.randomFillAt(SCRATCH, 0, RELAY_TAGS_BYTES)
    this.sealBackward(true)
    payload.set(SCRATCH)
  }

  /** On SCRATCH: shift the tag slots right (so the new tag goes straight into slot 0), seal the body. */
  private sealBackward (origin: boolean): void {
    SCRATCH.copyWithin(RELAY_TAG_BYTES, 0, RELAY_TAGS_BYTES - RELAY_TAG_BYTES)
    this.bwd.seal(SCRATCH_BODY, SCRATCH_TAG0, origin)
  }

  /** Exit only: the CREATED payload (confirmation sealed under the backward key). */
  sealCreated (): Uint8Array {
    const payload = new Uint8Array(CELL_PAYLOAD_BYTES)
    payload.set(this.confirm, RELAY_TAGS_BYTES)
    platform.randomFill(payload.subarray(RELAY_TAGS_BYTES + CONFIRM_BYTES))
    this.originate(payload)
    return payload
  }

  private checkUsable (payload: Uint8Array): void {
    if (this.failed) throw new CircuitCryptoFailedError()
    checkPayload(payload)
  }
}

/** The client's state for a whole circuit (hop 0 = first hop .. hop N-1 = exit). */
export class ClientCircuitCrypto {
  private readonly fwd: Direction[]
  private readonly bwd: Direction[]
  private readonly exitConfirm: Uint8Array
  private failed = false

  constructor (hops: readonly LayerKeys[]) {
    if (hops.length < 1 || hops.length > MAX_HOPS) {
      throw new InvalidPathError(`a circuit has 1..${MAX_HOPS} hops, got ${hops.length}`)
    }
    this.fwd = hops.map(k => new Direction(k.forwardKey, k.forwardNonce))
    this.bwd = hops.map(k => new Direction(k.backwardKey, k.backwardNonce))
    this.exitConfirm = copyConfirm(hops[hops.length - 1].confirm)
  }

  get hopCount (): number {
    return this.fwd.length
  }

  /** Encrypt the plaintext body in place for every hop, innermost (exit) first. */
  sealForward (payload: Uint8Array): void {
    this.checkUsable(payload)
    const n = this.fwd.length
    platform.randomFill(payload.subarray(n * RELAY_TAG_BYTES, RELAY_TAGS_BYTES))
    const body = payload.subarray(RELAY_TAGS_BYTES)
    for (let i = n - 1; i >= 0; i--) {
      this.fwd[i].seal(body, payload.subarray(i * RELAY_TAG_BYTES, (i + 1) * RELAY_TAG_BYTES), false)
    }
  }

  /**
   * Remove every hop's backward layer of a cell the exit originated; the body is
   * plaintext afterwards.
   * @throws LayerAuthError when any layer fails (the payload is left unchanged)
   */
  openBackward (payload: Uint8Array): void {
    this.open(payload, false)
  }

  /**
   * Remove backward layers up to the hop that originated the cell and return that
   * hop's index (hopCount - 1 for the exit). Each layer is first tried as a
   * forwarded layer, then as an originated one; both are authenticated, so a relay
   * cannot make its own bytes look like another hop's message.
   * @throws LayerAuthError when no hop's layer explains the cell
   */
  openBackwardFromAny (payload: Uint8Array): number {
    return this.open(payload, true)
  }

  private open (payload: Uint8Array, fromAny: boolean): number {
    this.checkUsable(payload)
    const last = this.bwd.length - 1
    // layers come off a working copy; the payload changes only once the cell is explained
    const work = payload.slice(RELAY_TAGS_BYTES)
    const before = new Uint8Array(work.byteLength)
    for (let i = 0; i <= last; i++) {
      const tag = payload.subarray(i * RELAY_TAG_BYTES, (i + 1) * RELAY_TAG_BYTES)
      if (i < last) {
        before.set(work)
        if (this.bwd[i].open(work, tag, false)) continue
        work.set(before)
      }
      if ((fromAny || i === last) && this.bwd[i].open(work, tag, true)) {
        payload.set(work, RELAY_TAGS_BYTES)
        return i
      }
      this.failed = true
      throw new LayerAuthError(`backward layer of hop ${i} failed authentication`)
    }
    // Unreachable: the last iteration either returns or throws.
    throw new LayerAuthError()
  }

  /**
   * Verify a CREATED payload: every hop's layer authenticates and the exit's
   * confirmation matches.
   */
  openCreated (payload: Uint8Array): void {
    this.openBackward(payload)
    const got = payload.subarray(RELAY_TAGS_BYTES, RELAY_TAGS_BYTES + CONFIRM_BYTES)
    if (!platform.equal(got, this.exitConfirm)) {
      this.failed = true
      throw new CreatedConfirmError()
    }
  }

  private checkUsable (payload: Uint8Array): void {
    if (this.failed) throw new CircuitCryptoFailedError()
    checkPayload(payload)
  }
}
