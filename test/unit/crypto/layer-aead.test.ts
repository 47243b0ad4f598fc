import { expect } from 'chai'
import sodium from 'sodium-native'
import { aeadOpenInPlace, aeadSealInPlace } from '../../../src/crypto/aead.js'
import { ClientCircuitCrypto, HopCrypto, relayBodyOf, type LayerKeys } from '../../../src/crypto/layer.js'
import { nobleAeadOpenInPlace, nobleAeadSealInPlace } from '../../../src/crypto/noble.js'
import { CELL_PAYLOAD_BYTES, RELAY_TAGS_BYTES } from '../../../src/wire/onion-format.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

// RFC 8439 §2.8.2: the AEAD_CHACHA20_POLY1305 test vector
const RFC = {
  key: unhex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
  nonce: unhex('070000004041424344454647'),
  ad: unhex('50515253c0c1c2c3c4c5c6c7'),
  plaintext: new TextEncoder().encode('Ladies and Gentlemen of the class of \'99: If I could offer you only one tip for the future, sunscreen would be it.'),
  ciphertextStart: 'd31a8d34648e60db7b86afbc53ef7ec2',
  tag: '1ae10b594f09e26a7e902ecbd0600691'
}

const implementations = [
  { name: 'libsodium (relays, Node clients)', seal: aeadSealInPlace, open: aeadOpenInPlace },
  { name: '@noble/ciphers (browser clients)', seal: nobleAeadSealInPlace, open: nobleAeadOpenInPlace }
]

/** Keys of one fixed test hop: bytes 0, 1, 2, ... (any change to what they produce is a protocol change). */
function fixedKeys (seed: number): LayerKeys {
  const bytes = (n: number, off: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (seed * 31 + off + i) & 0xff)
  return { forwardKey: bytes(32, 0), backwardKey: bytes(32, 64), forwardNonce: bytes(12, 128), backwardNonce: bytes(12, 160), confirm: bytes(32, 192) }
}

