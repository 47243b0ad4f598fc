import { randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { EchoMismatchError } from '../lib/errors.js'
import { decodeRequestFrame, encodeRequestFrame, FRAMES_PER_WRITE, FrameDecoder, FrameWriter } from './frames.js'
import { PLAIN_PROTOCOL } from './plain-node.js'
import { startPlainChain, type PlainChain, type PlainHost } from './plain-chain.js'
import type { Workload, WorkloadContext, WorkloadInstance } from '../lib/workload.js'
import type { Stream } from '@libp2p/interface'

/** With namespaces every plain relay listens on this port of its node's address (beside the testnet's 7500-7502). */
export const PLAIN_NETNS_PORT = 7510

export class PlainRequestTimeoutError extends Error {
  constructor (ms: number) {
    super(`no echo within ${ms} ms`)
    this.name = 'PlainRequestTimeoutError'
  }
}

export class PlainStreamClosedError extends Error {
  constructor () {
    super('the stream to the first plain relay closed')
    this.name = 'PlainStreamClosedError'
  }
}

interface Pending { resolve: (payload: Uint8Array) => void, reject: (err: Error) => void, timer: ReturnType<typeof setTimeout> }

/** The bench's client of the plain chain: one stream to relay A, requests pipelined and matched by id. */
class PlainClient {
  private readonly writer: FrameWriter
  private readonly pending = new Map<number, Pending>()
  private nextId = 1
  private closed?: Error

  constructor (stream: Stream, framesPerWrite?: number) {
    this.writer = new FrameWriter(stream, (err) => { this.fail(err) }, framesPerWrite)
    const decoder = new FrameDecoder()
    stream.addEventListener('message', (evt) => {
      try {
        for (const frame of decoder.push(evt.data)) {
          const { requestId, payload } = decodeRequestFrame(frame)
          const p = this.pending.get(requestId)
          if (p == null) continue
          this.pending.delete(requestId)
          clearTimeout(p.timer)
          p.resolve(payload)
        }
      } catch (err) {
        this.fail(err as Error)
      }
    })
    stream.addEventListener('close', () => { this.fail(new PlainStreamClosedError()) })
  }

  async request (payload: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    if (this.closed != null) throw this.closed
    const id = this.nextId
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1
    const answer = new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new PlainRequestTimeoutError(timeoutMs))
      }, timeoutMs)
      this.pending.set(id, { resolve, reject, timer })
    })
    this.writer.write(encodeRequestFrame(id, payload))
    return answer
  }

  private fail (err: Error): void {
    this.closed ??= err
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.reject(err)
    }
    this.pending.clear()
  }
}

/**
 * The plain libp2p 3-hop baseline: the bench client → A → B → C → back, over
 * one long-lived stream per hop, with the same payload and concurrency as the
 * onion workload. The relays run beside the testnet's nodes (same namespaces
 * with --netns, a port above the nodes'); with --nodes URLs they run on this
 * machine's loopback. `framesPerWrite` 1 gives the unbatched variant (one
 * `send()` per message at every hop, like an lpStream write per message).
 */
function plainWorkload (name: string, description: string, framesPerWrite: number | undefined, portOffset: number): Workload {
  return {
    name,
    description,
    setup: async (ctx: WorkloadContext): Promise<WorkloadInstance> => {
      const namespaced = ctx.nodes.length >= 3 && ctx.nodes.slice(0, 3).every(n => n.wrap != null)
      const hosts: PlainHost[] = namespaced
        ? ctx.nodes.slice(0, 3).map(n => ({ address: n.host, wrap: n.wrap }))
        : [0, 1, 2].map(() => ({ address: '127.0.0.1' }))
      let chain: PlainChain | undefined
      let libp2p: Libp2p | undefined
      try {
        chain = await startPlainChain(hosts, namespaced ? PLAIN_NETNS_PORT + portOffset : 0, ctx.signal, framesPerWrite, ctx.proxyLatencyMs)
        ctx.log(`plain chain: ${chain.relays.map(r => `${r.name} pid ${r.pid}`).join(', ')}${namespaced ? ' (in the nodes\' namespaces)' : ' (loopback)'}`)
        libp2p = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
        const stream = await libp2p.dialProtocol(multiaddr(chain.entry), PLAIN_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
        const client = new PlainClient(stream, framesPerWrite)
        const payload = randomBytes(ctx.sizeBytes)
        const relays = chain.relays
        const c = chain
        const node = libp2p
        return {
          op: async () => {
            const echoed = await client.request(payload, ctx.requestTimeoutMs)
            if (!Buffer.from(echoed.buffer, echoed.byteOffset, echoed.byteLength).equals(payload)) throw new EchoMismatchError(`echo of ${payload.byteLength} B came back as ${echoed.byteLength} B of other bytes`)
          },
          resourceTargets: () => [
            ...relays.map(r => ({ name: r.name, role: 'plain-relay', pid: r.pid, gcSeconds: r.gcSeconds })),
            { name: 'bench', role: 'bench-client', pid: process.pid }
          ],
          details: () => ({
            relays: relays.map(r => ({ name: r.name, pid: r.pid })),
            placement: namespaced ? 'netns' : 'loopback',
            frames_per_write: framesPerWrite ?? FRAMES_PER_WRITE
          }),
          close: async () => {
            await Promise.resolve(node.stop()).catch(() => {})
            await c.stop()
          }
        }
      } catch (err) {
        await Promise.resolve(libp2p?.stop()).catch(() => {})
        await chain?.stop()
        throw err
      }
    }
  }
}

export const plainEchoWorkload = plainWorkload(
  'plain-echo',
  'plain libp2p 3-hop forwarding (TCP+Noise+yamux, one long-lived stream per hop, writes batched per tick like the onion link), last hop echoes',
  undefined,
  0
)

export const plainEchoUnbatchedWorkload = plainWorkload(
  'plain-echo-unbatched',
  'plain libp2p 3-hop forwarding as plain-echo, but one stream write per message at every hop (no batching)',
  1,
  1
)
