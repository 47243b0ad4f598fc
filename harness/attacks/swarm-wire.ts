import { encodeFrame, FrameDecoder } from '../../src/swarm/peer/frames.js'
import { SWARM_PROTOCOL, decodeMessage, encodeRequestMessage, type SwarmRequest } from '../../src/swarm/peer/protocol.js'
import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'

/**
 * The requesting side of `/ghostnode/swarm/2.0.0` as an attacker writes it
 * from docs/protocol.md §10.5: one stream, requests pipelined by id, each
 * answered with its status code (or the error that ended the stream).
 */
export class SwarmWire {
  private readonly stream: Stream
  private readonly waiting = new Map<number, (status: number | string) => void>()
  private nextId = 1

  private constructor (stream: Stream) {
    this.stream = stream
    void this.readAnswers()
  }

  static async open (node: Libp2p, target: Multiaddr): Promise<SwarmWire> {
    return new SwarmWire(await node.dialProtocol(target, SWARM_PROTOCOL, { signal: AbortSignal.timeout(10_000) }))
  }

  /** Sends one request; resolves with the answer's status, or a string when none came within `timeoutMs`. */
  async call (request: SwarmRequest, timeoutMs = 10_000): Promise<number | string> {
    const id = this.nextId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiting.delete(id); resolve('timeout') }, timeoutMs)
      this.waiting.set(id, (status) => { clearTimeout(timer); resolve(status) })
      try {
        this.stream.send(encodeFrame(encodeRequestMessage(id, request)))
      } catch (err) {
        this.settle(id, `error: ${(err as Error).message}`)
      }
    })
  }

  close (): void {
    this.stream.abort(new Error('done'))
    for (const id of [...this.waiting.keys()]) this.settle(id, 'closed')
  }

  private settle (id: number, status: number | string): void {
    const done = this.waiting.get(id)
    this.waiting.delete(id)
    done?.(status)
  }

  private async readAnswers (): Promise<void> {
    const decoder = new FrameDecoder()
    try {
      for await (const chunk of this.stream) {
        for (const frame of decoder.push(chunk)) {
          const message = decodeMessage(frame.subarray())
          if (message.type === 'response') this.settle(message.id, message.status)
        }
      }
    } catch {}
    for (const id of [...this.waiting.keys()]) this.settle(id, 'closed')
  }
}

/** One request on its own stream: the answer's status code, or the error. */
export async function swarmCall (node: Libp2p, target: Multiaddr, request: SwarmRequest): Promise<number | string> {
  let wire: SwarmWire
  try {
    wire = await SwarmWire.open(node, target)
  } catch (err) {
    return `error: ${(err as Error).message}`
  }
  try {
    return await wire.call(request)
  } finally {
    wire.close()
  }
}
