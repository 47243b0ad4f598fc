import { platform } from '../crypto/platform/index.js'
import {
  DEFAULT_MAX_ONION_MESSAGE_BYTES, MAX_FRAGMENTS, RELAY_BODY_BYTES, RELAY_DATA_BYTES, RELAY_MESSAGE_HEADER_BYTES,
  RelayCommand
} from '../wire/onion-format.js'
import {
  InvalidOnionOptionError, MessageTooLargeError, RelayBodySizeError, RelayCommandError, RelayFragmentError
} from './errors.js'

/**
 * Relay messages: the plaintext of a relay body, seen only by the client and the
 * exit. `[relayCmd u8][requestId u32][fragIndex u16][fragCount u16][len u16][data][random pad]`
 * (big-endian). Every fragment but the last carries exactly RELAY_DATA_BYTES, so a
 * message's size is fixed by its fragment count and the last length.
 */

/** One relay body's worth of a message. */
export interface RelayFragment {
  cmd: RelayCommand
  requestId: number
  fragIndex: number
  fragCount: number
  /** Fragment data; from decodeRelayBody a view into the body. */
  data: Uint8Array
}

/** A whole message as the ends see it. */
export interface RelayMessage {
  cmd: RelayCommand
  requestId: number
  data: Uint8Array
}

export interface FragmentOptions {
  /**
   * Largest message accepted, in bytes (bounded by the u16 fragment count).
   * @default 131072
   */
  maxMessageBytes?: number
}

const MAX_COMMAND = RelayCommand.END
/** Largest message any configuration may allow: 65535 fragments × 928 B. */
export const MAX_CONFIGURABLE_MESSAGE_BYTES = MAX_FRAGMENTS * RELAY_DATA_BYTES

export function isRelayCommand (value: number): value is RelayCommand {
  return Number.isInteger(value) && value >= RelayCommand.REQUEST && value <= MAX_COMMAND
}

/** Validate a maxMessageBytes option and return it (or the default). */
export function resolveMaxMessageBytes (maxMessageBytes?: number): number {
  const value = maxMessageBytes ?? DEFAULT_MAX_ONION_MESSAGE_BYTES
  if (!Number.isInteger(value) || value < 0 || value > MAX_CONFIGURABLE_MESSAGE_BYTES) {
    throw new InvalidOnionOptionError(`maxMessageBytes must be an integer in 0..${MAX_CONFIGURABLE_MESSAGE_BYTES}`)
  }
  return value
}

/** Fragments needed for a message of `byteLength` bytes (an empty message still takes one). */
export function fragmentCountFor (byteLength: number): number {
  return Math.max(1, Math.ceil(byteLength / RELAY_DATA_BYTES))
}

/**
 * Write `fragment` into `target` (a RELAY_BODY_BYTES view, e.g. relayBodyOf(payload)),
 * padding with random bytes.
 */
export function writeRelayBody (target: Uint8Array, fragment: RelayFragment): void {
  if (target.byteLength !== RELAY_BODY_BYTES) {
    throw new RelayBodySizeError(`relay body must be ${RELAY_BODY_BYTES} bytes`)
  }
  const { cmd, requestId, fragIndex, fragCount, data } = fragment
  if (!isRelayCommand(cmd)) throw new RelayCommandError(`unknown relay command ${cmd}`)
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffffffff) {
    throw new RelayFragmentError('requestId must be a u32')
  }
  checkFragmentHeader(fragIndex, fragCount, data.byteLength)
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
  view.setUint8(0, cmd)
  view.setUint32(1, requestId)
  view.setUint16(5, fragIndex)
  view.setUint16(7, fragCount)
  view.setUint16(9, data.byteLength)
  target.set(data, RELAY_MESSAGE_HEADER_BYTES)
  platform.randomFill(target.subarray(RELAY_MESSAGE_HEADER_BYTES + data.byteLength))
}

/** A standalone RELAY_BODY_BYTES body for `fragment`. */
export function encodeRelayBody (fragment: RelayFragment): Uint8Array {
  const body = new Uint8Array(RELAY_BODY_BYTES)
  writeRelayBody(body, fragment)
  return body
}

function checkFragmentHeader (fragIndex: number, fragCount: number, len: number): void {
  if (!Number.isInteger(fragCount) || fragCount < 1 || fragCount > MAX_FRAGMENTS) {
    throw new RelayFragmentError(`fragment count ${fragCount} out of range`)
  }
  if (!Number.isInteger(fragIndex) || fragIndex < 0 || fragIndex >= fragCount) {
    throw new RelayFragmentError(`fragment index ${fragIndex} not below count ${fragCount}`)
  }
  if (len > RELAY_DATA_BYTES) {
    throw new RelayFragmentError(`fragment length ${len} exceeds ${RELAY_DATA_BYTES}`)
  }
  if (fragIndex < fragCount - 1 && len !== RELAY_DATA_BYTES) {
    throw new RelayFragmentError('only the last fragment may be short')
  }
}

/**
 * Parse a decrypted relay body; `data` is a view into `body`.
 * @throws RelayBodySizeError, RelayCommandError, RelayFragmentError
 */
export function decodeRelayBody (body: Uint8Array): RelayFragment {
  if (!(body instanceof Uint8Array) || body.byteLength !== RELAY_BODY_BYTES) {
    throw new RelayBodySizeError(`relay body must be ${RELAY_BODY_BYTES} bytes`)
  }
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const cmd = view.getUint8(0)
  if (!isRelayCommand(cmd)) throw new RelayCommandError(`unknown relay command ${cmd}`)
  const requestId = view.getUint32(1)
  const fragIndex = view.getUint16(5)
  const fragCount = view.getUint16(7)
  const len = view.getUint16(9)
  checkFragmentHeader(fragIndex, fragCount, len)
  return {
    cmd,
    requestId,
    fragIndex,
    fragCount,
    data: body.subarray(RELAY_MESSAGE_HEADER_BYTES, RELAY_MESSAGE_HEADER_BYTES + len)
  }
}

/**
 * Split a message into fragments (data views into `message.data`, no copies);
 * write each with writeRelayBody.
 * @throws MessageTooLargeError
 */
export function fragmentMessage (message: RelayMessage, options: FragmentOptions = {}): RelayFragment[] {
  const max = resolveMaxMessageBytes(options.maxMessageBytes)
  const { cmd, requestId, data } = message
  if (data.byteLength > max) {
    throw new MessageTooLargeError(`message of ${data.byteLength} bytes exceeds ${max}`)
  }
  const fragCount = fragmentCountFor(data.byteLength)
  const fragments: RelayFragment[] = []
  for (let i = 0; i < fragCount; i++) {
    const start = i * RELAY_DATA_BYTES
    fragments.push({
      cmd,
      requestId,
      fragIndex: i,
      fragCount,
      data: data.subarray(start, Math.min(start + RELAY_DATA_BYTES, data.byteLength))
    })
  }
  return fragments
}
