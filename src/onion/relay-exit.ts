import { isGhostnodeError } from '../errors.js'
import { writeCell } from './cell.js'
import { CELL_HEADER_BYTES, CELL_SIZE, CellCommand, DestroyReason, RelayCommand, RELAY_TAGS_BYTES } from '../wire/onion-format.js'
import { encodeExitResponse, ExitStatus, type ExitHandlerRegistry } from './exit.js'
import { DEFAULT_REASSEMBLY_TIMEOUT_MS, Reassembler } from './reassembly.js'
import { fragmentMessage, writeRelayBody } from './relay-message.js'
import type { HopCrypto } from '../crypto/layer.js'
import type { Link } from './link.js'
import type { MemoryBudget } from '../memory/budget.js'
import type { MemoryHolder } from '../memory/relief.js'
import type { RelayMetrics } from './relay-metrics.js'
import type { Logger } from '@libp2p/interface'

export const DEFAULT_EXIT_CONCURRENCY_PER_CIRCUIT = 256
export const DEFAULT_EXIT_MAX_MESSAGE_BYTES = 128 * 1024
/** Per circuit; the node-wide memory budget bounds the sum over circuits. */
export const DEFAULT_EXIT_REASSEMBLY_BYTES_PER_CIRCUIT = 16 * 1024 * 1024

const BUSY = new TextEncoder().encode('exit busy, retry later')

/** The part of a relay circuit the exit side works on. */
export interface ExitCircuit {
  hop: HopCrypto
  prev: { link: Link, circId: number }
  createdAt: number
  reassembler?: Reassembler
  inflight: number
  /** Budgeted bytes of the requests executing now. */
  inflightBytes: number
  abort: AbortController
  closed: boolean
}

export interface RelayExitInit<C extends ExitCircuit> {
  exits: ExitHandlerRegistry
  metrics: RelayMetrics
  log: Logger
  now: () => number
  budget?: MemoryBudget
  /** @default 256 */
  concurrencyPerCircuit?: number
  /** @default 131072 */
  maxMessageBytes?: number
  /** @default 30000 */
  reassemblyTimeoutMs?: number
  /** Tears a circuit down towards its client with `reason` (the relay's destroy). */
  destroy: (circuit: C, reason: number) => void
}

/**
 * The exit end of the relay's circuits: reassembles requests, runs them
 * through the handler registry within the memory budget, and originates the
 * answers. It knows only the previous hop of each circuit.
 */
export class RelayExit<C extends ExitCircuit> {
  private readonly init: RelayExitInit<C>
  /** Circuits ending here: the only ones that reassemble and execute. */
  private readonly circuits = new Set<C>()
  /** Partial requests dropped by timeout on circuits already closed. */
  private expiredOnClosed = 0

  constructor (init: RelayExitInit<C>) {
    this.init = init
  }

  /** Makes `circuit` an exit circuit (it gets a reassembler). */
  add (circuit: C): void {
    circuit.reassembler = new Reassembler({
      maxMessageBytes: this.init.maxMessageBytes ?? DEFAULT_EXIT_MAX_MESSAGE_BYTES,
      // as many partial messages as requests may run, so a client within its limits never trips it
      maxPartialMessages: this.init.concurrencyPerCircuit ?? DEFAULT_EXIT_CONCURRENCY_PER_CIRCUIT,
      maxBufferedBytes: DEFAULT_EXIT_REASSEMBLY_BYTES_PER_CIRCUIT,
      timeoutMs: this.init.reassemblyTimeoutMs ?? DEFAULT_REASSEMBLY_TIMEOUT_MS,
      now: this.init.now,
      ...(this.init.budget != null ? { budget: this.init.budget } : {})
    })
    this.circuits.add(circuit)
  }

  /** The circuit closed: its partial requests go, and their memory with them. */
  remove (circuit: C): void {
    if (circuit.reassembler == null) return
    this.expiredOnClosed += circuit.reassembler.expiredCount
    circuit.reassembler.clear()
    this.circuits.delete(circuit)
  }

  /** Drops partial requests older than the reassembly timeout on every exit circuit; returns how many. */
  sweep (): number {
    let n = 0
    for (const circuit of this.circuits) n += circuit.reassembler?.sweep() ?? 0
    return n
  }

  /** Partial requests dropped by timeout so far. */
  expiredTotal (): number {
    let n = this.expiredOnClosed
    for (const circuit of this.circuits) n += circuit.reassembler?.expiredCount ?? 0
    return n
  }

