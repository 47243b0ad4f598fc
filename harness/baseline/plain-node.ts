import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { FRAMES_PER_WRITE, FrameDecoder, FrameWriter } from './frames.js'
import type { Stream } from '@libp2p/interface'

/**
 * The plain libp2p forwarding baseline: the same transport stack as a ghostnode
 * relay (TCP + Noise + yamux) and nothing else. A forwarding relay pipes whole
 * frames between one inbound stream and one long-lived outbound stream to the
 * next relay; the last relay echoes every frame back. No onion crypto, no cells,
 * no circuits: what is left is the cost of libp2p itself over three hops.
 */
export const PLAIN_PROTOCOL = '/ghostnode-bench/plain/1.0.0'
/** One client stream per relay is normal; a little slack for a re-run. */
const MAX_STREAMS = 8

export interface PlainRelayInit {
  listen: string
  /** Multiaddr (with /p2p/) of the next relay; absent = this relay echoes. */
  next?: string
  /** Frames per stream write; 1 turns batching off. @default FRAMES_PER_WRITE */
  framesPerWrite?: number
}

export interface PlainRelay {
  libp2p: Libp2p
  peerId: string
  addrs: string[]
  stop: () => Promise<void>
}

/**
 * Reads whole frames from `from` and writes them to the stream given to
 * `attach` (batched, drain-aware). Frames that arrive before a destination is
 * attached (while the onward stream is still opening) are held, then sent.
 */
function framePipe (from: Stream, framesPerWrite: number): { attach: (to: Stream) => void } {
  const decoder = new FrameDecoder()
  const early: Uint8Array[] = []
  let writer: FrameWriter | undefined
  from.addEventListener('message', (evt) => {
    try {
      for (const frame of decoder.push(evt.data)) {
        if (writer != null) writer.write(frame)
        else early.push(frame)
      }
    } catch (err) {
      from.abort(err as Error)
    }
  })
  return {
    attach: (to) => {
      writer = new FrameWriter(to, (err) => { to.abort(err) }, framesPerWrite)
      for (const frame of early.splice(0)) writer.write(frame)
    }
  }
}

export async function startPlainRelay (init: PlainRelayInit): Promise<PlainRelay> {
  const libp2p = await createLibp2p({
    addresses: { listen: [init.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  const next = init.next != null ? multiaddr(init.next) : undefined
  const batch = init.framesPerWrite ?? FRAMES_PER_WRITE
  if (next != null) await libp2p.dial(next) // connect up front so the first request does not pay for the handshake

  await libp2p.handle(PLAIN_PROTOCOL, async (stream) => {
    const forward = framePipe(stream, batch)
    if (next == null) {
      forward.attach(stream) // the last relay echoes
      return
    }
    let onward: Stream
    try {
      onward = await libp2p.dialProtocol(next, PLAIN_PROTOCOL, { maxOutboundStreams: MAX_STREAMS })
    } catch (err) {
      stream.abort(err as Error)
      return
    }
    forward.attach(onward)
    framePipe(onward, batch).attach(stream)
    stream.addEventListener('close', () => { onward.abort(new Error('previous hop closed')) })
    onward.addEventListener('close', () => { stream.abort(new Error('next hop closed')) })
  }, { maxInboundStreams: MAX_STREAMS, maxOutboundStreams: MAX_STREAMS })

  return {
    libp2p,
    peerId: libp2p.peerId.toString(),
    addrs: libp2p.getMultiaddrs().map(ma => ma.toString()),
    stop: async () => { await libp2p.stop() }
  }
}
