import { RELAY_DATA_BYTES } from './constants.js'
import {
  DuplicateFragmentError, InconsistentFragmentError, InvalidOnionOptionError, MessageTooLargeError,
  ReassemblyBufferFullError, TooManyPartialMessagesError
} from './errors.js'
import {
  decodeRelayBody, fragmentCountFor, resolveMaxMessageBytes, type RelayFragment, type RelayMessage
} from './relay-message.js'
import type { RelayCommand } from './constants.js'
import type { MemoryBudget } from './memory-budget.js'

/** Messages being reassembled at once, per circuit end. */
export const DEFAULT_MAX_PARTIAL_MESSAGES = 64
/** Fragment bytes held across all partial messages. */
export const DEFAULT_REASSEMBLY_MAX_BUFFERED_BYTES = 2 * 1024 * 1024
/** A partial message is dropped this long after its first fragment. */
export const DEFAULT_REASSEMBLY_TIMEOUT_MS = 30_000

export interface ReassemblerInit {
  /** @default 131072 */
  maxMessageBytes?: number
  /** @default 64 */
  maxPartialMessages?: number
  /** @default 2097152 */
  maxBufferedBytes?: number
  /** @default 30000 */
  timeoutMs?: number
  /** Clock in ms; injected so tests use a fake one. @default Date.now */
  now?: () => number
  /** A node-wide budget the buffered fragments also count against. */
  budget?: MemoryBudget
}

interface Partial {
  cmd: RelayCommand
  fragCount: number
  received: number
  bytes: number
  startedAt: number
  parts: Array<Uint8Array | undefined>
}

function positiveInteger (value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidOnionOptionError(`${name} must be a positive integer`)
  }
  return value
}

/**
 * Reassembles relay messages at a circuit end with bounded memory. Fragments of a
 * message are keyed by requestId and may arrive in any order. Any error drops the
 * partial message it concerns (its sender is buggy or hostile), so state stays bounded.
 */
export class Reassembler {
  private readonly partials = new Map<number, Partial>()
  private readonly maxMessageBytes: number
  private readonly maxFragments: number
  private readonly maxPartialMessages: number
  private readonly maxBufferedBytes: number
  private readonly timeoutMs: number
  private readonly now: () => number
  private buffered = 0
  private expired = 0
  private readonly budget?: MemoryBudget

  constructor (init: ReassemblerInit = {}) {
    this.maxMessageBytes = resolveMaxMessageBytes(init.maxMessageBytes)
    this.maxFragments = fragmentCountFor(this.maxMessageBytes)
    this.maxPartialMessages = positiveInteger(init.maxPartialMessages ?? DEFAULT_MAX_PARTIAL_MESSAGES, 'maxPartialMessages')
    this.maxBufferedBytes = positiveInteger(init.maxBufferedBytes ?? DEFAULT_REASSEMBLY_MAX_BUFFERED_BYTES, 'maxBufferedBytes')
    this.timeoutMs = positiveInteger(init.timeoutMs ?? DEFAULT_REASSEMBLY_TIMEOUT_MS, 'timeoutMs')
    this.now = init.now ?? Date.now
    this.budget = init.budget
  }

  /** Messages currently incomplete. */
  get partialCount (): number {
    return this.partials.size
  }

  /** Fragment bytes currently held. */
  get bufferedBytes (): number {
    return this.buffered
  }

  /** Partial messages dropped by timeout so far. */
  get expiredCount (): number {
    return this.expired
  }

  /** Decode a plaintext relay body and add it. */
  push (body: Uint8Array): RelayMessage | undefined {
    return this.add(decodeRelayBody(body))
  }

  /**
   * Add a fragment; returns the message when it completes. The returned data never
   * aliases the input.
   * @throws MessageTooLargeError, InconsistentFragmentError, DuplicateFragmentError,
   * TooManyPartialMessagesError, ReassemblyBufferFullError
   */
  add (fragment: RelayFragment): RelayMessage | undefined {
    this.sweep()
    const { cmd, requestId, fragIndex, fragCount, data } = fragment
    if (fragCount > this.maxFragments) {
      throw new MessageTooLargeError(`${fragCount} fragments exceed the limit of ${this.maxFragments}`)
    }
    if (fragIndex === fragCount - 1 && (fragCount - 1) * RELAY_DATA_BYTES + data.byteLength > this.maxMessageBytes) {
      this.drop(requestId)
      throw new MessageTooLargeError()
    }
    if (fragCount === 1) {
      return { cmd, requestId, data: data.slice() }
    }

    let partial = this.partials.get(requestId)
    if (partial == null) {
      if (this.partials.size >= this.maxPartialMessages) {
        throw new TooManyPartialMessagesError()
      }
      partial = { cmd, fragCount, received: 0, bytes: 0, startedAt: this.now(), parts: new Array(fragCount) }
      this.partials.set(requestId, partial)
    } else if (partial.cmd !== cmd || partial.fragCount !== fragCount) {
      this.drop(requestId)
      throw new InconsistentFragmentError()
    }
    if (partial.parts[fragIndex] != null) {
      this.drop(requestId)
      throw new DuplicateFragmentError(`fragment ${fragIndex} of request ${requestId} arrived twice`)
    }
    if (this.buffered + data.byteLength > this.maxBufferedBytes || this.budget?.tryReserve(data.byteLength) === false) {
      this.drop(requestId)
      throw new ReassemblyBufferFullError()
    }
    // Reserving may run the budget's pressure handler, which can close this very
    // circuit and clear() us; the reservation would then never be released.
    if (this.partials.get(requestId) !== partial) {
      this.budget?.release(data.byteLength)
      throw new ReassemblyBufferFullError()
    }
    partial.parts[fragIndex] = data.slice()
    partial.received++
    partial.bytes += data.byteLength
    this.buffered += data.byteLength
    if (partial.received < fragCount) return undefined

    this.drop(requestId)
    const out = new Uint8Array(partial.bytes)
    let offset = 0
    for (const part of partial.parts as Uint8Array[]) {
      out.set(part, offset)
      offset += part.byteLength
    }
    return { cmd, requestId, data: out }
  }

  /**
   * Drop partial messages older than the timeout; returns how many. Called on every
   * add; call it from a timer too if fragments may stop arriving altogether.
   */
  sweep (): number {
    const cutoff = this.now() - this.timeoutMs
    let dropped = 0
    // Map order is insertion order, i.e. by startedAt for a monotonic clock.
    for (const [requestId, partial] of this.partials) {
      if (partial.startedAt > cutoff) break
      this.drop(requestId)
      dropped++
    }
    this.expired += dropped
    return dropped
  }

  /** Forget every partial message (e.g. the circuit closed). */
  clear (): void {
    this.budget?.release(this.buffered)
    this.partials.clear()
    this.buffered = 0
  }

  private drop (requestId: number): void {
    const partial = this.partials.get(requestId)
    if (partial == null) return
    this.buffered -= partial.bytes
    this.budget?.release(partial.bytes)
    this.partials.delete(requestId)
  }
}
