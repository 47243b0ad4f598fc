import { RELAY_DATA_BYTES } from '../wire/onion-format.js'
import {
  DuplicateFragmentError, InconsistentFragmentError, InvalidOnionOptionError, MessageTooLargeError,
  ReassemblyBufferFullError, RelayFragmentError, TooManyPartialMessagesError
} from './errors.js'
import {
  decodeRelayBody, fragmentCountFor, resolveMaxMessageBytes, type RelayFragment, type RelayMessage
} from './relay-message.js'
import type { RelayCommand } from '../wire/onion-format.js'
import type { MemoryBudget } from '../memory/budget.js'

/** Messages being reassembled at once, per circuit end. */
export const DEFAULT_MAX_PARTIAL_MESSAGES = 64
/** Fragment bytes held across all partial messages. */
export const DEFAULT_REASSEMBLY_MAX_BUFFERED_BYTES = 2 * 1024 * 1024
/** A partial message is dropped this long after its first fragment. */
export const DEFAULT_REASSEMBLY_TIMEOUT_MS = 30_000
/**
 * What a held fragment costs beyond its data (its own ArrayBuffer and typed
 * array, a map entry), and a partial message beyond its fragments: measured on
 * Node 24 (a partial with one 928-byte fragment held ~3.9 KB of RSS with a
 * dense fragment array, ~2.4 KB with the map used now; a lone 1 KiB buffer
 * ~1.5 KB), so the node-wide budget counts what the memory really is, not the
 * payload alone.
 */
export const REASSEMBLY_FRAGMENT_OVERHEAD_BYTES = 512
export const REASSEMBLY_PARTIAL_OVERHEAD_BYTES = 1024

export interface ReassemblerInit {
  /** @default 131072 */
  maxMessageBytes?: number
  /** @default 64 */
  maxPartialMessages?: number
  /** Memory held for partial messages (fragment data plus overhead). @default 2097152 */
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
  /** Data bytes received. */
  bytes: number
  /** Memory charged for it: data plus overheads. */
  held: number
  startedAt: number
  /** By fragment index; a map, because a dense array of fragCount slots costs ~1 KB before any data arrives. */
  parts: Map<number, Uint8Array>
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
  /** Bumped by clear(), so add() notices a clear() that ran inside its own reservation. */
  private generation = 0
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

  /** Memory currently charged for partial messages (fragment data plus overhead). */
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
   * TooManyPartialMessagesError, ReassemblyBufferFullError, RelayFragmentError
   */
  add (fragment: RelayFragment): RelayMessage | undefined {
    this.sweep()
    const { cmd, requestId, fragIndex, fragCount, data } = fragment
    // add() is public: a fragment built by hand gets the checks decodeRelayBody makes
    if (!Number.isInteger(fragIndex) || !Number.isInteger(fragCount) || fragIndex < 0 || fragIndex >= fragCount) {
      throw new RelayFragmentError(`fragment index ${fragIndex} of ${fragCount}`)
    }
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
    let cost = data.byteLength + REASSEMBLY_FRAGMENT_OVERHEAD_BYTES
    if (partial == null) {
      if (this.partials.size >= this.maxPartialMessages) {
        throw new TooManyPartialMessagesError()
      }
      cost += REASSEMBLY_PARTIAL_OVERHEAD_BYTES
    } else if (partial.cmd !== cmd || partial.fragCount !== fragCount) {
      this.drop(requestId)
      throw new InconsistentFragmentError()
    } else if (partial.parts.has(fragIndex)) {
      this.drop(requestId)
      throw new DuplicateFragmentError(`fragment ${fragIndex} of request ${requestId} arrived twice`)
    }
    const generation = this.generation
    if (this.buffered + cost > this.maxBufferedBytes || this.budget?.tryReserve(cost) === false) {
      this.drop(requestId)
      throw new ReassemblyBufferFullError()
    }
    // Reserving may run the budget's pressure handler, which can close this very
    // circuit and clear() us; the reservation would then never be released.
    if (this.generation !== generation || (partial != null && this.partials.get(requestId) !== partial)) {
      this.budget?.release(cost)
      throw new ReassemblyBufferFullError()
    }
    if (partial == null) {
      partial = { cmd, fragCount, bytes: 0, held: 0, startedAt: this.now(), parts: new Map() }
      this.partials.set(requestId, partial)
    }
    partial.parts.set(fragIndex, data.slice())
    partial.bytes += data.byteLength
    partial.held += cost
    this.buffered += cost
    if (partial.parts.size < fragCount) return undefined

    this.drop(requestId)
    const out = new Uint8Array(partial.bytes)
    let offset = 0
    for (let i = 0; i < fragCount; i++) {
      const part = partial.parts.get(i) as Uint8Array
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
    this.generation++
    this.budget?.release(this.buffered)
    this.partials.clear()
    this.buffered = 0
  }

  private drop (requestId: number): void {
    const partial = this.partials.get(requestId)
    if (partial == null) return
    this.buffered -= partial.held
    this.budget?.release(partial.held)
    this.partials.delete(requestId)
  }
}
