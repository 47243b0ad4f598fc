import { expect } from 'chai'
import { buildCreate } from '../../../src/crypto/create-header.js'
import { LowOrderPointError } from '../../../src/crypto/errors.js'
import { deriveCreateKeys, headerMac } from '../../../src/crypto/kdf.js'
import { CREATE_KEY_LAYOUT } from '../../../src/crypto/labels.js'
import { nobleDeriveCreateKeys, nobleHeaderMac, nobleX25519, nobleX25519PublicKey } from '../../../src/crypto/noble.js'
import {
  generateOnionKey, generateX25519Raw, onionX25519, x25519, x25519PrivateKeyFromRaw, x25519PrivateKeyToRaw, x25519PublicKeyToRaw, x25519Raw
} from '../../../src/crypto/x25519.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'))

// Fixed vectors: ephemeral private key = 01 02 .. 20, onion private key = a0 a1 .. bf,
// beta = 00 01 .. ff 00 01 .. (480 bytes). Any change here is a protocol change.
const EPH_PRIV = Uint8Array.from({ length: 32 }, (_, i) => i + 1)
const ONION_PRIV = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + i)
const BETA = Uint8Array.from({ length: 480 }, (_, i) => i & 0xff)
const VECTORS = {
  ephPub: '07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c',
  onionPub: '605a725d2a4adfeeb1a29e17edd621c1b7593ee8cdbc44ac6c4ab6e2f805d23c',
  shared: 'caa14fedd7bf6bb2504b5c4df39c84b9c8e6848b6e06d9d0fbbc5eabcaaa1759',
  keys: {
    headerKey: '23d39f7d03f8b63f28af8008bbe1f005066fe4b841cda5bf9b6dc9d700e65791',
    headerMacKey: 'adfc352cbc87009c3e860dc1f34fd34c59947b694f3a95816f98960eb4adc356',
    forwardKey: 'c979620f739916f33d866092243683546d9512b7e5ec9dde6590b009a4021d6f',
    backwardKey: '8aad0433244d0410614978250edf030cea10bc18c41090ba3a4085da5c0890ec',
    forwardNonce: 'e7ed81002246228f6f78f7a6',
    backwardNonce: 'f0f4fea4bb823dc766acc655',
    confirm: '68b39215845b3f6ca2081eb871536cc20be1714548241ed700c24de275eee957',
    replayTag: '72292ba7394bf296888016aa6eb464fc'
  },
  mac: '2f8d387124c93241e1701d466e5fb5f0'
}

// RFC 7748 §6.1
const RFC = {
  alicePriv: '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a',
  alicePub: '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  bobPub: 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  shared: '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742'
}

// Low-order points (u = 0, u = 1, and an order-8 point).
const LOW_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'
]

describe('crypto/noble cross-check', () => {
  it('the libsodium CREATE path (x25519Raw) matches RFC 7748, the fixed vectors and node:crypto', () => {
    expect(hex(x25519Raw(unhex(RFC.alicePriv), unhex(RFC.bobPub)))).to.equal(RFC.shared)
    expect(hex(x25519Raw(EPH_PRIV, unhex(VECTORS.onionPub)))).to.equal(VECTORS.shared)
    expect(hex(onionX25519(x25519PrivateKeyFromRaw(ONION_PRIV), unhex(VECTORS.ephPub)))).to.equal(VECTORS.shared)
    const eph = generateX25519Raw()
    expect(hex(eph.publicKey)).to.equal(hex(nobleX25519PublicKey(eph.privateKey)))
    const onion = generateOnionKey(1)
    expect(hex(x25519Raw(eph.privateKey, onion.publicKey))).to.equal(hex(x25519(onion.privateKey, eph.publicKey)))
    for (const point of LOW_ORDER) {
      expect(() => x25519Raw(EPH_PRIV, unhex(point)), point).to.throw(LowOrderPointError)
      expect(() => onionX25519(onion.privateKey, unhex(point)), point).to.throw(LowOrderPointError)
    }
  })

  it('both implementations match RFC 7748', () => {
    const alice = x25519PrivateKeyFromRaw(unhex(RFC.alicePriv))
    expect(hex(x25519PublicKeyToRaw(alice))).to.equal(RFC.alicePub)
    expect(hex(nobleX25519PublicKey(unhex(RFC.alicePriv)))).to.equal(RFC.alicePub)
    expect(hex(x25519(alice, unhex(RFC.bobPub)))).to.equal(RFC.shared)
    expect(hex(nobleX25519(unhex(RFC.alicePriv), unhex(RFC.bobPub)))).to.equal(RFC.shared)
  })

  it('node:crypto reproduces the fixed vectors', () => {
    const eph = x25519PrivateKeyFromRaw(EPH_PRIV)
    const onion = x25519PrivateKeyFromRaw(ONION_PRIV)
    const ephPub = x25519PublicKeyToRaw(eph)
    const onionPub = x25519PublicKeyToRaw(onion)
    expect(hex(ephPub)).to.equal(VECTORS.ephPub)
    expect(hex(onionPub)).to.equal(VECTORS.onionPub)
    const shared = x25519(eph, onionPub)
    expect(hex(shared)).to.equal(VECTORS.shared)
    expect(hex(x25519(onion, ephPub))).to.equal(VECTORS.shared)
    const keys = deriveCreateKeys(shared, ephPub, onionPub)
    for (const [name] of CREATE_KEY_LAYOUT) expect(hex(keys[name]), name).to.equal(VECTORS.keys[name])
    expect(hex(headerMac(keys.headerMacKey, BETA))).to.equal(VECTORS.mac)
  })

  it('@noble reproduces the fixed vectors', () => {
    const ephPub = nobleX25519PublicKey(EPH_PRIV)
    const onionPub = nobleX25519PublicKey(ONION_PRIV)
    expect(hex(ephPub)).to.equal(VECTORS.ephPub)
    expect(hex(onionPub)).to.equal(VECTORS.onionPub)
    const shared = nobleX25519(EPH_PRIV, onionPub)
    expect(hex(shared)).to.equal(VECTORS.shared)
    expect(hex(nobleX25519(ONION_PRIV, ephPub))).to.equal(VECTORS.shared)
    const keys = nobleDeriveCreateKeys(shared, ephPub, onionPub)
    for (const [name] of CREATE_KEY_LAYOUT) expect(hex(keys[name]), name).to.equal(VECTORS.keys[name])
    expect(hex(nobleHeaderMac(keys.headerMacKey, BETA))).to.equal(VECTORS.mac)
  })

  it('verifies a node-built CREATE header with @noble alone', () => {
    const onion = generateOnionKey(1)
    const { payload, hops } = buildCreate([{ peerId: new Uint8Array(0), onionKey: onion.publicKey }])
    const ephPub = payload.subarray(0, 32)
    const shared = nobleX25519(x25519PrivateKeyToRaw(onion.privateKey), ephPub)
    const keys = nobleDeriveCreateKeys(shared, ephPub, onion.publicKey)
    expect(hex(keys.forwardKey)).to.equal(hex(hops[0].forwardKey))
    expect(hex(nobleHeaderMac(keys.headerMacKey, payload.subarray(48, 528)))).to.equal(hex(payload.subarray(32, 48)))
  })

  it('both implementations reject low-order points', () => {
    const priv = x25519PrivateKeyFromRaw(ONION_PRIV)
    for (const point of LOW_ORDER) {
      expect(() => x25519(priv, unhex(point)), point).to.throw(LowOrderPointError)
      expect(() => nobleX25519(ONION_PRIV, unhex(point)), point).to.throw(LowOrderPointError)
    }
  })
})
