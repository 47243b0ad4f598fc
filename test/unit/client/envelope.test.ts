import { expect } from 'chai'
import { ENVELOPE_VERSION, MIN_ENVELOPE_BYTES, envelopeOverhead, envelopeSize, isEnvelope, openEnvelope, sealEnvelope } from '../../../src/client/envelope.js'
import {
  EnvelopeContentError, EnvelopeOpenError, EnvelopeTooLargeError, NotAnEnvelopeError, UnsupportedEnvelopeVersionError
} from '../../../src/client/envelope-errors.js'
import { InvalidKeyError } from '../../../src/crypto/errors.js'
import { MailboxKey } from '../../../src/swarm/auth.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

describe('sealed envelopes (end to end, to a mailbox key)', () => {
  const alice = MailboxKey.generate()
  const bob = MailboxKey.generate()

  it('opens with the recipient\'s key only, and every seal of the same text differs', () => {
    const a = sealEnvelope(bob.publicKey, encoder.encode('hello'))
    const b = sealEnvelope(bob.publicKey, encoder.encode('hello'))
    expect(Buffer.from(a).equals(b)).to.equal(false)
    expect(isEnvelope(a)).to.equal(true)
    expect(a[3]).to.equal(ENVELOPE_VERSION)
    const opened = openEnvelope(bob, a)
    expect(decoder.decode(opened.content)).to.equal('hello')
    expect(opened.sender).to.equal(undefined)
    expect(() => openEnvelope(alice, a)).to.throw(EnvelopeOpenError)
  })

  it('rejects any change to header, ciphertext, padding or tag', () => {
    const sealed = sealEnvelope(bob.publicKey, encoder.encode('integrity'))
    for (const at of [4, 20, 35, 36, 40, 100, sealed.byteLength - 17, sealed.byteLength - 1]) {
      const copy = sealed.slice()
      copy[at] ^= 0x01
      expect(() => openEnvelope(bob, copy), `byte ${at}`).to.throw(EnvelopeOpenError)
    }
    expect(() => openEnvelope(bob, sealed.subarray(0, sealed.byteLength - 1))).to.throw(EnvelopeOpenError)
    const future = sealed.slice()
    future[3] = 2
    expect(() => openEnvelope(bob, future)).to.throw(UnsupportedEnvelopeVersionError)
    expect(() => openEnvelope(bob, encoder.encode('just some bytes'))).to.throw(NotAnEnvelopeError)
  })

  it('carries a sender signature only the recipient sees and verifies, bound to this recipient and envelope', () => {
    const sealed = sealEnvelope(bob.publicKey, encoder.encode('from alice'), { from: alice })
    const opened = openEnvelope(bob, sealed)
    expect(Buffer.from(opened.sender!).equals(alice.publicKey)).to.equal(true)
    expect(Buffer.from(sealed).includes(Buffer.from(alice.publicKey))).to.equal(false)
    // a signer that is not the key it names
    const mallory = MailboxKey.generate()
    const forged = sealEnvelope(bob.publicKey, encoder.encode('from alice, honest'), {
      from: { publicKey: alice.publicKey, sign: (m: Uint8Array) => mallory.sign(m) } as unknown as MailboxKey
    })
    expect(() => openEnvelope(bob, forged)).to.throw(EnvelopeContentError, /signature/)
  })

  it('pads to size classes, so swarm members see a class and not a length', () => {
    expect(envelopeSize(1, false)).to.equal(MIN_ENVELOPE_BYTES)
    expect(envelopeSize(MIN_ENVELOPE_BYTES - envelopeOverhead(false), false)).to.equal(256)
    expect(envelopeSize(MIN_ENVELOPE_BYTES - envelopeOverhead(false) + 1, false)).to.equal(512)
    expect(envelopeSize(100, true)).to.equal(256)
    expect(envelopeSize(60_000, false)).to.equal(65_536)
    // past the last class but within the largest message: exactly the largest
    expect(envelopeSize(65_536 - envelopeOverhead(false), false)).to.equal(65_536)
    expect(() => envelopeSize(65_536 - envelopeOverhead(false) + 1, false)).to.throw(EnvelopeTooLargeError)
    for (const n of [0, 1, 200, 201, 5000]) {
      const sealed = sealEnvelope(bob.publicKey, new Uint8Array(n).fill(7))
      expect(sealed.byteLength).to.equal(envelopeSize(n, false))
      expect(openEnvelope(bob, sealed).content).to.deep.equal(new Uint8Array(n).fill(7))
    }
  })

  it('refuses a mailbox key of small order or off the curve before sealing anything', () => {
    const identity = new Uint8Array(32)
    identity[0] = 1
    expect(() => sealEnvelope(identity, encoder.encode('x'))).to.throw(InvalidKeyError)
    expect(() => sealEnvelope(new Uint8Array(31), encoder.encode('x'))).to.throw(EnvelopeContentError)
  })
})
