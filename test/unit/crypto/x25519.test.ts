import { expect } from 'chai'
import { InvalidKeyError } from '../../../src/crypto/errors.js'
import {
  generateOnionKey, generateX25519, onionKeyFromRaw, x25519, x25519PrivateKeyToRaw, x25519PublicKeyFromRaw,
  x25519PublicKeyToRaw
} from '../../../src/crypto/x25519.js'

describe('crypto/x25519', () => {
  it('agrees on a shared secret from both sides', () => {
    const a = generateX25519()
    const b = generateX25519()
    expect(Buffer.from(x25519(a.privateKey, b.publicKey)).equals(x25519(b.privateKey, a.publicKey))).to.equal(true)
  })

  it('round-trips raw public and private keys', () => {
    const onion = generateOnionKey(7)
    expect(onion.publicKey).to.have.length(32)
    const again = onionKeyFromRaw(7, x25519PrivateKeyToRaw(onion.privateKey))
    expect(Buffer.from(again.publicKey).equals(onion.publicKey)).to.equal(true)
    expect(Buffer.from(x25519PublicKeyToRaw(x25519PublicKeyFromRaw(onion.publicKey))).equals(onion.publicKey)).to.equal(true)
  })

  it('rejects keys of the wrong length with a typed error', () => {
    expect(() => x25519PublicKeyFromRaw(new Uint8Array(31))).to.throw(InvalidKeyError)
    expect(() => onionKeyFromRaw(1, new Uint8Array(33))).to.throw(InvalidKeyError)
    expect(() => x25519PrivateKeyToRaw(x25519PublicKeyFromRaw(new Uint8Array(32).fill(9)))).to.throw(InvalidKeyError)
  })
})
