import { expect } from 'chai'
import { buildCreate, decodeRoutingSlot } from '../../../src/crypto/create-header.js'
import { processCreateLayer } from '../../../src/crypto/create-peel.js'
import { ClientCircuitCrypto, HopCrypto } from '../../../src/crypto/layer.js'
import { randomBytes } from '../../../src/crypto/random.js'
import { generateOnionKey } from '../../../src/crypto/x25519.js'
import { isGhostnodeError } from '../../../src/errors.js'
import { CellDecoder, decodeCell, encodeCell } from '../../../src/onion/cell.js'
import { CELL_PAYLOAD_BYTES, CELL_SIZE, CellCommand, RELAY_BODY_BYTES, RelayCommand } from '../../../src/wire/onion-format.js'
import { Reassembler } from '../../../src/onion/reassembly.js'
import { decodeRelayBody, encodeRelayBody } from '../../../src/onion/relay-message.js'

/** Run `fn`; fail the test if it throws anything but a GhostnodeError. */
function onlyTyped (what: string, fn: () => unknown): void {
  try {
    fn()
  } catch (err) {
    expect(isGhostnodeError(err), `${what}: ${String(err)}`).to.equal(true)
  }
}

describe('parsers on truncated and garbage input', () => {
  const onion = generateOnionKey(1)
  const create = buildCreate([{ peerId: Uint8Array.of(1), onionKey: onion.publicKey }]).payload
  const cell = encodeCell({ circId: 3, cmd: CellCommand.RELAY })
  const body = encodeRelayBody({ cmd: RelayCommand.REQUEST, requestId: 1, fragIndex: 0, fragCount: 1, data: Uint8Array.of(1) })
  const keys = processCreateLayer([onion], create).keys

  it('throws only typed errors for every truncation of a valid input', () => {
    for (let len = 0; len <= CELL_SIZE + 1; len++) {
      const grown = new Uint8Array(len)
      grown.set(cell.subarray(0, len))
      onlyTyped(`decodeCell ${len}`, () => decodeCell(grown))
      onlyTyped(`decoder ${len}`, () => { const d = new CellDecoder(); void [...d.push(grown)]; d.end() })
      if (len <= CELL_PAYLOAD_BYTES + 1) {
        onlyTyped(`create ${len}`, () => processCreateLayer([onion], create.subarray(0, len)))
        onlyTyped(`routing ${len}`, () => decodeRoutingSlot(create.subarray(0, Math.min(len, 100))))
        onlyTyped(`forward ${len}`, () => { new HopCrypto(keys).forward(create.slice(0, len)) })
        onlyTyped(`client ${len}`, () => { new ClientCircuitCrypto([keys]).openBackwardFromAny(create.slice(0, len)) })
      }
      if (len <= RELAY_BODY_BYTES + 1) {
        onlyTyped(`relay body ${len}`, () => decodeRelayBody(body.subarray(0, len)))
        onlyTyped(`reassembler ${len}`, () => new Reassembler().push(body.subarray(0, len)))
      }
    }
  })

  it('throws only typed errors for random garbage', () => {
    const reassembler = new Reassembler({ maxPartialMessages: 4 })
    for (let i = 0; i < 300; i++) {
      const junkCell = randomBytes(CELL_SIZE)
      const junkPayload = randomBytes(CELL_PAYLOAD_BYTES)
      const junkBody = randomBytes(RELAY_BODY_BYTES)
      onlyTyped('decodeCell', () => decodeCell(junkCell))
      onlyTyped('create', () => processCreateLayer([onion], junkPayload))
      onlyTyped('forward', () => { new HopCrypto(keys).forward(junkPayload) })
      onlyTyped('relay body', () => decodeRelayBody(junkBody))
      onlyTyped('reassembler', () => reassembler.push(junkBody))
    }
  })
})
