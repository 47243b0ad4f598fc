import { Uint8ArrayList } from 'uint8arraylist'
import { platform } from '../crypto/platform/index.js'
import {
  CELL_HEADER_BYTES, CELL_PAYLOAD_BYTES, CELL_SIZE, CellCommand, DestroyReason, MAX_CIRC_ID
} from '../wire/onion-format.js'
import {
  CellBufferOverflowError, CellCircIdError, CellCommandError, CellPayloadSizeError, CellSizeError,
  CellTruncatedError, InvalidOnionOptionError
} from './errors.js'

/**
 * Fixed-size link cells: `[circId u32 BE][cmd u8][payload 1019]`.
 *
 * circId 0 is reserved for link-level cells: PADDING must use it and circuit cells
 * (CREATE, CREATED, RELAY, DESTROY) must not. Unused payload bytes are random so a
 * short DESTROY looks like any other cell once the link is encrypted.
 */

/** A decoded cell; `payload` is a view into the decoded bytes (no copy). */
export interface Cell {
  circId: number
  cmd: CellCommand
  payload: Uint8Array
}

/** What to encode; a payload shorter than CELL_PAYLOAD_BYTES is padded with random bytes. */
export interface CellInit {
  circId: number
  cmd: CellCommand
  payload?: Uint8Array
}

/**
 * The decoder rejects a push that would make it hold more than this many bytes
 * (only possible if a consumer stops draining or a single chunk is enormous).
 */
export const DEFAULT_MAX_DECODER_BUFFERED_BYTES = 1024 * 1024

const MAX_COMMAND = CellCommand.PADDING

export function isCellCommand (value: number): value is CellCommand {
  return Number.isInteger(value) && value >= CellCommand.CREATE && value <= MAX_COMMAND
}

function checkHeader (circId: number, cmd: number): void {
  if (!isCellCommand(cmd)) {
    throw new CellCommandError(`unknown cell command ${cmd}`)
  }
  if (!Number.isInteger(circId) || circId < 0 || circId > MAX_CIRC_ID) {
    throw new CellCircIdError('circuit id must be a u32')
  }
  if ((cmd === CellCommand.PADDING) !== (circId === 0)) {
    throw new CellCircIdError(cmd === CellCommand.PADDING
      ? 'PADDING must use circuit id 0'
      : 'circuit id 0 is reserved for link-level cells')
  }
}

function writeHeader (target: Uint8Array, offset: number, circId: number, cmd: number): void {
  target[offset] = circId >>> 24
  target[offset + 1] = (circId >>> 16) & 0xff
  target[offset + 2] = (circId >>> 8) & 0xff
  target[offset + 3] = circId & 0xff
  target[offset + 4] = cmd
}

/** Encode `cell` into `target` at `offset` (CELL_SIZE bytes). */
export function writeCell (target: Uint8Array, offset: number, cell: CellInit): void {
  checkHeader(cell.circId, cell.cmd)
  const payload = cell.payload
  const used = payload?.byteLength ?? 0
  if (used > CELL_PAYLOAD_BYTES) {
    throw new CellPayloadSizeError(`payload of ${used} bytes exceeds ${CELL_PAYLOAD_BYTES}`)
  }
  if (offset < 0 || offset + CELL_SIZE > target.byteLength) {
    throw new CellSizeError('target too small for a cell')
  }
  writeHeader(target, offset, cell.circId, cell.cmd)
  const start = offset + CELL_HEADER_BYTES
  if (payload != null) target.set(payload, start)
  if (used < CELL_PAYLOAD_BYTES) platform.randomFill(target.subarray(start + used, offset + CELL_SIZE))
}

/** One encoded cell. */
export function encodeCell (cell: CellInit): Uint8Array {
  const out = new Uint8Array(CELL_SIZE)
  writeCell(out, 0, cell)
  return out
}

/** Several cells packed back to back for one stream write. */
export function encodeCells (cells: readonly CellInit[]): Uint8Array {
  const out = new Uint8Array(cells.length * CELL_SIZE)
  for (let i = 0; i < cells.length; i++) writeCell(out, i * CELL_SIZE, cells[i])
  return out
}

/**
 * Rewrite the circuit id of an encoded cell in place (a relay forwarding a cell
 * onto the next link keeps the payload buffer and only changes the header).
 */
export function setCellCircId (cell: Uint8Array, circId: number): void {
  if (cell.byteLength !== CELL_SIZE) throw new CellSizeError()
  checkHeader(circId, cell[4])
  writeHeader(cell, 0, circId, cell[4])
}

