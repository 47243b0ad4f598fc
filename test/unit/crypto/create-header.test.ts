import { expect } from 'chai'
import { buildCreate, decodeRoutingSlot, encodeRoutingSlot } from '../../../src/crypto/create-header.js'
import { processCreateLayer, type CreateLayerResult } from '../../../src/crypto/create-peel.js'
import {
  CreateMacError, CreateRoutingError, CreateSizeError, InvalidPathError, LowOrderPointError
} from '../../../src/crypto/errors.js'
import { generateOnionKey, type OnionKey } from '../../../src/crypto/x25519.js'
import {
  CELL_PAYLOAD_BYTES, CREATE_HEADER_BYTES, MAX_HOPS, MAX_PEER_ID_BYTES, ROUTING_SLOT_BYTES
} from '../../../src/wire/onion-format.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function peerId (i: number): Uint8Array {
  // Realistic sizes: an Ed25519 peer id multihash is 38 bytes.
  return new Uint8Array(38).fill(0x40 + i)
}

function makePath (n: number): { onionKeys: OnionKey[], path: Array<{ peerId: Uint8Array, onionKey: Uint8Array }> } {
  const onionKeys = Array.from({ length: n }, () => generateOnionKey(100))
  return { onionKeys, path: onionKeys.map((k, i) => ({ peerId: peerId(i), onionKey: k.publicKey })) }
}

/** Run a CREATE through every hop, returning each hop's result. */
function walk (onionKeys: OnionKey[], payload: Uint8Array): CreateLayerResult[] {
  const results: CreateLayerResult[] = []
  let current = payload
  for (let i = 0; i < onionKeys.length; i++) {
    const result = processCreateLayer([onionKeys[i]], current)
    results.push(result)
    if (!result.exit) current = result.nextPayload
  }
  return results
}

