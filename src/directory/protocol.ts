import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { MAX_NODE_RECORD_BYTES } from './node-record.js'
import { CHANGE_EPOCH_BYTES, type ChangeCursor } from './record-store.js'
import { DirectoryProtocolError, DirectoryRateLimitedError, DirectoryResponseTooLargeError } from './record-errors.js'
import type { AbortOptions, Stream } from '@libp2p/interface'

/**
 * /ghostnode/dir/1.0.0 wire format. Every message is one unsigned-varint
 * length-prefixed frame.
 *
 *   request   = format u8 (1) | kind u8 | (PUSH) one encoded node record | (CHANGES) epoch 8 | seq u64
 *   GET reply = format u8 | status u8 | count u32 BE, then `count` frames of one record each
 *   CHANGES reply = format u8 | status u8 | count u32 | epoch 8 | seq u64, then `count` frames
 *   PUSH reply= format u8 | status u8
 *
 * CHANGES asks for the records the responder added or updated since the
 * cursor (epoch, seq) of its previous answer; a cursor of another epoch (the
 * responder restarted) or none gets everything. docs/protocol.md §8.
 *
 * One request per stream; the responder closes its end after the reply.
 */
export const DIRECTORY_PROTOCOL = '/ghostnode/dir/1.0.0'
export const DIRECTORY_FORMAT = 1

export const DirectoryRequestKind = {
  /** Send me every record you hold. */
  GET: 1,
  /** Here is a record (normally the sender's own, after it changed). */
  PUSH: 2,
  /** Send me the records that changed since this cursor of yours. */
  CHANGES: 3
} as const
export type DirectoryRequestKind = typeof DirectoryRequestKind[keyof typeof DirectoryRequestKind]

export const DirectoryStatus = {
  OK: 0,
  /** GET refused: this peer asked again before the responder's minimum interval. */
  RATE_LIMITED: 1,
  /** PUSH refused: the record did not verify or was not newer. */
  REJECTED: 2,
  BAD_REQUEST: 3
} as const
export type DirectoryStatus = typeof DirectoryStatus[keyof typeof DirectoryStatus]

const KINDS = new Set<number>(Object.values(DirectoryRequestKind))
const STATUSES = new Set<number>(Object.values(DirectoryStatus))
/** Records per writeV batch: fewer, larger writes without holding the whole reply in one buffer. */
const WRITE_BATCH = 64
/** Largest request frame: a PUSH of the largest record. */
export const MAX_REQUEST_BYTES = 2 + MAX_NODE_RECORD_BYTES

export type DirectoryRequest =
  | { kind: typeof DirectoryRequestKind.GET }
  | { kind: typeof DirectoryRequestKind.PUSH, record: Uint8Array }
  | { kind: typeof DirectoryRequestKind.CHANGES, since: ChangeCursor }

const CURSOR_BYTES = CHANGE_EPOCH_BYTES + 8
const CHANGES_HEADER_BYTES = 6 + CURSOR_BYTES
/** A cursor that asks for everything (no responder has an all-zero epoch and seq 0 ahead of nothing). */
export const NO_CURSOR: ChangeCursor = { epoch: new Uint8Array(CHANGE_EPOCH_BYTES), seq: 0 }

function writeCursor (out: Uint8Array, offset: number, cursor: ChangeCursor): void {
  out.set(cursor.epoch, offset)
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  view.setUint32(offset + CHANGE_EPOCH_BYTES, Math.floor(cursor.seq / 2 ** 32))
  view.setUint32(offset + CHANGE_EPOCH_BYTES + 4, cursor.seq >>> 0)
}

function readCursor (frame: Uint8Array, offset: number): ChangeCursor {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  const high = view.getUint32(offset + CHANGE_EPOCH_BYTES)
  if (high >= 2 ** 21) throw new DirectoryProtocolError('cursor sequence number exceeds 2^53')
  return { epoch: frame.slice(offset, offset + CHANGE_EPOCH_BYTES), seq: high * 2 ** 32 + view.getUint32(offset + CHANGE_EPOCH_BYTES + 4) }
}

export function encodeRequest (request: DirectoryRequest): Uint8Array {
  if (request.kind === DirectoryRequestKind.CHANGES) {
    const out = new Uint8Array(2 + CURSOR_BYTES)
    out[0] = DIRECTORY_FORMAT
    out[1] = request.kind
    writeCursor(out, 2, request.since)
    return out
  }
  const record = request.kind === DirectoryRequestKind.PUSH ? request.record : new Uint8Array(0)
  const out = new Uint8Array(2 + record.byteLength)
  out[0] = DIRECTORY_FORMAT
  out[1] = request.kind
  out.set(record, 2)
  return out
}

