import { Uint8ArrayList } from 'uint8arraylist'
import type { Stream } from '@libp2p/interface'

/**
 * Framing of the plain libp2p baseline: `[len u32 BE][body]`, where the client's
 * body is `[requestId u32 BE][payload]`. Relays parse only the length, so every
 * hop handles whole messages, as an onion relay handles whole cells.
 */
export const FRAME_HEADER_BYTES = 4
export const REQUEST_ID_BYTES = 4
/** Refuse absurd lengths instead of buffering them (a 128 KiB message is the onion's default maximum). */
export const MAX_FRAME_BYTES = 1024 * 1024
/** Frames concatenated into one stream write when several are queued (the onion link's figure). */
export const FRAMES_PER_WRITE = 64

export class FrameTooLargeError extends Error {
  constructor (length: number) {
    super(`frame of ${length} bytes exceeds ${MAX_FRAME_BYTES}`)
    this.name = 'FrameTooLargeError'
  }
}

/** Splits a byte stream into whole frames (each returned with its length prefix). */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()

  push (chunk: Uint8Array | Uint8ArrayList): Uint8Array[] {
    this.buffer.append(chunk)
    const frames: Uint8Array[] = []
    while (this.buffer.byteLength >= FRAME_HEADER_BYTES) {
      const length = this.buffer.getUint32(0)
      if (length > MAX_FRAME_BYTES) throw new FrameTooLargeError(length)
      const whole = FRAME_HEADER_BYTES + length
      if (this.buffer.byteLength < whole) break
      frames.push(this.buffer.subarray(0, whole))
      this.buffer.consume(whole)
    }
    return frames
  }
}

export function encodeRequestFrame (requestId: number, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(FRAME_HEADER_BYTES + REQUEST_ID_BYTES + payload.byteLength)
  const view = new DataView(frame.buffer)
  view.setUint32(0, REQUEST_ID_BYTES + payload.byteLength)
  view.setUint32(FRAME_HEADER_BYTES, requestId)
  frame.set(payload, FRAME_HEADER_BYTES + REQUEST_ID_BYTES)
  return frame
}

export function decodeRequestFrame (frame: Uint8Array): { requestId: number, payload: Uint8Array } {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  return { requestId: view.getUint32(FRAME_HEADER_BYTES), payload: frame.subarray(FRAME_HEADER_BYTES + REQUEST_ID_BYTES) }
}

/**
 * Writes frames to a stream the way the onion link writes cells: frames queued
 * in the same tick go out in one `send()` (at most FRAMES_PER_WRITE), and the
 * writer waits for `drain` whenever `send()` returns false. The queue is bounded
 * by the closed-loop client (at most `concurrency` messages exist at once).
 */
export class FrameWriter {
  private readonly stream: Stream
  private readonly queue: Uint8Array[] = []
  private flushing = false
  private readonly onError: (err: Error) => void
  private readonly framesPerWrite: number

  /** `framesPerWrite` 1 = one `send()` per frame (no batching), the lpStream-style baseline. */
  constructor (stream: Stream, onError: (err: Error) => void, framesPerWrite = FRAMES_PER_WRITE) {
    this.stream = stream
    this.onError = onError
    this.framesPerWrite = framesPerWrite
  }

  write (frame: Uint8Array): void {
    this.queue.push(frame)
    if (!this.flushing) {
      this.flushing = true
      queueMicrotask(() => { void this.flush() })
    }
  }

  private async flush (): Promise<void> {
    try {
      while (this.queue.length > 0 && this.stream.writeStatus === 'writable') {
        const batch = this.queue.splice(0, this.framesPerWrite)
        const bytes = batch.length === 1 ? batch[0] : concat(batch)
        if (!this.stream.send(bytes)) await this.stream.onDrain()
      }
    } catch (err) {
      this.onError(err as Error)
    } finally {
      this.flushing = false
    }
  }
}

function concat (parts: Uint8Array[]): Uint8Array {
  let size = 0
  for (const p of parts) size += p.byteLength
  const out = new Uint8Array(size)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.byteLength
  }
  return out
}
