import { noise } from '@chainsafe/libp2p-noise'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { sodiumNoiseCrypto } from '../crypto/noise-crypto.js'
import type { Libp2pOptions } from 'libp2p'

/**
 * The platform-specific half of a client's libp2p node. In Node: TCP and
 * WebSockets, Noise on libsodium. Browser builds use libp2p-parts.browser.ts
 * instead (the package's `browser` field).
 */
export function clientLibp2pParts (): Pick<Libp2pOptions, 'transports' | 'connectionEncrypters' | 'connectionGater'> {
  return {
    transports: [tcp(), webSockets()],
    connectionEncrypters: [noise({ crypto: sodiumNoiseCrypto })]
  }
}
