import { expect } from 'chai'
import { InvalidKeyError, NonceExhaustedError } from '../../../src/crypto/errors.js'
import { NonceCounter } from '../../../src/crypto/nonce.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('crypto/nonce', () => {
  it('XORs the big-endian counter into the last 8 bytes of the base', () => {
    const base = Uint8Array.from({ length: 12 }, (_, i) => 0x10 + i)
    const counter = new NonceCounter(base)
    expect(hex(counter.next())).to.equal(hex(base))
    expect(hex(counter.next())).to.equal('101112131415161718191a1a')
    expect(counter.value).to.equal(2n)
  })

  it('carries from the low word into the high word', () => {
    const counter = new NonceCounter(new Uint8Array(12), 0xffffffffn)
    expect(hex(counter.next())).to.equal('0000000000000000ffffffff')
    expect(hex(counter.next())).to.equal('000000000000000100000000')
  })

  it('never yields the same nonce twice in a run', () => {
    const counter = new NonceCounter(new Uint8Array(12).fill(0xaa))
    const seen = new Set<string>()
    for (let i = 0; i < 10_000; i++) seen.add(hex(counter.next()))
    expect(seen.size).to.equal(10_000)
  })

  it('throws a typed error once every counter value is used', () => {
    const counter = new NonceCounter(new Uint8Array(12), 0xfffffffffffffffen)
    counter.next()
    expect(hex(counter.next())).to.equal('00000000ffffffffffffffff')
    expect(() => counter.next()).to.throw(NonceExhaustedError)
    expect(() => counter.next()).to.throw(NonceExhaustedError)
  })

  it('rejects a bad base or start', () => {
    expect(() => new NonceCounter(new Uint8Array(11))).to.throw(InvalidKeyError)
    expect(() => new NonceCounter(new Uint8Array(12), 1n << 64n)).to.throw(InvalidKeyError)
  })
})
