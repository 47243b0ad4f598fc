import { platform } from '../crypto/platform/index.js'
import { CellDecoder, type Cell } from './cell.js'
import { CELL_HEADER_BYTES, CELL_SIZE } from '../wire/onion-format.js'
import { CircuitIdExhaustedError, LinkClosedError } from './circuit-errors.js'
import { LinkIdleError, LinkStalledError, MemoryShedError, type LinkCloseReason } from './link-errors.js'
import type { MemoryBudget } from '../memory/budget.js'
import type { Logger, PeerId, Stream } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'
import { inBackground } from '../background.js'

/** Version 2: layers are ChaCha20-Poly1305 (version 1 sealed them with AES-256-GCM; docs/protocol.md §5). */
export const LINK_PROTOCOL = '/ghostnode/link/2.0.0'
/** Cells a link may hold unsent before it sheds (4 MiB at 1 KiB cells). */
export const DEFAULT_LINK_MAX_QUEUED_CELLS = 4096
/** The largest Noise transport message's plaintext (65,535 bytes less the 16-byte tag). */
const NOISE_MAX_PLAINTEXT_BYTES = 65_519
/** The yamux frame header in front of every data frame. */
const YAMUX_HEADER_BYTES = 12
/**
 * Cells concatenated into one stream write when the queue holds several: as
 * many as fit, with the yamux header, in one Noise message (63). With 64
 * (65,536 bytes) every full batch spilled 29 bytes into a second Noise message
 * and a second frame, each its own socket writes and window update on the
 * other side; 63 measured 10-20 % more onion msg/s in bench:onion (docs/performance.md).
 */
export const DEFAULT_LINK_CELLS_PER_WRITE = Math.floor((NOISE_MAX_PLAINTEXT_BYTES - YAMUX_HEADER_BYTES) / CELL_SIZE)
/** Circuit ids chosen by the link's initiator have the top bit set; the responder's do not. */
const INITIATOR_BIT = 0x80000000
const CIRC_ID_TRIES = 64

export interface LinkEvents {
  /** A whole cell arrived. The cell's bytes may be modified in place and forwarded. */
  onCell: (link: Link, cell: Cell) => void
  /** The link closed (remote close, error, or local close). Called once. */
  onClose: (link: Link, err?: Error) => void
  /** A peer sent bytes that are not cells: the link is closed after this. */
  onMalformed?: (link: Link, err: Error) => void
  /** Each received chunk's size, before its cells are handed out (byte budgets are charged per chunk). */
  onChunk?: (link: Link, bytes: number) => void
  /** Sees every stream write (tests and diagnostics capture what crosses the link). */
  onWrite?: (link: Link, bytes: Uint8Array) => void
}

export interface LinkOptions {
  /** @default 4096 */
  maxQueuedCells?: number
  /** @default 64 */
  cellsPerWrite?: number
  /**
   * A link whose stream accepts nothing for this long is closed: a peer that
   * never reads (slowloris) must not pin queued cells forever.
   * @default 30000
   */
  stallTimeoutMs?: number
  /** The clock stall detection reads (tests use a fake one). @default Date.now */
  now?: () => number
  /** Node-wide budget every queued cell counts against. */
  budget?: MemoryBudget
}

export const DEFAULT_LINK_STALL_TIMEOUT_MS = 30_000
/**
 * What one queued cell costs the node-wide budget: its 1,024 bytes plus the
 * buffer and typed-array objects around them (a lone 1 KiB Uint8Array measured
 * ~1.5 KB of RSS on Node 24), so the budget bounds memory, not payload.
 */
export const LINK_CELL_COST_BYTES = 1_536
/** How often a link waiting on its stream re-checks it, in case a drain event was missed. */
const STREAM_POLL_MS = 1_000

/** The whole cell (header + payload) a decoded cell's payload view belongs to. */
export function cellBytes (cell: Cell): Uint8Array {
  const p = cell.payload
  return new Uint8Array(p.buffer, p.byteOffset - CELL_HEADER_BYTES, CELL_SIZE)
}

/**
 * One long-lived stream to a neighbour carrying fixed-size cells for every
 * circuit between the two (Tor's channel). Writes are batched: cells queued in
 * the same tick go out in one `send()`, and the queue waits for `drain` when the
 * stream pushes back. The queue is bounded; `send()` returns false when full and
 * the caller sheds (destroys the circuit) rather than buffering without limit.
 */
export class Link {
  readonly remotePeer: PeerId
  /** True on the side that opened the stream. */
  readonly initiator: boolean
  readonly stream: Stream
  private readonly log: Logger
  private readonly events: LinkEvents
  private readonly decoder = new CellDecoder()
  private readonly maxQueuedCells: number
  private readonly cellsPerWrite: number
  private readonly stallTimeoutMs: number
  private readonly now: () => number
  private readonly budget?: MemoryBudget
  private readonly queue: Uint8Array[] = []
  private readonly circIds = new Set<number>()
  private flushing = false
  private flushRun?: Promise<void>
  /** The stream holds a full batch it could not send: new cells wait in the queue. */
  private blocked = false
  private closed = false
  private malformed = false
  private closingLocally = false
  private roomWaiters: Array<() => void> = []
  cellsShed = 0
  /** Why the link ended; set once it has. */
  closeReason?: LinkCloseReason

