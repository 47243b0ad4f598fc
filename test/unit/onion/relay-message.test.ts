import { expect } from 'chai'
import { randomBytes } from '../../../src/crypto/random.js'
import { RELAY_BODY_BYTES, RELAY_DATA_BYTES, RelayCommand } from '../../../src/wire/onion-format.js'
import {
  InvalidOnionOptionError, MessageTooLargeError, RelayBodySizeError, RelayCommandError, RelayFragmentError
} from '../../../src/onion/errors.js'
import {
  decodeRelayBody, encodeRelayBody, fragmentCountFor, fragmentMessage, writeRelayBody
} from '../../../src/onion/relay-message.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

describe('onion/relay-message', () => {
  it('round-trips a fragment through a fixed-size body', () => {
    const data = randomBytes(100)
    const body = encodeRelayBody({ cmd: RelayCommand.RESPONSE, requestId: 0xdeadbeef, fragIndex: 0, fragCount: 1, data })
    expect(body).to.have.length(RELAY_BODY_BYTES)
    const fragment = decodeRelayBody(body)
    expect(fragment.cmd).to.equal(RelayCommand.RESPONSE)
    expect(fragment.requestId).to.equal(0xdeadbeef)
    expect(fragment.fragCount).to.equal(1)
    expect(hex(fragment.data)).to.equal(hex(data))
  })

  it('fragments so only the last piece is short', () => {
    const data = randomBytes(RELAY_DATA_BYTES * 2 + 5)
    const fragments = fragmentMessage({ cmd: RelayCommand.REQUEST, requestId: 1, data })
    expect(fragments.map(f => f.data.byteLength)).to.deep.equal([RELAY_DATA_BYTES, RELAY_DATA_BYTES, 5])
    expect(fragments.every(f => f.fragCount === 3)).to.equal(true)
    expect(fragmentMessage({ cmd: RelayCommand.END, requestId: 1, data: new Uint8Array(0) })).to.have.length(1)
    expect(fragmentCountFor(RELAY_DATA_BYTES)).to.equal(1)
    expect(fragmentCountFor(RELAY_DATA_BYTES + 1)).to.equal(2)
  })

  it('refuses a message above the configured maximum', () => {
    const data = new Uint8Array(2000)
    expect(() => fragmentMessage({ cmd: RelayCommand.REQUEST, requestId: 1, data }, { maxMessageBytes: 1999 })).to.throw(MessageTooLargeError)
    expect(fragmentMessage({ cmd: RelayCommand.REQUEST, requestId: 1, data }, { maxMessageBytes: 2000 })).to.have.length(3)
    expect(() => fragmentMessage({ cmd: RelayCommand.REQUEST, requestId: 1, data }, { maxMessageBytes: -1 })).to.throw(InvalidOnionOptionError)
  })

  it('rejects malformed bodies with typed errors', () => {
    expect(() => decodeRelayBody(new Uint8Array(RELAY_BODY_BYTES - 1))).to.throw(RelayBodySizeError)
    const body = encodeRelayBody({ cmd: RelayCommand.REQUEST, requestId: 1, fragIndex: 0, fragCount: 2, data: new Uint8Array(RELAY_DATA_BYTES) })
    const mutate = (write: (v: DataView) => void): Uint8Array => {
      const copy = body.slice()
      write(new DataView(copy.buffer))
      return copy
    }
    expect(() => decodeRelayBody(mutate(v => { v.setUint8(0, 0) }))).to.throw(RelayCommandError)
    expect(() => decodeRelayBody(mutate(v => { v.setUint8(0, 9) }))).to.throw(RelayCommandError)
    expect(() => decodeRelayBody(mutate(v => { v.setUint16(5, 2) }))).to.throw(RelayFragmentError)
    expect(() => decodeRelayBody(mutate(v => { v.setUint16(7, 0) }))).to.throw(RelayFragmentError)
    expect(() => decodeRelayBody(mutate(v => { v.setUint16(9, RELAY_DATA_BYTES + 1) }))).to.throw(RelayFragmentError)
    expect(() => decodeRelayBody(mutate(v => { v.setUint16(9, 10) }))).to.throw(RelayFragmentError)
  })

  it('validates fragments on encode', () => {
    const target = new Uint8Array(RELAY_BODY_BYTES)
    expect(() => { writeRelayBody(new Uint8Array(10), { cmd: RelayCommand.REQUEST, requestId: 1, fragIndex: 0, fragCount: 1, data: new Uint8Array(0) }) }).to.throw(RelayBodySizeError)
    expect(() => { writeRelayBody(target, { cmd: RelayCommand.REQUEST, requestId: 1, fragIndex: 0, fragCount: 1, data: new Uint8Array(RELAY_DATA_BYTES + 1) }) }).to.throw(RelayFragmentError)
    expect(() => { writeRelayBody(target, { cmd: RelayCommand.REQUEST, requestId: -1, fragIndex: 0, fragCount: 1, data: new Uint8Array(0) }) }).to.throw(RelayFragmentError)
    expect(() => { writeRelayBody(target, { cmd: 42 as RelayCommand, requestId: 1, fragIndex: 0, fragCount: 1, data: new Uint8Array(0) }) }).to.throw(RelayCommandError)
  })
})