  /** Exit circuits holding budgeted memory (partial and executing requests), to close if it runs out. */
  holders (): MemoryHolder[] {
    const holders: MemoryHolder[] = []
    for (const circuit of this.circuits) {
      const bytes = (circuit.reassembler?.bufferedBytes ?? 0) + circuit.inflightBytes
      if (bytes === 0) continue
      holders.push({ kind: 'circuit', bytes, since: circuit.createdAt, close: () => { this.init.destroy(circuit, DestroyReason.RESOURCE_LIMIT) } })
    }
    return holders
  }

  /** A plaintext relay body arrived at the exit. */
  onBody (circuit: C, body: Uint8Array): void {
    let message
    try {
      message = circuit.reassembler?.push(body)
    } catch (err) {
      // only the client can produce a body that decrypts at the exit: its problem, its circuit
      this.init.log.trace('bad relay message at exit - %e', err)
      this.init.destroy(circuit, DestroyReason.PROTOCOL)
      return
    }
    if (message == null || message.cmd !== RelayCommand.REQUEST) return
    const { metrics, budget } = this.init
    const requestId = message.requestId
    // Over the per-circuit cap, or with the node's memory budget spent, the request
    // is refused with a status: the circuit and the client's other requests live on.
    if (circuit.inflight >= (this.init.concurrencyPerCircuit ?? DEFAULT_EXIT_CONCURRENCY_PER_CIRCUIT)) {
      metrics.exitRequests.inc({ service: 'unknown', status: String(ExitStatus.RATE_LIMITED) })
      this.send(circuit, RelayCommand.RESPONSE, requestId, encodeExitResponse(ExitStatus.RATE_LIMITED, BUSY))
      return
    }
    const held = message.data.byteLength
    if (budget?.tryReserve(held) === false) {
      metrics.exitRequests.inc({ service: 'unknown', status: String(ExitStatus.UNAVAILABLE) })
      this.send(circuit, RelayCommand.RESPONSE, requestId, encodeExitResponse(ExitStatus.UNAVAILABLE, BUSY))
      return
    }
    circuit.inflight++
    circuit.inflightBytes += held
    const started = performance.now()
    void this.init.exits.dispatch(message.data, { signal: circuit.abort.signal }).then(({ response, service, status }) => {
      circuit.inflight--
      circuit.inflightBytes -= held
      budget?.release(held)
      metrics.exitRequests.inc({ service, status: String(status) })
      metrics.exitSeconds.observe({ service }, (performance.now() - started) / 1000)
      if (circuit.closed) return
      this.send(circuit, RelayCommand.RESPONSE, requestId, response)
    }).catch((err: Error) => {
      // dispatch() answers every handler failure with a status; reaching here is a bug, logged, not a crash
      this.init.log.error('exit dispatch failed - %e', err)
    })
  }

  /** Fragments a message and originates one backward cell per fragment. */
  private send (circuit: C, cmd: RelayCommand, requestId: number, data: Uint8Array): void {
    let fragments
    try {
      fragments = fragmentMessage({ cmd, requestId, data }, { maxMessageBytes: this.init.maxMessageBytes ?? DEFAULT_EXIT_MAX_MESSAGE_BYTES })
    } catch (err) {
      if (!isGhostnodeError(err)) throw err
      fragments = fragmentMessage({ cmd, requestId, data: Uint8Array.of(ExitStatus.TOO_LARGE) })
    }
    // one buffer for the whole answer: its cells all go to one link, and a lone
    // 1 KiB buffer per cell costs half as much again in allocator overhead
    const slab = new Uint8Array(fragments.length * CELL_SIZE)
    for (let i = 0; i < fragments.length; i++) {
      const cell = slab.subarray(i * CELL_SIZE, (i + 1) * CELL_SIZE)
      writeCell(slab, i * CELL_SIZE, { circId: circuit.prev.circId, cmd: CellCommand.RELAY })
      const payload = cell.subarray(CELL_HEADER_BYTES)
      writeRelayBody(payload.subarray(RELAY_TAGS_BYTES), fragments[i])
      circuit.hop.originate(payload)
      this.init.metrics.backwardCells++
      if (!circuit.prev.link.send(cell, false)) {
        this.init.metrics.cellsShed.inc()
        this.init.destroy(circuit, DestroyReason.RESOURCE_LIMIT)
        return
      }
    }
  }
}
