import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { PrivateKey } from '@libp2p/interface'

/**
 * The attackers' libp2p node: TCP, Noise, yamux and nothing of ghostnode's.
 * `peer`: it listens on loopback and runs identify, as a peer the target can
 * learn about; otherwise a bare dialer (no listener, no connection monitor),
 * for attackers that only open connections.
 */
export async function attackerNode (privateKey: PrivateKey, options: { peer: boolean }): Promise<Libp2p> {
  return createLibp2p({
    privateKey,
    addresses: { listen: options.peer ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(options.peer ? { services: { identify: identify() } } : { connectionMonitor: { enabled: false } })
  })
}