export function decodeRequest (frame: Uint8Array): DirectoryRequest {
  if (frame.byteLength < 2) throw new DirectoryProtocolError('request is truncated')
  if (frame[0] !== DIRECTORY_FORMAT) throw new DirectoryProtocolError(`unsupported directory format ${frame[0]}`)
  if (!KINDS.has(frame[1])) throw new DirectoryProtocolError(`unknown directory request kind ${frame[1]}`)
  if (frame[1] === DirectoryRequestKind.GET) {
    if (frame.byteLength !== 2) throw new DirectoryProtocolError('GET request carries a body')
    return { kind: DirectoryRequestKind.GET }
  }
  if (frame[1] === DirectoryRequestKind.CHANGES) {
    if (frame.byteLength !== 2 + CURSOR_BYTES) throw new DirectoryProtocolError('CHANGES request has the wrong size')
    return { kind: DirectoryRequestKind.CHANGES, since: readCursor(frame, 2) }
  }
  if (frame.byteLength === 2) throw new DirectoryProtocolError('PUSH request carries no record')
  return { kind: DirectoryRequestKind.PUSH, record: frame.subarray(2) }
}

export function encodeGetHeader (status: DirectoryStatus, count: number): Uint8Array {
  const out = new Uint8Array(6)
  out[0] = DIRECTORY_FORMAT
  out[1] = status
  new DataView(out.buffer).setUint32(2, count)
  return out
}

export function decodeGetHeader (frame: Uint8Array): { status: DirectoryStatus, count: number } {
  if (frame.byteLength !== 6) throw new DirectoryProtocolError('GET reply header has the wrong size')
  if (frame[0] !== DIRECTORY_FORMAT) throw new DirectoryProtocolError(`unsupported directory format ${frame[0]}`)
  if (!STATUSES.has(frame[1])) throw new DirectoryProtocolError(`unknown directory status ${frame[1]}`)
  const count = new DataView(frame.buffer, frame.byteOffset, frame.byteLength).getUint32(2)
  return { status: frame[1] as DirectoryStatus, count }
}

export function encodeChangesHeader (status: DirectoryStatus, count: number, cursor: ChangeCursor): Uint8Array {
  const out = new Uint8Array(CHANGES_HEADER_BYTES)
  out.set(encodeGetHeader(status, count), 0)
  writeCursor(out, 6, cursor)
  return out
}

export function decodeChangesHeader (frame: Uint8Array): { status: DirectoryStatus, count: number, cursor: ChangeCursor } {
  if (frame.byteLength !== CHANGES_HEADER_BYTES) throw new DirectoryProtocolError('CHANGES reply header has the wrong size')
  return { ...decodeGetHeader(frame.subarray(0, 6)), cursor: readCursor(frame, 6) }
}

export function encodeStatus (status: DirectoryStatus): Uint8Array {
  return Uint8Array.of(DIRECTORY_FORMAT, status)
}

export function decodeStatus (frame: Uint8Array): DirectoryStatus {
  if (frame.byteLength !== 2 || frame[0] !== DIRECTORY_FORMAT || !STATUSES.has(frame[1])) {
    throw new DirectoryProtocolError('malformed directory status reply')
  }
  return frame[1] as DirectoryStatus
}

/** A length-prefixed view of a directory stream whose frames never exceed `maxFrameBytes`. */
function directoryLp (stream: Stream, maxFrameBytes: number, maxBufferBytes: number): LengthPrefixedStream<Stream> {
  return lpStream(stream, { maxDataLength: maxFrameBytes, maxBufferSize: maxBufferBytes })
}

/** Writes a GET reply: the header, then the records in batches (lpStream waits for drain). */
async function writeRecords (lp: LengthPrefixedStream<Stream>, records: Uint8Array[], options: AbortOptions, cursor?: ChangeCursor): Promise<void> {
  await lp.write(cursor === undefined ? encodeGetHeader(DirectoryStatus.OK, records.length) : encodeChangesHeader(DirectoryStatus.OK, records.length, cursor), options)
  for (let i = 0; i < records.length; i += WRITE_BATCH) {
    await lp.writeV(records.slice(i, i + WRITE_BATCH), options)
  }
}

export interface ReadRecordsOptions extends AbortOptions {
  /** Refuse a reply announcing more records. */
  maxRecords: number
  /** Refuse a reply whose records add up to more bytes. */
  maxBytes: number
}

/** Reads a GET reply, yielding each encoded record; enforces the count and byte bounds as it goes. */
async function * readRecords (lp: LengthPrefixedStream<Stream>, options: ReadRecordsOptions, header?: { status: DirectoryStatus, count: number }): AsyncGenerator<Uint8Array> {
  const { status, count } = header ?? decodeGetHeader((await lp.read(options)).subarray())
  if (status === DirectoryStatus.RATE_LIMITED) throw new DirectoryRateLimitedError()
  if (status !== DirectoryStatus.OK) throw new DirectoryProtocolError(`directory GET failed with status ${status}`)
  if (count > options.maxRecords) {
    throw new DirectoryResponseTooLargeError(`directory reply announces ${count} records, more than ${options.maxRecords}`)
  }
  let total = 0
  for (let i = 0; i < count; i++) {
    const frame = (await lp.read(options)).subarray()
    total += frame.byteLength
    if (total > options.maxBytes) throw new DirectoryResponseTooLargeError(`directory reply exceeds ${options.maxBytes} bytes`)
    yield frame
  }
}

