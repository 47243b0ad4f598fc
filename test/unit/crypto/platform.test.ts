import { expect } from 'chai'
import { platform as browser } from '../../../src/crypto/platform/browser.js'
import { platform as node } from '../../../src/crypto/platform/node.js'
import { InvalidKeyError, LowOrderPointError } from '../../../src/crypto/errors.js'
import type { CryptoPlatform } from '../../../src/crypto/platform/types.js'

/**
 * The two crypto platforms (libsodium/node:crypto for Node, @noble/WebCrypto for
 * browsers) on shared vectors: published known answers first, then the same
 * random inputs through both, byte for byte.
 */

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))
const seq = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff)

const PLATFORMS: CryptoPlatform[] = [node, browser]

// RFC 8032 §7.1, test 2 (one-byte message)
const ED = {
  seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  pub: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
  msg: '72',
  sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00'
}
// RFC 7748 §6.1
const X = {
  alicePriv: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePub: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPub: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
}
// RFC 5869 A.1
const HKDF = {
  ikm: '0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b', salt: '000102030405060708090a0b0c', info: 'f0f1f2f3f4f5f6f7f8f9',
  okm: '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865'
}
// RFC 4231 test case 2
const HMAC = { key: '4a656665', data: '7768617420646f2079612077616e7420666f72206e6f7468696e673f', mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843' }

describe('crypto platforms (Node and browser) on shared vectors', () => {
  for (const p of PLATFORMS) {
    describe(`${p.name}: published known answers`, () => {
      it('SHA-256, HMAC-SHA256 (RFC 4231) and HKDF-SHA256 (RFC 5869)', () => {
        expect(hex(p.sha256(new TextEncoder().encode('abc')))).to.equal('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
        expect(hex(p.hmacSha256(unhex(HMAC.key), unhex(HMAC.data)))).to.equal(HMAC.mac)
        expect(hex(p.hkdfSha256(unhex(HKDF.ikm), unhex(HKDF.salt), unhex(HKDF.info), 42))).to.equal(HKDF.okm)
      })

      it('X25519 (RFC 7748) and Ed25519 (RFC 8032)', () => {
        expect(hex(p.x25519PublicKey(unhex(X.alicePriv)))).to.equal(X.alicePub)
        expect(hex(p.x25519(unhex(X.alicePriv), unhex(X.bobPub)))).to.equal(X.shared)
        expect(hex(p.ed25519PublicKey(unhex(ED.seed)))).to.equal(ED.pub)
        expect(hex(p.ed25519Sign(unhex(ED.seed), unhex(ED.msg)))).to.equal(ED.sig)
        expect(p.ed25519Verify(unhex(ED.pub), unhex(ED.msg), unhex(ED.sig))).to.equal(true)
      })

      it('refuses what it must: bad signatures, low-order points, small-order Ed25519 keys', () => {
        const sig = unhex(ED.sig)
        sig[5] ^= 1
        expect(p.ed25519Verify(unhex(ED.pub), unhex(ED.msg), sig)).to.equal(false)
        expect(p.ed25519Verify(unhex(ED.pub), unhex(ED.msg), sig.subarray(1))).to.equal(false)
        expect(p.ed25519Verify(new Uint8Array(31), unhex(ED.msg), unhex(ED.sig))).to.equal(false)
        expect(() => p.x25519(unhex(X.alicePriv), new Uint8Array(32))).to.throw(LowOrderPointError)
        // the Ed25519 identity point (y = 1) has small order: no X25519 form may come of it
        const identity = new Uint8Array(32)
        identity[0] = 1
        expect(() => p.ed25519PublicToX25519(identity)).to.throw(InvalidKeyError)
        expect(() => p.ed25519PublicToX25519(new Uint8Array(31))).to.throw(InvalidKeyError)
      })

      it('compares in constant time, and by length first', () => {
        expect(p.equal(seq(16), seq(16))).to.equal(true)
        expect(p.equal(seq(16), seq(16, 1))).to.equal(false)
        expect(p.equal(seq(16), seq(15))).to.equal(false)
      })

      it('draws uniform integers in range and fills at an offset', () => {
        const seen = new Set<number>()
        for (let i = 0; i < 2000; i++) {
          const v = p.randomInt(3, 9)
          expect(v).to.be.within(3, 8)
          seen.add(v)
        }
        expect(seen.size).to.equal(6)
        const buf = new Uint8Array(64)
        p.randomFillAt(buf, 16, 32)
        expect(buf.subarray(0, 16).every(b => b === 0) && buf.subarray(48).every(b => b === 0)).to.equal(true)
        expect(buf.subarray(16, 48).some(b => b !== 0)).to.equal(true)
      })
    })
  }

  describe('Node and browser agree byte for byte', () => {
    const seed = seq(32, 7)
    const other = seq(32, 101)

    it('AES-256-CTR keystream, and ChaCha20-Poly1305 with and without AD at lengths 0..1100', () => {
      expect(hex(node.aes256CtrZeroIv(seq(32), seq(576)))).to.equal(hex(browser.aes256CtrZeroIv(seq(32), seq(576))))
      for (const len of [0, 1, 63, 64, 65, 1008, 1100]) {
        for (const ad of [null, seq(13, 200)]) {
          const a = seq(len, 3)
          const b = seq(len, 3)
          const tagA = new Uint8Array(16)
          const tagB = new Uint8Array(16)
          node.aeadSealInPlace(seq(32, 9), seq(12, 1), a, tagA, ad)
          browser.aeadSealInPlace(seq(32, 9), seq(12, 1), b, tagB, ad)
          expect(hex(a) + hex(tagA)).to.equal(hex(b) + hex(tagB))
          // each opens the other's
          expect(browser.aeadOpenInPlace(seq(32, 9), seq(12, 1), a, tagA, ad)).to.equal(true)
          expect(hex(a)).to.equal(hex(seq(len, 3)))
          expect(node.aeadOpenInPlace(seq(32, 9), seq(12, 1), b, tagB, ad)).to.equal(true)
          const c = seq(len, 3)
          const tagC = new Uint8Array(16)
          browser.aeadSealInPlace(seq(32, 9), seq(12, 1), c, tagC, ad)
          tagC[0] ^= 1
          expect(node.aeadOpenInPlace(seq(32, 9), seq(12, 1), c, tagC, ad)).to.equal(false)
        }
      }
    })

    it('Ed25519 keys and signatures, and their X25519 forms (the envelope key agreement)', () => {
      const pub = node.ed25519PublicKey(seed)
      expect(hex(browser.ed25519PublicKey(seed))).to.equal(hex(pub))
      const msg = seq(300)
      expect(hex(browser.ed25519Sign(seed, msg))).to.equal(hex(node.ed25519Sign(seed, msg)))
      expect(browser.ed25519Verify(pub, msg, node.ed25519Sign(seed, msg))).to.equal(true)
      expect(node.ed25519Verify(pub, msg, browser.ed25519Sign(seed, msg))).to.equal(true)
      const xPub = node.ed25519PublicToX25519(pub)
      expect(hex(browser.ed25519PublicToX25519(pub))).to.equal(hex(xPub))
      const xPriv = node.ed25519SeedToX25519(seed)
      expect(hex(node.x25519PublicKey(xPriv))).to.equal(hex(xPub))
      expect(hex(browser.x25519PublicKey(browser.ed25519SeedToX25519(seed)))).to.equal(hex(xPub))
      // both sides of an agreement meet, across platforms
      const otherPub = browser.ed25519PublicKey(other)
      const ab = node.x25519(node.ed25519SeedToX25519(seed), browser.ed25519PublicToX25519(otherPub))
      const ba = browser.x25519(browser.ed25519SeedToX25519(other), node.ed25519PublicToX25519(pub))
      expect(hex(ab)).to.equal(hex(ba))
    })
  })
})