  constructor (stream: Stream, remotePeer: PeerId, initiator: boolean, events: LinkEvents, log: Logger, options: LinkOptions = {}) {
    this.stream = stream
    this.remotePeer = remotePeer
    this.initiator = initiator
    this.events = events
    this.log = log
    this.maxQueuedCells = options.maxQueuedCells ?? DEFAULT_LINK_MAX_QUEUED_CELLS
    this.cellsPerWrite = options.cellsPerWrite ?? DEFAULT_LINK_CELLS_PER_WRITE
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_LINK_STALL_TIMEOUT_MS
    this.now = options.now ?? Date.now
    this.budget = options.budget
    stream.addEventListener('message', (evt) => { this.onData(evt.data) })
    stream.addEventListener('close', (evt) => { this.finish(evt.error) })
    stream.addEventListener('remoteCloseWrite', () => { this.close() })
    // A stream reset between opening and here fired its close event before we
    // listened: without this the link would look open forever and hold its queue.
    if (stream.writeStatus !== 'writable') this.closed = true
  }

  get isOpen (): boolean {
    return !this.closed
  }

  /** Cells waiting to be written. */
  get queuedCells (): number {
    return this.queue.length
  }

  /** Circuits on this link (both halves of the id space). */
  get circuitCount (): number {
    return this.circIds.size
  }

  /**
   * Queues one encoded cell (CELL_SIZE bytes; the link keeps the reference until
   * written). False when the link is closed or its queue is full. `shared`: the
   * cell may be a view into a buffer that also holds cells going elsewhere (a
   * received chunk), so it is copied if it has to wait; a sender whose buffer
   * holds only cells for this link (one message's cells) passes false.
   */
  send (cell: Uint8Array, shared = true): boolean {
    if (this.closed) return false
    if (this.queue.length >= this.maxQueuedCells || this.budget?.tryReserve(LINK_CELL_COST_BYTES) === false) {
      this.cellsShed++
      return false
    }
    if (this.closed) {
      // the budget's pressure handler closed this very link
      this.budget?.release(LINK_CELL_COST_BYTES)
      return false
    }
    // A forwarded cell is a view into the chunk it arrived in (up to a batch of cells):
    // one that waits behind others must not pin that whole chunk.
    this.queue.push(shared && (this.blocked || this.queue.length >= this.cellsPerWrite) ? ownCopy(cell) : cell)
    if (!this.flushing) {
      this.flushing = true
      queueMicrotask(() => { inBackground('link flush', this.flush(), this.log) })
    }
    return true
  }

  /**
   * Resolves when the queue has fallen below half its bound (at once if it is
   * already), so an originator can pace itself instead of being shed.
   */
  async waitForRoom (): Promise<void> {
    if (this.closed || this.queue.length < this.maxQueuedCells / 2) return
    await new Promise<void>((resolve) => { this.roomWaiters.push(resolve) })
  }

  private wakeRoomWaiters (): void {
    if (this.roomWaiters.length === 0 || (!this.closed && this.queue.length >= this.maxQueuedCells / 2)) return
    const waiters = this.roomWaiters
    this.roomWaiters = []
    for (const wake of waiters) wake()
  }

  /** A fresh random circuit id in this side's half of the id space. */
  allocateCircId (): number {
    const high = this.initiator ? INITIATOR_BIT : 0
    for (let i = 0; i < CIRC_ID_TRIES; i++) {
      const id = (high | platform.randomInt(1, INITIATOR_BIT)) >>> 0
      if (!this.circIds.has(id)) {
        this.circIds.add(id)
        return id
      }
    }
    throw new CircuitIdExhaustedError()
  }

  /**
   * Records a circuit id the other side chose. False when it is already in use
   * or lies in our half of the id space (a protocol violation).
   */
  acceptCircId (id: number): boolean {
    const theirs = this.initiator ? (id & INITIATOR_BIT) === 0 : (id & INITIATOR_BIT) !== 0
    if (!theirs || this.circIds.has(id)) return false
    this.circIds.add(id)
    return true
  }

  releaseCircId (id: number): void {
    this.circIds.delete(id)
  }

  /** Closes gracefully after queued cells are written; `why` names the reason (e.g. LinkIdleError). */
  close (why?: Error): void {
    if (this.closed) return
    this.closingLocally = true
    // accept nothing new, but let what is queued drain before the stream closes
    this.finish(why, true)
    inBackground('closing the link', this.flush().finally(() => {
      this.dropQueue()
      // a peer that stopped reading must not hold the stream (and its buffer) open
      this.stream.close({ signal: AbortSignal.timeout(this.stallTimeoutMs) }).catch((err: Error) => { this.stream.abort(err) })
    }), this.log)
  }

  /** Closes at once, dropping queued cells. */
  abort (err: Error): void {
    if (!this.closed) this.stream.abort(err)
    this.finish(err)
  }

