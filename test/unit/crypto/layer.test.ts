import { expect } from 'chai'
import { buildCreate } from '../../../src/crypto/create-header.js'
import { processCreateLayer } from '../../../src/crypto/create-peel.js'
import {
  CircuitCryptoFailedError, CreatedConfirmError, InvalidPathError, LayerAuthError, LayerSizeError
} from '../../../src/crypto/errors.js'
import { ClientCircuitCrypto, HopCrypto, relayBodyOf } from '../../../src/crypto/layer.js'
import { generateOnionKey } from '../../../src/crypto/x25519.js'
import type { CreateKeys } from '../../../src/crypto/labels.js'
import { CELL_PAYLOAD_BYTES, MAX_HOPS, RELAY_BODY_BYTES, RELAY_TAG_BYTES, RELAY_TAGS_BYTES } from '../../../src/wire/onion-format.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

interface Circuit { client: ClientCircuitCrypto, hops: HopCrypto[], keys: CreateKeys[] }

/** A real circuit: CREATE built by the client and peeled by each hop. */
function circuit (n: number): Circuit {
  const onionKeys = Array.from({ length: n }, () => generateOnionKey(1))
  const built = buildCreate(onionKeys.map((k, i) => ({ peerId: Uint8Array.of(i + 1), onionKey: k.publicKey })))
  const keys: CreateKeys[] = []
  let payload = built.payload
  for (const onion of onionKeys) {
    const result = processCreateLayer([onion], payload)
    keys.push(result.keys)
    if (!result.exit) payload = result.nextPayload
  }
  return { client: new ClientCircuitCrypto(built.hops), hops: keys.map(k => new HopCrypto(k)), keys }
}

function payloadWithBody (fill: number): Uint8Array {
  const payload = new Uint8Array(CELL_PAYLOAD_BYTES)
  relayBodyOf(payload).fill(fill)
  return payload
}

function sendForward (c: Circuit, payload: Uint8Array): void {
  c.client.sealForward(payload)
  for (const hop of c.hops) hop.forward(payload)
}

function sendBackward (c: Circuit, payload: Uint8Array): void {
  c.hops[c.hops.length - 1].originate(payload)
  for (let i = c.hops.length - 2; i >= 0; i--) c.hops[i].backward(payload)
  c.client.openBackward(payload)
}