/** A DESTROY payload: reason byte (random padding is added by the encoder). */
export function destroyCell (circId: number, reason: DestroyReason): Uint8Array {
  return encodeCell({ circId, cmd: CellCommand.DESTROY, payload: Uint8Array.of(reason) })
}

/**
 * The reason byte of a DESTROY payload. Unknown codes are returned as-is (forward
 * compatible); name them with destroyReasonName.
 */
export function decodeDestroyReason (payload: Uint8Array): number {
  if (payload.byteLength < 1) throw new CellPayloadSizeError('empty DESTROY payload')
  return payload[0]
}

const REASON_NAMES = new Map<number, string>(Object.entries(DestroyReason).map(([k, v]) => [v, k]))

/** Enum name of a DESTROY reason, or 'UNKNOWN'. */
export function destroyReasonName (reason: number): string {
  return REASON_NAMES.get(reason) ?? 'UNKNOWN'
}

/**
 * Parse one cell. The payload is a view into `bytes`.
 * @throws CellSizeError, CellCommandError, CellCircIdError
 */
export function decodeCell (bytes: Uint8Array): Cell {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== CELL_SIZE) {
    throw new CellSizeError(`cell must be ${CELL_SIZE} bytes`)
  }
  const circId = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0
  const cmd = bytes[4]
  checkHeader(circId, cmd)
  return { circId, cmd: cmd as CellCommand, payload: bytes.subarray(CELL_HEADER_BYTES) }
}

export interface CellDecoderInit {
  /** @default 1048576 */
  maxBufferedBytes?: number
}

/**
 * Streaming decoder: push arbitrary chunks, get whole cells. Between pushes it
 * retains only the bytes of an incomplete cell (< CELL_SIZE) unless a consumer
 * stops iterating early, in which case the rest is kept for the next push.
 *
 * Cells lying inside one chunk are yielded as views into that chunk (no copy);
 * the decoder never touches a yielded cell again, so callers may modify it in place.
 */
export class CellDecoder {
  private readonly buffer = new Uint8ArrayList()
  private readonly maxBufferedBytes: number

  constructor (init: CellDecoderInit = {}) {
    this.maxBufferedBytes = init.maxBufferedBytes ?? DEFAULT_MAX_DECODER_BUFFERED_BYTES
    if (!Number.isInteger(this.maxBufferedBytes) || this.maxBufferedBytes < CELL_SIZE) {
      throw new InvalidOnionOptionError(`maxBufferedBytes must be an integer ≥ ${CELL_SIZE}`)
    }
  }

  /** Bytes held that do not yet form a whole cell (or were not drained). */
  get bufferedBytes (): number {
    return this.buffer.byteLength
  }

  /**
   * Add a chunk and yield every whole cell now available.
   * @throws CellBufferOverflowError, and decodeCell's errors for a malformed cell
   */
  * push (chunk: Uint8Array | Uint8ArrayList): Generator<Cell, void, undefined> {
    // what is bounded is what stays held between pushes (a partial cell, or what a consumer
    // left undrained); a chunk of whole cells of any size is valid (docs/protocol.md §1)
    if (this.buffer.byteLength > this.maxBufferedBytes) {
      throw new CellBufferOverflowError()
    }
    // At most one copy per chunk: a multi-part chunk, or a chunk that completes
    // a partial cell, is made contiguous once; whole cells are then views into it.
    let bytes: Uint8Array
    if (this.buffer.byteLength === 0) {
      bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    } else {
      this.buffer.append(chunk)
      if (this.buffer.byteLength < CELL_SIZE) return
      bytes = this.buffer.subarray()
      this.buffer.consume(this.buffer.byteLength)
    }
    let offset = 0
    try {
      while (bytes.byteLength - offset >= CELL_SIZE) {
        const cell = bytes.subarray(offset, offset + CELL_SIZE)
        offset += CELL_SIZE
        yield decodeCell(cell)
      }
    } finally {
      if (offset < bytes.byteLength) this.buffer.append(bytes.subarray(offset))
    }
  }

  /** Call at end of stream. @throws CellTruncatedError if a partial cell remains */
  end (): void {
    if (this.buffer.byteLength !== 0) {
      throw new CellTruncatedError(`${this.buffer.byteLength} bytes of a partial cell at end of stream`)
    }
  }
}

/** Decode a whole stream of chunks into cells (e.g. `decodeCells(stream)`). */
export async function * decodeCells (
  source: AsyncIterable<Uint8Array | Uint8ArrayList> | Iterable<Uint8Array | Uint8ArrayList>,
  init?: CellDecoderInit
): AsyncGenerator<Cell, void, undefined> {
  const decoder = new CellDecoder(init)
  for await (const chunk of source) {
    yield * decoder.push(chunk)
  }
  decoder.end()
}
