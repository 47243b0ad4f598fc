import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { keyOfPeerId, normalizeAuthorities, peerIdOfKey, type AuthorityTrust } from './document.js'
import { InvalidAuthorityError } from './errors.js'

export interface ResolvedAuthorities {
  trust: AuthorityTrust
  /** Peer ids of `trust.authorities`, in the same (key) order. */
  ids: string[]
  /** Addresses configured for them (dialled to reach them before any document is in force). */
  addrs: Map<string, Multiaddr[]>
}

/**
 * The authority list of a config: `network.authorities` entries are
 * multiaddrs ending in /p2p/<id>, or just /p2p/<id>; none means this node is the
 * only authority of its own one-node network. `threshold` 0 means a majority.
 */
export function resolveAuthorities (entries: string[], threshold: number, selfId: string): ResolvedAuthorities {
  const addrs = new Map<string, Multiaddr[]>()
  for (const entry of entries.length > 0 ? entries : [`/p2p/${selfId}`]) {
    let ma: Multiaddr
    try {
      ma = multiaddr(entry)
    } catch {
      // a bare peer id is accepted too
      ma = multiaddr(`/p2p/${entry}`)
    }
    const id = ma.getComponents().findLast(c => c.name === 'p2p')?.value
    if (id == null) throw new InvalidAuthorityError(`authority ${entry} does not name a peer id`)
    const transport = ma.getComponents().some(c => c.name !== 'p2p') ? [ma.decapsulateCode(421)] : []
    addrs.set(id, [...(addrs.get(id) ?? []), ...transport])
  }
  const authorities = normalizeAuthorities([...addrs.keys()].map(keyOfPeerId))
  const k = threshold === 0 ? Math.floor(authorities.length / 2) + 1 : threshold
  if (k < 1 || k > authorities.length) throw new InvalidAuthorityError(`threshold ${threshold} must be between 1 and ${authorities.length} (the number of authorities)`)
  return { trust: { authorities, threshold: k }, ids: authorities.map(peerIdOfKey), addrs }
}