describe('crypto/create-header', () => {
  for (const n of [1, 3, MAX_HOPS]) {
    it(`builds a CREATE that ${n} hop(s) peel in order with matching keys`, () => {
      const { onionKeys, path } = makePath(n)
      const { payload, hops } = buildCreate(path)
      expect(payload).to.have.length(CELL_PAYLOAD_BYTES)
      const results = walk(onionKeys, payload)
      results.forEach((result, i) => {
        expect(result.epoch).to.equal(100)
        expect(hex(result.keys.forwardKey)).to.equal(hex(hops[i].forwardKey))
        expect(hex(result.keys.backwardNonce)).to.equal(hex(hops[i].backwardNonce))
        expect(hex(result.replayTag)).to.equal(hex(hops[i].replayTag))
        if (i < n - 1) {
          expect(result.exit).to.equal(false)
          if (!result.exit) {
            expect(hex(result.nextPeerId)).to.equal(hex(peerId(i + 1)))
            expect(result.nextPayload).to.have.length(CELL_PAYLOAD_BYTES)
          }
        } else {
          expect(result.exit).to.equal(true)
        }
      })
    })
  }

  it('rejects a layer meant for another hop', () => {
    const { onionKeys, path } = makePath(3)
    const { payload } = buildCreate(path)
    expect(() => processCreateLayer([onionKeys[1]], payload)).to.throw(CreateMacError)
    const first = processCreateLayer([onionKeys[0]], payload)
    if (first.exit) throw new Error('unexpected exit')
    expect(() => processCreateLayer([onionKeys[0]], first.nextPayload)).to.throw(CreateMacError)
    expect(() => processCreateLayer([onionKeys[2]], first.nextPayload)).to.throw(CreateMacError)
  })

  it('detects a flipped bit anywhere in the header at the first hop', () => {
    const { onionKeys, path } = makePath(3)
    const { payload } = buildCreate(path)
    for (let bit = 0; bit < CREATE_HEADER_BYTES * 8; bit++) {
      const tampered = payload.slice()
      tampered[bit >> 3] ^= 1 << (bit & 7)
      expect(() => processCreateLayer([onionKeys[0]], tampered), `bit ${bit}`).to.throw(CreateMacError)
    }
  })

  it('detects a header bit flipped by a relay at the next hop', () => {
    const { onionKeys, path } = makePath(3)
    const first = processCreateLayer([onionKeys[0]], buildCreate(path).payload)
    if (first.exit) throw new Error('unexpected exit')
    for (let bit = 0; bit < CREATE_HEADER_BYTES * 8; bit += 7) {
      const tampered = first.nextPayload.slice()
      tampered[bit >> 3] ^= 1 << (bit & 7)
      expect(() => processCreateLayer([onionKeys[1]], tampered), `bit ${bit}`).to.throw(CreateMacError)
    }
  })

  it('ignores the random padding after the header', () => {
    const { onionKeys, path } = makePath(1)
    const { payload } = buildCreate(path)
    payload.fill(0, CREATE_HEADER_BYTES)
    expect(processCreateLayer([onionKeys[0]], payload).exit).to.equal(true)
  })

  it('accepts the previous onion key during the grace period and reports its epoch', () => {
    const previous = generateOnionKey(1)
    const current = generateOnionKey(2)
    const { payload } = buildCreate([{ peerId: peerId(0), onionKey: previous.publicKey }])
    expect(processCreateLayer([current, previous], payload).epoch).to.equal(1)
    expect(() => processCreateLayer([current], payload)).to.throw(CreateMacError)
  })

  it('yields the same replay tag for a replayed CREATE and different tags for fresh ones', () => {
    const { onionKeys, path } = makePath(1)
    const a = buildCreate(path).payload
    const b = buildCreate(path).payload
    const tagA = processCreateLayer(onionKeys, a).replayTag
    expect(hex(processCreateLayer(onionKeys, a.slice()).replayTag)).to.equal(hex(tagA))
    expect(hex(processCreateLayer(onionKeys, b).replayTag)).to.not.equal(hex(tagA))
  })

  it('gives every hop a fresh-looking header of the same size', () => {
    const { onionKeys, path } = makePath(MAX_HOPS)
    let current = buildCreate(path).payload
    for (let i = 0; i < MAX_HOPS - 1; i++) {
      const result = processCreateLayer([onionKeys[i]], current)
      if (result.exit) throw new Error('unexpected exit')
      expect(result.nextPayload.byteLength).to.equal(current.byteLength)
      // No header byte range is carried over unchanged, so the two sides of a hop
      // cannot be linked by content.
      for (let off = 0; off < CREATE_HEADER_BYTES; off += 16) {
        expect(hex(result.nextPayload.subarray(off, off + 16))).to.not.equal(hex(current.subarray(off, off + 16)))
      }
      current = result.nextPayload
    }
  })

  it('rejects payloads of the wrong size with a typed error', () => {
    const onion = generateOnionKey(1)
    expect(() => processCreateLayer([onion], new Uint8Array(CELL_PAYLOAD_BYTES - 1))).to.throw(CreateSizeError)
    expect(() => processCreateLayer([onion], new Uint8Array(0))).to.throw(CreateSizeError)
  })

  it('rejects a low-order ephemeral key', () => {
    const onion = generateOnionKey(1)
    expect(() => processCreateLayer([onion], new Uint8Array(CELL_PAYLOAD_BYTES))).to.throw(LowOrderPointError)
  })

  it('rejects invalid paths', () => {
    const onionKey = generateOnionKey(1).publicKey
    expect(() => buildCreate([])).to.throw(InvalidPathError)
    expect(() => buildCreate(Array.from({ length: MAX_HOPS + 1 }, () => ({ peerId: peerId(0), onionKey })))).to.throw(InvalidPathError)
    expect(() => buildCreate([{ peerId: peerId(0), onionKey }, { peerId: new Uint8Array(MAX_PEER_ID_BYTES + 1), onionKey }])).to.throw(InvalidPathError)
    expect(() => buildCreate([{ peerId: peerId(0), onionKey }, { peerId: new Uint8Array(0), onionKey }])).to.throw(InvalidPathError)
    expect(() => buildCreate([{ peerId: peerId(0), onionKey: new Uint8Array(31) }])).to.throw(InvalidPathError)
    expect(() => buildCreate([{ peerId: peerId(0), onionKey: new Uint8Array(32) }])).to.throw(LowOrderPointError)
  })

  describe('routing slot', () => {
    it('round-trips relay and exit slots', () => {
      const slot = new Uint8Array(ROUTING_SLOT_BYTES)
      const nextEph = new Uint8Array(32).fill(3)
      const nextMac = new Uint8Array(16).fill(4)
      encodeRoutingSlot(slot, { exit: false, nextPeerId: peerId(1), nextEph, nextMac })
      const info = decodeRoutingSlot(slot)
      if (info.exit) throw new Error('decoded as exit')
      expect(hex(info.nextPeerId)).to.equal(hex(peerId(1)))
      expect(hex(info.nextEph)).to.equal(hex(nextEph))
      expect(hex(info.nextMac)).to.equal(hex(nextMac))
      const exitSlot = new Uint8Array(ROUTING_SLOT_BYTES)
      encodeRoutingSlot(exitSlot, { exit: true })
      expect(decodeRoutingSlot(exitSlot).exit).to.equal(true)
    })

    it('rejects unknown flags, bad lengths and an exit with a next hop', () => {
      const slot = new Uint8Array(ROUTING_SLOT_BYTES)
      slot[0] = 0x02
      expect(() => decodeRoutingSlot(slot)).to.throw(CreateRoutingError)
      slot[0] = 0x00
      slot[1] = MAX_PEER_ID_BYTES + 1
      expect(() => decodeRoutingSlot(slot)).to.throw(CreateRoutingError)
      slot[1] = 0
      expect(() => decodeRoutingSlot(slot)).to.throw(CreateRoutingError)
      slot[0] = 0x01
      slot[1] = 5
      expect(() => decodeRoutingSlot(slot)).to.throw(CreateRoutingError)
      expect(() => decodeRoutingSlot(new Uint8Array(10))).to.throw(CreateRoutingError)
    })

    it('rejects non-zero reserved bytes, peer id padding, or anything past an exit\'s flags: one encoding per slot', () => {
      const relaySlot = (): Uint8Array => {
        const slot = new Uint8Array(ROUTING_SLOT_BYTES)
        encodeRoutingSlot(slot, { exit: false, nextPeerId: peerId(1), nextEph: new Uint8Array(32).fill(3), nextMac: new Uint8Array(16).fill(4) })
        return slot
      }
      for (const at of [ROUTING_SLOT_BYTES - 4, ROUTING_SLOT_BYTES - 1, 2 + peerId(1).byteLength]) {
        const slot = relaySlot()
        slot[at] = 1
        expect(() => decodeRoutingSlot(slot), `byte ${at}`).to.throw(CreateRoutingError)
      }
      const exitSlot = new Uint8Array(ROUTING_SLOT_BYTES)
      encodeRoutingSlot(exitSlot, { exit: true })
      exitSlot[ROUTING_SLOT_BYTES - 1] = 1
      expect(() => decodeRoutingSlot(exitSlot)).to.throw(CreateRoutingError)
    })
  })
})