/** Read buffer slack over the response bound: one frame header and a partial next frame. */
const READ_BUFFER_SLACK_BYTES = 64 * 1024

/**
 * Client side of GET on a freshly opened stream: hands each record to
 * `onRecord` as it arrives, then closes. The stream is aborted on any error.
 */
export async function requestDirectory (stream: Stream, options: ReadRecordsOptions, onRecord: (bytes: Uint8Array) => Promise<void>): Promise<void> {
  try {
    const lp = directoryLp(stream, MAX_NODE_RECORD_BYTES, options.maxBytes + READ_BUFFER_SLACK_BYTES)
    await lp.write(encodeRequest({ kind: DirectoryRequestKind.GET }), options)
    for await (const bytes of readRecords(lp, options)) await onRecord(bytes)
    await stream.close(options)
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/**
 * Client side of CHANGES: the records the responder added or updated since
 * `since` (NO_CURSOR: all of them), each handed to `onRecord`; returns the
 * cursor to send next time. Undefined when the responder does not know the
 * request (an older node answers BAD_REQUEST): ask it with GET instead.
 */
export async function requestChanges (stream: Stream, since: ChangeCursor, options: ReadRecordsOptions, onRecord: (bytes: Uint8Array) => Promise<void>): Promise<ChangeCursor | undefined> {
  try {
    const lp = directoryLp(stream, MAX_NODE_RECORD_BYTES, options.maxBytes + READ_BUFFER_SLACK_BYTES)
    await lp.write(encodeRequest({ kind: DirectoryRequestKind.CHANGES, since }), options)
    const first = (await lp.read(options)).subarray()
    if (first.byteLength === 2 && decodeStatus(first) === DirectoryStatus.BAD_REQUEST) {
      await stream.close(options)
      return undefined
    }
    const header = decodeChangesHeader(first)
    for await (const bytes of readRecords(lp, options, header)) await onRecord(bytes)
    await stream.close(options)
    return header.cursor
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** Client side of PUSH: sends one record and returns the responder's status. */
export async function pushRecord (stream: Stream, record: Uint8Array, options: AbortOptions): Promise<DirectoryStatus> {
  try {
    const lp = directoryLp(stream, 2, MAX_REQUEST_BYTES)
    await lp.write(encodeRequest({ kind: DirectoryRequestKind.PUSH, record }), options)
    const status = decodeStatus((await lp.read(options)).subarray())
    await stream.close(options)
    return status
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/** What the responder does with a request. */
export interface DirectoryResponder {
  /** Records to serve, or undefined when the requester must wait (RATE_LIMITED). */
  get: () => Uint8Array[] | undefined
  /** Records changed since the cursor and the cursor after them, or undefined (RATE_LIMITED). */
  changes: (since: ChangeCursor) => { records: Uint8Array[], cursor: ChangeCursor } | undefined
  /** Takes a pushed record; true when accepted (or already known). */
  push: (record: Uint8Array) => Promise<boolean>
}

/** Responder side of one inbound stream: one request, one reply, close. Aborts the stream on error and rethrows. */
export async function serveDirectoryRequest (stream: Stream, responder: DirectoryResponder, options: AbortOptions): Promise<void> {
  const lp = directoryLp(stream, MAX_REQUEST_BYTES, 2 * MAX_REQUEST_BYTES)
  try {
    let request: DirectoryRequest
    try {
      request = decodeRequest((await lp.read(options)).subarray())
    } catch (err) {
      await lp.write(encodeStatus(DirectoryStatus.BAD_REQUEST), options)
      throw err
    }
    if (request.kind === DirectoryRequestKind.GET) {
      const records = responder.get()
      if (records == null) await lp.write(encodeGetHeader(DirectoryStatus.RATE_LIMITED, 0), options)
      else await writeRecords(lp, records, options)
    } else if (request.kind === DirectoryRequestKind.CHANGES) {
      const answer = responder.changes(request.since)
      if (answer == null) await lp.write(encodeChangesHeader(DirectoryStatus.RATE_LIMITED, 0, request.since), options)
      else await writeRecords(lp, answer.records, options, answer.cursor)
    } else {
      const ok = await responder.push(request.record)
      await lp.write(encodeStatus(ok ? DirectoryStatus.OK : DirectoryStatus.REJECTED), options)
    }
    await stream.close(options)
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}
