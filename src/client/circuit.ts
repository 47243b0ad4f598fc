import { ClientCircuitCrypto, relayBodyOf } from '../crypto/layer.js'
import { decodeDestroyReason, destroyCell, destroyReasonName, encodeCell, type Cell } from '../onion/cell.js'
import { CELL_HEADER_BYTES, CellCommand, DestroyReason, RelayCommand, RELAY_TAGS_BYTES } from '../wire/onion-format.js'
import {
  CircuitBuildTimeoutError, CircuitDestroyedError, CircuitLimitError, LinkClosedError, LinkQueueFullError, RequestTimeoutError
} from '../onion/circuit-errors.js'
import { decodeExitResponse } from '../onion/exit.js'
import { Reassembler } from '../onion/reassembly.js'
import { decodeRelayBody, fragmentMessage, writeRelayBody } from '../onion/relay-message.js'
import type { Link } from '../onion/link.js'
import type { CreateKeys } from '../crypto/labels.js'
import type { PeerId } from '@libp2p/interface'

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
export const DEFAULT_BUILD_TIMEOUT_MS = 10_000
export const DEFAULT_MAX_INFLIGHT_REQUESTS = 256

export interface ClientCircuitInit {
  link: Link
  /** The hops, first (the link's peer) to exit. */
  path: PeerId[]
  hopKeys: CreateKeys[]
  createPayload: Uint8Array
  /** @default 10000 */
  buildTimeoutMs?: number
  /** @default 131072 */
  maxMessageBytes?: number
  /** @default 256 */
  maxInflight?: number
  /** Called once when the circuit closes, with the error that closed it. */
  onClose?: (circuit: ClientCircuit, err: Error) => void
}

interface Pending {
  resolve: (data: Uint8Array) => void
  reject: (err: Error) => void
  timer: ReturnType<typeof setTimeout>
}

/**
 * The client's end of one circuit. Requests are fragmented into RELAY cells
 * sealed for every hop; responses are opened layer by layer and reassembled.
 * A hop that loses its onward link reports itself with an END sealed under its
 * own layer, so `closeError.hop` names the hop after it as the failed one.
 */
export class ClientCircuit {
  readonly path: PeerId[]
  readonly link: Link
  readonly circId: number
  private readonly crypto: ClientCircuitCrypto
  private readonly init: ClientCircuitInit
  private readonly reassembler: Reassembler
  private readonly pending = new Map<number, Pending>()
  private nextRequestId = 1
  private built?: PromiseWithResolvers<void>
  private closedWith?: Error
  /** Index in `path` of the hop blamed for the failure, if the circuit failed. */
  failedHop?: number
  buildMs?: number

  constructor (init: ClientCircuitInit) {
    this.init = init
    this.link = init.link
    this.path = init.path
    this.circId = init.link.allocateCircId()
    this.crypto = new ClientCircuitCrypto(init.hopKeys)
    this.reassembler = new Reassembler({ maxMessageBytes: init.maxMessageBytes, maxPartialMessages: init.maxInflight ?? DEFAULT_MAX_INFLIGHT_REQUESTS })
  }

  get isOpen (): boolean {
    return this.closedWith == null && this.buildMs != null
  }

  get closeError (): Error | undefined {
    return this.closedWith
  }

  get inflight (): number {
    return this.pending.size
  }

  /** Sends the CREATE and resolves once every hop has confirmed (one round trip). */
  async build (): Promise<void> {
    const timeoutMs = this.init.buildTimeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS
    this.built = Promise.withResolvers<void>()
    const started = performance.now()
    const timer = setTimeout(() => { this.close(new CircuitBuildTimeoutError(timeoutMs), true) }, timeoutMs)
    if (!this.link.send(encodeCell({ circId: this.circId, cmd: CellCommand.CREATE, payload: this.init.createPayload }))) {
      this.close(new LinkQueueFullError(), false)
    }
    try {
      await this.built.promise
      this.buildMs = performance.now() - started
    } finally {
      clearTimeout(timer)
    }
  }

  /** Sends one request through the circuit and resolves with the exit's response body. */
  async request (data: Uint8Array, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<{ status: number, body: Uint8Array, message?: string }> {
    if (this.closedWith != null) throw this.closedWith
    if (this.pending.size >= (this.init.maxInflight ?? DEFAULT_MAX_INFLIGHT_REQUESTS)) {
      throw new CircuitLimitError('too many requests in flight on this circuit')
    }
    const requestId = this.nextRequestId
    this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1
    const fragments = fragmentMessage({ cmd: RelayCommand.REQUEST, requestId, data }, { maxMessageBytes: this.init.maxMessageBytes })
    const response = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId)
        reject(new RequestTimeoutError(timeoutMs))
      }, timeoutMs)
      this.pending.set(requestId, { resolve, reject, timer })
    })
    for (const fragment of fragments) {
      await this.link.waitForRoom()
      if (this.closedWith != null) break
      const cell = encodeCell({ circId: this.circId, cmd: CellCommand.RELAY })
      const payload = cell.subarray(CELL_HEADER_BYTES)
      writeRelayBody(payload.subarray(RELAY_TAGS_BYTES), fragment)
      this.crypto.sealForward(payload)
      if (!this.link.send(cell)) {
        this.close(new LinkQueueFullError(), true)
        break
      }
    }
    return decodeExitResponse(await response)
  }

  /** Handles a cell the link routed to this circuit. */
  onCell (cell: Cell): void {
    if (this.closedWith != null) return
    switch (cell.cmd) {
      case CellCommand.CREATED:
        try {
          this.crypto.openCreated(cell.payload)
          this.built?.resolve()
        } catch (err) {
          this.close(err as Error, true)
        }
        return
      case CellCommand.RELAY:
        this.onRelay(cell.payload)
        return
      case CellCommand.DESTROY: {
        const reason = decodeDestroyReason(cell.payload)
        this.close(new CircuitDestroyedError(reason, destroyReasonName(reason), this.failedHop), false)
      }
    }
  }

  private onRelay (payload: Uint8Array): void {
    let origin: number
    try {
      origin = this.crypto.openBackwardFromAny(payload)
    } catch (err) {
      this.close(err as Error, true)
      return
    }
    let fragment
    try {
      fragment = decodeRelayBody(relayBodyOf(payload))
    } catch (err) {
      this.close(err as Error, true)
      return
    }
    if (fragment.cmd === RelayCommand.END && origin < this.path.length - 1) {
      // hop `origin` lost its link onward: the next hop is the one that failed
      this.failedHop = origin + 1
      return
    }
    if (origin !== this.path.length - 1) return // only the exit answers requests
    let message
    try {
      message = this.reassembler.add(fragment)
    } catch (err) {
      this.pending.get(fragment.requestId)?.reject(err as Error)
      this.pending.delete(fragment.requestId)
      return
    }
    if (message == null) return
    const pending = this.pending.get(message.requestId)
    if (pending == null) return
    this.pending.delete(message.requestId)
    clearTimeout(pending.timer)
    pending.resolve(message.data)
  }

  /** Tears the circuit down (DESTROY towards the exit when `notify`). */
  close (err: Error = new LinkClosedError('circuit closed by client'), notify = true): void {
    if (this.closedWith != null) return
    this.closedWith = err
    if (notify && this.link.isOpen) this.link.send(destroyCell(this.circId, DestroyReason.REQUESTED))
    this.link.releaseCircId(this.circId)
    this.built?.reject(err)
    this.built?.promise.catch(() => {})
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(err)
    }
    this.pending.clear()
    this.reassembler.clear()
    this.init.onClose?.(this, err)
  }
}
