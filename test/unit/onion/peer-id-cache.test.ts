import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'chai'
import { PeerIdCache } from '../../../src/onion/peer-id-cache.js'

describe('onion/peer-id-cache', () => {
  it('decodes a peer id multihash, and the same bytes again to the same object', async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const cache = new PeerIdCache()
    const bytes = id.toMultihash().bytes
    const first = cache.decode(bytes)
    expect(first?.equals(id)).to.equal(true)
    expect(cache.decode(Uint8Array.from(bytes))).to.equal(first)
  })

  it('keeps its own copy of the bytes, so a reused cell buffer cannot change a decoded id', async () => {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const cache = new PeerIdCache()
    const buffer = Uint8Array.from(id.toMultihash().bytes)
    const decoded = cache.decode(buffer)
    buffer.fill(0)
    expect(decoded?.toString()).to.equal(id.toString())
  })

  it('answers undefined for bytes that are no peer id, and caches nothing for them', () => {
    const cache = new PeerIdCache()
    expect(cache.decode(new Uint8Array(0))).to.equal(undefined)
    expect(cache.decode(new Uint8Array([0x12, 0x20, 1, 2, 3]))).to.equal(undefined)
    expect(cache.size).to.equal(0)
  })

  it('starts over instead of growing past its bound', async () => {
    const cache = new PeerIdCache(4)
    const ids = await Promise.all(Array.from({ length: 9 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
    for (const id of ids) {
      expect(cache.decode(id.toMultihash().bytes)?.equals(id)).to.equal(true)
      expect(cache.size).to.be.at.most(4)
    }
  })
})
