import type { PeerId } from '@libp2p/interface'
import type { ConnectionManager } from '@libp2p/interface-internal'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Dials `peer` at exactly `addr` over a new connection (an existing one proves
 * nothing about the address) and says whether the handshake answered as that
 * peer. The new connection is closed again when the peer already had another.
 * Used by the authorities' probes and by the reachability self-test.
 */
export async function dialsBackAs (connectionManager: ConnectionManager, addr: Multiaddr, peer: PeerId, timeoutMs: number): Promise<boolean> {
  try {
    const target = addr.getComponents().some(c => c.name === 'p2p') ? addr : addr.encapsulate(`/p2p/${peer.toString()}`)
    const conn = await connectionManager.openConnection(target, { force: true, signal: AbortSignal.timeout(timeoutMs) })
    const answered = conn.remotePeer.equals(peer)
    if (connectionManager.getConnections(peer).length > 1) await conn.close().catch(() => {})
    return answered
  } catch {
    return false
  }
}
