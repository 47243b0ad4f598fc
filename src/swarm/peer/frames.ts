import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_SWARM_FRAME_BYTES } from './protocol.js'
import { SwarmFrameTooLargeError } from '../service-errors.js'

/** Frames on a swarm stream: `length u32 | message`. */
export const FRAME_HEADER_BYTES = 4

export function encodeFrame (message: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + message.byteLength)
  new DataView(out.buffer).setUint32(0, message.byteLength)
  out.set(message, FRAME_HEADER_BYTES)
  return out
}

/**
 * Splits a byte stream into frames, whatever the chunk boundaries. A length
 * over the bound throws SwarmFrameTooLargeError before any of it is buffered,
 * so a peer cannot make us hold more than one maximal frame.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  private readonly maxFrameBytes: number
  private expected = -1

  constructor (maxFrameBytes = MAX_SWARM_FRAME_BYTES) {
    this.maxFrameBytes = maxFrameBytes
  }

  /** Bytes held for a frame not yet complete. */
  get bufferedBytes (): number {
    return this.buffer.byteLength
  }

  * push (chunk: Uint8Array | Uint8ArrayList): Generator<Uint8Array> {
    this.buffer.append(chunk)
    for (;;) {
      if (this.expected < 0) {
        if (this.buffer.byteLength < FRAME_HEADER_BYTES) return
        const length = this.buffer.getUint32(0)
        if (length > this.maxFrameBytes) throw new SwarmFrameTooLargeError(length, this.maxFrameBytes)
        this.buffer.consume(FRAME_HEADER_BYTES)
        this.expected = length
      }
      if (this.buffer.byteLength < this.expected) return
      const frame = this.buffer.subarray(0, this.expected)
      this.buffer.consume(this.expected)
      this.expected = -1
      yield frame
    }
  }
}