describe('crypto/layer', () => {
  for (const n of [1, 3, MAX_HOPS]) {
    it(`carries bodies both ways through ${n} hop(s)`, () => {
      const c = circuit(n)
      const created = c.hops[n - 1].sealCreated()
      for (let i = n - 2; i >= 0; i--) c.hops[i].backward(created)
      c.client.openCreated(created)
      for (let cell = 0; cell < 20; cell++) {
        const forward = payloadWithBody(cell)
        sendForward(c, forward)
        expect(forward).to.have.length(CELL_PAYLOAD_BYTES)
        expect(hex(relayBodyOf(forward))).to.equal(hex(new Uint8Array(RELAY_BODY_BYTES).fill(cell)))
        const backward = payloadWithBody(0x80 + cell)
        sendBackward(c, backward)
        expect(backward).to.have.length(CELL_PAYLOAD_BYTES)
        expect(hex(relayBodyOf(backward))).to.equal(hex(new Uint8Array(RELAY_BODY_BYTES).fill(0x80 + cell)))
      }
      for (const hop of c.hops) {
        expect(hop.forwardCount).to.equal(20n)
        expect(hop.backwardCount).to.equal(21n)
      }
    })
  }

  it('detects a flipped bit anywhere in the body at the next hop', () => {
    const c = circuit(3)
    const sealed = payloadWithBody(7)
    c.client.sealForward(sealed)
    const first = new HopCrypto(c.keys[0])
    first.forward(sealed)
    for (let bit = RELAY_TAGS_BYTES * 8; bit < CELL_PAYLOAD_BYTES * 8; bit++) {
      const tampered = sealed.slice()
      tampered[bit >> 3] ^= 1 << (bit & 7)
      // Fresh state per trial: a failure poisons the hop, and each trial is cell 0.
      expect(() => { new HopCrypto(c.keys[1]).forward(tampered) }, `bit ${bit}`).to.throw(LayerAuthError)
    }
  })

  it('detects a tampered tag slot at the hop that owns it', () => {
    for (let slot = 0; slot < 3; slot++) {
      const c = circuit(3)
      const payload = payloadWithBody(1)
      c.client.sealForward(payload)
      payload[slot * RELAY_TAG_BYTES + 5] ^= 0x10
      for (let i = 0; i < slot; i++) c.hops[i].forward(payload)
      expect(() => { c.hops[slot].forward(payload) }).to.throw(LayerAuthError)
    }
  })

  it('detects a backward body tampered by a middle hop at the client', () => {
    const c = circuit(3)
    const payload = payloadWithBody(2)
    c.hops[2].originate(payload)
    c.hops[1].backward(payload)
    payload[RELAY_TAGS_BYTES + 100] ^= 1
    c.hops[0].backward(payload)
    expect(() => { c.client.openBackward(payload) }).to.throw(LayerAuthError)
  })

  it('leaves the payload unchanged when the client rejects a backward cell', () => {
    const c = circuit(2)
    const payload = payloadWithBody(3)
    c.hops[1].originate(payload)
    c.hops[0].backward(payload)
    payload[RELAY_TAG_BYTES] ^= 1
    const before = hex(payload)
    expect(() => { c.client.openBackward(payload) }).to.throw(LayerAuthError)
    expect(hex(payload)).to.equal(before)
  })

  it('rejects a layer meant for another hop', () => {
    const c = circuit(3)
    const payload = payloadWithBody(4)
    c.client.sealForward(payload)
    expect(() => { c.hops[1].forward(payload) }).to.throw(LayerAuthError)
  })

  it('rejects a replayed or reordered relay cell', () => {
    const c = circuit(1)
    const first = payloadWithBody(1)
    const second = payloadWithBody(2)
    c.client.sealForward(first)
    c.client.sealForward(second)
    const replay = first.slice()
    c.hops[0].forward(first)
    expect(() => { c.hops[0].forward(replay) }).to.throw(LayerAuthError)

    const d = circuit(1)
    const a = payloadWithBody(1)
    const b = payloadWithBody(2)
    d.client.sealForward(a)
    d.client.sealForward(b)
    expect(() => { d.hops[0].forward(b) }).to.throw(LayerAuthError)
  })

  it('refuses further use after an authentication failure', () => {
    const c = circuit(1)
    const bad = new Uint8Array(CELL_PAYLOAD_BYTES)
    expect(() => { c.hops[0].forward(bad) }).to.throw(LayerAuthError)
    expect(() => { c.hops[0].backward(payloadWithBody(0)) }).to.throw(CircuitCryptoFailedError)
    expect(() => { c.client.openBackward(bad) }).to.throw(LayerAuthError)
    expect(() => { c.client.sealForward(payloadWithBody(0)) }).to.throw(CircuitCryptoFailedError)
  })

  it('tells the client which hop originated a backward cell', () => {
    const c = circuit(3)
    const report = payloadWithBody(0x55)
    c.hops[1].originate(report)
    c.hops[0].backward(report)
    expect(c.client.openBackwardFromAny(report)).to.equal(1)
    expect(hex(relayBodyOf(report))).to.equal(hex(new Uint8Array(RELAY_BODY_BYTES).fill(0x55)))
    // The exit's counters were untouched on both sides, so its cells still open.
    const fromExit = payloadWithBody(0x66)
    c.hops[2].originate(fromExit)
    c.hops[1].backward(fromExit)
    c.hops[0].backward(fromExit)
    expect(c.client.openBackwardFromAny(fromExit)).to.equal(2)
    expect(relayBodyOf(fromExit)[0]).to.equal(0x66)
  })

  it('does not let a later hop pass its bytes off as a middle hop message', () => {
    const c = circuit(3)
    // Hop 2 sends bytes without its own layer; hops 1 and 0 forward them honestly.
    const forged = payloadWithBody(0x77)
    c.hops[1].backward(forged)
    c.hops[0].backward(forged)
    expect(() => c.client.openBackwardFromAny(forged)).to.throw(LayerAuthError)
  })

  it('accepts only exit-originated cells in openBackward', () => {
    const c = circuit(3)
    const report = payloadWithBody(1)
    c.hops[1].originate(report)
    c.hops[0].backward(report)
    expect(() => { c.client.openBackward(report) }).to.throw(LayerAuthError)
  })

  it('rejects a CREATED that the exit did not seal', () => {
    const c = circuit(3)
    const fake = c.hops[1].sealCreated()
    c.hops[0].backward(fake)
    expect(() => { c.client.openCreated(fake) }).to.throw(LayerAuthError)
  })

  it('rejects a CREATED whose confirmation is wrong', () => {
    const c = circuit(1)
    const payload = payloadWithBody(0)
    c.hops[0].originate(payload)
    expect(() => { c.client.openCreated(payload) }).to.throw(CreatedConfirmError)
  })

  it('rejects payloads of the wrong size and bad hop counts', () => {
    const c = circuit(1)
    expect(() => { c.hops[0].forward(new Uint8Array(CELL_PAYLOAD_BYTES + 1)) }).to.throw(LayerSizeError)
    expect(() => { c.client.sealForward(new Uint8Array(10)) }).to.throw(LayerSizeError)
    expect(() => relayBodyOf(new Uint8Array(5))).to.throw(LayerSizeError)
    expect(() => new ClientCircuitCrypto([])).to.throw(InvalidPathError)
    expect(() => new ClientCircuitCrypto(Array.from({ length: MAX_HOPS + 1 }, () => c.keys[0]))).to.throw(InvalidPathError)
  })
})
