import { noise } from '@chainsafe/libp2p-noise'
import { webSockets } from '@libp2p/websockets'
import type { Libp2pOptions } from 'libp2p'

/**
 * The browser's half of a client's libp2p node: WebSockets (`/ws`, `/wss`) only,
 * Noise on its own WebCrypto/@noble ciphers.
 *
 * libp2p's browser default refuses to dial private addresses. The client dials
 * only relays the authorities admitted, at the addresses they checked under the
 * network's own address policy (the membership document), so it lifts that
 * default: a testnet on 127.0.0.1 and a LAN network both work from a page.
 */
export function clientLibp2pParts (): Pick<Libp2pOptions, 'transports' | 'connectionEncrypters' | 'connectionGater'> {
  return {
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    connectionGater: { denyDialMultiaddr: async () => false }
  }
}
