import { peerIdFromMultihash } from '@libp2p/peer-id'
import * as Digest from 'multiformats/hashes/digest'
import type { PeerId } from '@libp2p/interface'

/** Peer ids a relay keeps decoded; past this many it starts over (a relay extends to a few dozen neighbours). */
const DEFAULT_MAX_ENTRIES = 1024

/**
 * Decodes the next hop's peer id named in a CREATE layer. Decoding a multihash
 * into a PeerId costs ~50 µs, on every extend; a relay extends to the same few
 * neighbours again and again, so it keeps the ones it has decoded. Bounded: a
 * peer naming a new id in every CREATE makes the cache start over, not grow.
 */
export class PeerIdCache {
  private readonly byHex = new Map<string, PeerId>()
  private readonly maxEntries: number

  constructor (maxEntries = DEFAULT_MAX_ENTRIES) {
    this.maxEntries = maxEntries
  }

  /** The peer id, or undefined when the bytes are not a valid peer id multihash. */
  decode (bytes: Uint8Array): PeerId | undefined {
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
    const known = this.byHex.get(key)
    if (known != null) return known
    let id: PeerId
    try {
      // a copy: the PeerId keeps its bytes, which must not be a view into a cell buffer
      id = peerIdFromMultihash(Digest.decode(Uint8Array.from(bytes)))
    } catch {
      return undefined
    }
    if (this.byHex.size >= this.maxEntries) this.byHex.clear()
    this.byHex.set(key, id)
    return id
  }

  get size (): number {
    return this.byHex.size
  }
}
