import { expect } from 'chai'
import { createHmac, hkdfSync } from 'node:crypto'
import { hkdfSha256, hmacSha256Into } from '../../../src/crypto/kdf.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff)

describe('crypto/kdf: HMAC-SHA256 and HKDF-SHA256 on libsodium', () => {
  it('HMAC equals node:crypto for keys shorter than, equal to and longer than a block', () => {
    for (const keyLength of [0, 1, 16, 32, 63, 64, 65, 200]) {
      for (const messageLength of [0, 1, 55, 64, 700, 5000]) {
        const key = bytes(keyLength, 7)
        const message = bytes(messageLength, 11)
        const ours = new Uint8Array(32)
        hmacSha256Into(ours, key, message)
        expect(hex(ours), `key ${keyLength}, message ${messageLength}`).to.equal(createHmac('sha256', key).update(message).digest('hex'))
      }
    }
  })

  it('HKDF matches RFC 5869 test case 1', () => {
    const okm = hkdfSha256(
      new Uint8Array(22).fill(0x0b),
      Uint8Array.from(Buffer.from('000102030405060708090a0b0c', 'hex')),
      Uint8Array.from(Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex')),
      42
    )
    expect(hex(okm)).to.equal('3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865')
  })

  it('HKDF equals node:crypto for every output length class, with and without salt', () => {
    for (const length of [1, 31, 32, 33, 64, 200, 255 * 32]) {
      for (const salt of [new Uint8Array(0), bytes(12, 3), bytes(100, 5)]) {
        const ikm = bytes(32, 1)
        const info = bytes(83, 9)
        const reference = new Uint8Array(hkdfSync('sha256', ikm, salt, info, length))
        expect(hex(hkdfSha256(ikm, salt, info, length)), `length ${length}, salt ${salt.byteLength}`).to.equal(hex(reference))
      }
    }
  })

  it('HKDF gives an empty output for length 0 and refuses one longer than RFC 5869 allows', () => {
    expect(hkdfSha256(bytes(32, 1), bytes(12, 2), bytes(8, 3), 0).byteLength).to.equal(0)
    expect(() => hkdfSha256(bytes(32, 1), bytes(12, 2), bytes(8, 3), 255 * 32 + 1)).to.throw(RangeError)
  })
})