describe('crypto/layer AEAD: ChaCha20-Poly1305 on libsodium and on @noble agree', () => {
  for (const impl of implementations) {
    it(`${impl.name} matches RFC 8439 §2.8.2 and opens what it sealed`, () => {
      const body = Uint8Array.from(RFC.plaintext)
      const tag = new Uint8Array(16)
      impl.seal(RFC.key, RFC.nonce, body, tag, RFC.ad)
      expect(hex(body.subarray(0, 16))).to.equal(RFC.ciphertextStart)
      expect(hex(tag)).to.equal(RFC.tag)
      expect(impl.open(RFC.key, RFC.nonce, body, tag, RFC.ad)).to.equal(true)
      expect(body).to.deep.equal(RFC.plaintext)
    })

    it(`${impl.name} refuses a flipped bit, a wrong associated data and a wrong nonce, and wipes the body`, () => {
      for (const spoil of ['body', 'tag', 'ad', 'nonce'] as const) {
        const body = Uint8Array.from(RFC.plaintext)
        const tag = new Uint8Array(16)
        impl.seal(RFC.key, RFC.nonce, body, tag, RFC.ad)
        const ad = Uint8Array.from(RFC.ad)
        const nonce = Uint8Array.from(RFC.nonce)
        if (spoil === 'body') body[7] ^= 1
        if (spoil === 'tag') tag[15] ^= 0x80
        if (spoil === 'ad') ad[0] ^= 1
        if (spoil === 'nonce') nonce[11] ^= 1
        expect(impl.open(RFC.key, nonce, body, tag, ad), spoil).to.equal(false)
        expect(body.every(b => b === 0), `${spoil}: body wiped`).to.equal(true)
      }
    })
  }

  it('the two implementations produce the same bytes for every length a layer uses', () => {
    for (const length of [0, 1, 16, 63, 64, 65, 939, 1963]) {
      const a = Uint8Array.from({ length }, (_, i) => (i * 13) & 0xff)
      const b = Uint8Array.from(a)
      const tagA = new Uint8Array(16)
      const tagB = new Uint8Array(16)
      aeadSealInPlace(RFC.key, RFC.nonce, a, tagA, null)
      nobleAeadSealInPlace(RFC.key, RFC.nonce, b, tagB, null)
      expect(hex(a), `length ${length}`).to.equal(hex(b))
      expect(hex(tagA), `length ${length}`).to.equal(hex(tagB))
      expect(nobleAeadOpenInPlace(RFC.key, RFC.nonce, a, tagA, null)).to.equal(true)
      expect(aeadOpenInPlace(RFC.key, RFC.nonce, b, tagB, null)).to.equal(true)
      expect(a).to.deep.equal(b)
    }
  })

  it('the composed ChaCha20 + Poly1305 equals libsodium\'s one-call AEAD, with and without associated data', () => {
    for (const length of [0, 1, 15, 16, 17, 939, 1963, 5000]) {
      for (const ad of [null, Uint8Array.from(RFC.ad), new Uint8Array(16), new Uint8Array(1)]) {
        const ours = Uint8Array.from({ length }, (_, i) => (i * 29 + 3) & 0xff)
        const theirs = Uint8Array.from(ours)
        const tagOurs = new Uint8Array(16)
        const tagTheirs = new Uint8Array(16)
        aeadSealInPlace(RFC.key, RFC.nonce, ours, tagOurs, ad)
        sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(theirs, tagTheirs, theirs, ad, null, RFC.nonce, RFC.key)
        const what = `length ${length}, ad ${ad?.byteLength ?? 'none'}`
        expect(hex(ours), what).to.equal(hex(theirs))
        expect(hex(tagOurs), what).to.equal(hex(tagTheirs))
        expect(aeadOpenInPlace(RFC.key, RFC.nonce, theirs, tagTheirs, ad), what).to.equal(true)
        expect(theirs, what).to.deep.equal(Uint8Array.from({ length }, (_, i) => (i * 29 + 3) & 0xff))
      }
    }
  })

  it('a tag of the wrong length is refused, not thrown', () => {
    const body = Uint8Array.from(RFC.plaintext)
    const tag = new Uint8Array(16)
    aeadSealInPlace(RFC.key, RFC.nonce, body, tag, null)
    expect(aeadOpenInPlace(RFC.key, RFC.nonce, body, tag.subarray(0, 15), null)).to.equal(false)
  })

  it('a 3-hop forward cell sealed by the client is opened hop by hop, and a backward cell the other way', () => {
    const keys = [fixedKeys(1), fixedKeys(2), fixedKeys(3)]
    const client = new ClientCircuitCrypto(keys)
    const hops = keys.map(k => new HopCrypto(k))
    const message = Uint8Array.from({ length: 939 }, (_, i) => (i * 7) & 0xff)
    const cell = new Uint8Array(CELL_PAYLOAD_BYTES)
    relayBodyOf(cell).set(message)
    client.sealForward(cell)
    expect(relayBodyOf(cell)).to.not.deep.equal(message)
    for (const hop of hops) hop.forward(cell)
    expect(relayBodyOf(cell)).to.deep.equal(message)

    relayBodyOf(cell).set(message)
    hops[2].originate(cell)
    hops[1].backward(cell)
    hops[0].backward(cell)
    expect(client.openBackwardFromAny(cell)).to.equal(2)
    expect(relayBodyOf(cell)).to.deep.equal(message)
  })

  it('a client cell built from the protocol text on @noble matches ClientCircuitCrypto byte for byte', () => {
    const keys = [fixedKeys(1), fixedKeys(2), fixedKeys(3)]
    const message = Uint8Array.from({ length: 939 }, (_, i) => (i * 7) & 0xff)
    const cell = new Uint8Array(CELL_PAYLOAD_BYTES)
    relayBodyOf(cell).set(message)
    new ClientCircuitCrypto(keys).sealForward(cell)
    // protocol §5: for i = n-1 .. 0, body, T[i] = Seal(forwardKey_i, nonce_i(counter 0) = forwardNonce_i, body)
    const body = Uint8Array.from(message)
    const tags = new Uint8Array(48)
    for (let i = 2; i >= 0; i--) nobleAeadSealInPlace(keys[i].forwardKey, keys[i].forwardNonce, body, tags.subarray(16 * i, 16 * (i + 1)), null)
    expect(hex(cell.subarray(0, 48))).to.equal(hex(tags))
    expect(hex(relayBodyOf(cell))).to.equal(hex(body))
  })

  it('a failed forward open leaves the cell as it arrived and ends the hop', () => {
    const keys = fixedKeys(4)
    const client = new ClientCircuitCrypto([keys])
    const hop = new HopCrypto(keys)
    const cell = new Uint8Array(CELL_PAYLOAD_BYTES)
    client.sealForward(cell)
    cell[RELAY_TAGS_BYTES + 100] ^= 1
    const arrived = Uint8Array.from(cell)
    expect(() => { hop.forward(cell) }).to.throw(/authentication/i)
    expect(cell).to.deep.equal(arrived)
    expect(() => { hop.forward(cell) }).to.throw()
  })
})
