import { expect } from 'chai'
import { defaultCrypto, nodeCrypto, asCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { sodiumNoiseCrypto } from '../../../src/crypto/noise-crypto.js'

/** A buffer or the library's Uint8ArrayList (its own version of the package). */
type NoiseBytes = Parameters<typeof defaultCrypto.chaCha20Poly1305Encrypt>[0]
const flat = (b: NoiseBytes): Uint8Array => b instanceof Uint8Array ? b : b.subarray()
const hex = (b: NoiseBytes): string => Buffer.from(flat(b)).toString('hex')
const list = (...parts: Uint8Array[]): NoiseBytes => new Uint8ArrayList(...parts) as unknown as NoiseBytes
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 13 + seed) & 0xff)

const KEY = bytes(32, 1)
const NONCE = Uint8Array.from([0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0])
// what Noise seals: empty associated data in transport messages, the handshake hash during the handshake
const ADS = [new Uint8Array(0), bytes(32, 9)]
// a window update, one cell, the library's 1,200-byte switch, a full link batch, a full Noise message
const SIZES = [0, 12, 1036, 1199, 1200, 64524, 65519]

describe('crypto/noise-crypto: the transport cipher on libsodium interoperates with the library\'s own', () => {
  it('seals byte for byte as @chainsafe/libp2p-noise does (node:crypto and WebAssembly paths), from a buffer or a list', () => {
    for (const size of SIZES) {
      for (const ad of ADS) {
        const plain = bytes(size, 3)
        const expected = hex(nodeCrypto.chaCha20Poly1305Encrypt(plain, NONCE, ad, KEY))
        expect(hex(asCrypto.chaCha20Poly1305Encrypt(plain, NONCE, ad, KEY)), `reference ${size}`).to.equal(expected)
        expect(hex(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(plain, NONCE, ad, KEY)), `buffer ${size}`).to.equal(expected)
        const parts = list(plain.subarray(0, Math.min(12, size)), plain.subarray(Math.min(12, size)))
        expect(hex(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(parts, NONCE, ad, KEY)), `list ${size}`).to.equal(expected)
      }
    }
  })

  it('opens what the library sealed and the library opens what it sealed, in place when given the ciphertext as dst', () => {
    for (const size of SIZES) {
      for (const ad of ADS) {
        const plain = bytes(size, 5)
        const theirs = Uint8Array.from(flat(defaultCrypto.chaCha20Poly1305Encrypt(plain, NONCE, ad, KEY)))
        const inPlace = theirs.subarray(0, size)
        const opened = flat(sodiumNoiseCrypto.chaCha20Poly1305Decrypt(theirs, NONCE, ad, KEY, inPlace))
        expect(hex(opened), `ours opens theirs, ${size}`).to.equal(hex(plain))
        expect(opened.byteOffset === inPlace.byteOffset && opened.buffer === inPlace.buffer, 'decrypted into dst').to.equal(true)

        const ours = flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(plain, NONCE, ad, KEY))
        const asList = list(ours.subarray(0, 5), ours.subarray(5))
        expect(hex(defaultCrypto.chaCha20Poly1305Decrypt(asList, NONCE, ad, KEY)), `theirs opens ours, ${size}`).to.equal(hex(plain))
        expect(hex(sodiumNoiseCrypto.chaCha20Poly1305Decrypt(asList, NONCE, ad, KEY)), `ours opens a list, ${size}`).to.equal(hex(plain))
      }
    }
  })

  it('refuses a flipped bit, a wrong nonce, wrong associated data and a message shorter than a tag', () => {
    const sealed = Uint8Array.from(flat(sodiumNoiseCrypto.chaCha20Poly1305Encrypt(bytes(1036, 1), NONCE, ADS[1], KEY)))
    const flipped = Uint8Array.from(sealed)
    flipped[100] ^= 1
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(flipped, NONCE, ADS[1], KEY)).to.throw(/Invalid chacha20poly1305/)
    const otherNonce = Uint8Array.from(NONCE)
    otherNonce[4] = 8
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed, otherNonce, ADS[1], KEY)).to.throw(/Invalid chacha20poly1305/)
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(sealed, NONCE, ADS[0], KEY)).to.throw(/Invalid chacha20poly1305/)
    expect(() => sodiumNoiseCrypto.chaCha20Poly1305Decrypt(new Uint8Array(15), NONCE, ADS[0], KEY)).to.throw(/Invalid chacha20poly1305/)
  })
})