  private dropQueue (): void {
    this.budget?.release(this.queue.length * LINK_CELL_COST_BYTES)
    this.queue.length = 0
  }

  private finish (err?: Error, keepQueue = false): void {
    if (this.closed) return
    this.closed = true
    this.closeReason = this.reasonFor(err)
    this.circIds.clear()
    if (!keepQueue) this.dropQueue()
    this.wakeRoomWaiters()
    this.events.onClose(this, err)
  }

  private onData (data: Uint8Array | Uint8ArrayList): void {
    if (this.closed) return
    this.events.onChunk?.(this, data.byteLength)
    try {
      for (const cell of this.decoder.push(data)) {
        this.events.onCell(this, cell)
        if (this.closed) return
      }
    } catch (err) {
      this.log('malformed data from %p - %e', this.remotePeer, err)
      this.malformed = true
      this.events.onMalformed?.(this, err as Error)
      this.abort(err as Error)
    }
  }

  private reasonFor (err?: Error): LinkCloseReason {
    if (this.malformed) return 'malformed'
    if (err instanceof LinkStalledError) return 'stall'
    if (err instanceof MemoryShedError) return 'memory'
    if (err instanceof LinkIdleError) return 'idle'
    if (err == null) return this.closingLocally ? 'local' : 'remote'
    if (err instanceof LinkClosedError) return 'local'
    if (err.name === 'StreamResetError') return 'remote'
    return 'error'
  }

  /** Writes the queue out; one run at a time (a graceful close joins the run in progress). */
  private async flush (): Promise<void> {
    this.flushRun ??= this.writeQueue().finally(() => { this.flushRun = undefined })
    return this.flushRun
  }

  private async writeQueue (): Promise<void> {
    try {
      // until both the queue and the stream's own buffer are empty: a stream that
      // keeps the last batch unsent is watched for a stall like any other
      while (this.stream.writeStatus === 'writable') {
        if (this.stream.writeBufferLength > 0) await this.waitForStream()
        if (this.queue.length === 0 || this.stream.writeStatus !== 'writable') break
        const n = Math.min(this.queue.length, this.cellsPerWrite)
        const batch = this.queue.splice(0, n)
        this.budget?.release(n * LINK_CELL_COST_BYTES)
        this.wakeRoomWaiters()
        const bytes = n === 1 ? ownCopy(batch[0]) : concatCells(batch)
        this.events.onWrite?.(this, bytes)
        // false only says the muxer wants a pause: what counts is the stream's buffer, checked above
        this.stream.send(bytes)
      }
    } catch (err) {
      this.abort(err as Error)
    } finally {
      this.blocked = false
      this.flushing = false
    }
  }

  /**
   * Waits until the stream has sent what it holds. A 'drain' from the stream
   * only says the connection below can take more: yamux signals it to every
   * stream on the connection, also to one whose peer grants no window (stopped
   * reading), and keeps whatever it is given. So the link hands over at most one
   * more batch while the stream still holds bytes, and a stream whose buffer
   * does not shrink for the stall timeout is a peer that stopped reading.
   */
  private async waitForStream (): Promise<void> {
    this.blocked = true
    let held = this.stream.writeBufferLength
    let deadline = this.now() + this.stallTimeoutMs
    while (this.stream.writeBufferLength > 0 && this.stream.writeStatus === 'writable' && !this.closedHard) {
      const left = deadline - this.now()
      if (left <= 0) throw new LinkStalledError(this.stallTimeoutMs)
      await streamEvent(this.stream, Math.min(left, STREAM_POLL_MS))
      // the stream sends on 'drain' in a microtask: look after it had its turn
      await nextTurn()
      const now = this.stream.writeBufferLength
      if (now < held) deadline = this.now() + this.stallTimeoutMs
      held = now
    }
    this.blocked = false
  }

  /** Closed, and not merely draining for a graceful close. */
  private get closedHard (): boolean {
    return this.closed && !this.closingLocally
  }
}

/** Resolves on the stream's next 'drain' or 'close', or after `ms`. */
async function streamEvent (stream: Stream, ms: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      stream.removeEventListener('drain', done)
      stream.removeEventListener('close', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    stream.addEventListener('drain', done)
    stream.addEventListener('close', done)
  })
}

/** The cell itself when it owns its buffer, else a copy (so it does not pin the chunk it came in). */
function ownCopy (cell: Uint8Array): Uint8Array {
  return cell.byteOffset === 0 && cell.buffer.byteLength === CELL_SIZE ? cell : cell.slice()
}

function concatCells (cells: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(cells.length * CELL_SIZE)
  for (let i = 0; i < cells.length; i++) out.set(cells[i], i * CELL_SIZE)
  return out
}

/** Resolves on a later turn of the event loop (setImmediate in Node; browsers have only timers). */
async function nextTurn (): Promise<void> {
  await new Promise<void>(resolve => {
    if (typeof setImmediate === 'function') setImmediate(resolve)
    else setTimeout(resolve, 0)
  })
}
