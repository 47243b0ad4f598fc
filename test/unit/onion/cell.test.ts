import { expect } from 'chai'
import { Uint8ArrayList } from 'uint8arraylist'
import { isGhostnodeError } from '../../../src/errors.js'
import {
  CellDecoder, decodeCell, decodeCells, decodeDestroyReason, destroyCell, destroyReasonName, encodeCell, encodeCells,
  setCellCircId, type Cell
} from '../../../src/onion/cell.js'
import { CELL_PAYLOAD_BYTES, CELL_SIZE, CellCommand, DestroyReason } from '../../../src/wire/onion-format.js'
import {
  CellBufferOverflowError, CellCircIdError, CellCommandError, CellPayloadSizeError, CellSizeError, CellTruncatedError
} from '../../../src/onion/errors.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function relayCell (circId: number, fill: number): Uint8Array {
  return encodeCell({ circId, cmd: CellCommand.RELAY, payload: new Uint8Array(CELL_PAYLOAD_BYTES).fill(fill) })
}

describe('onion/cell', () => {
  it('encodes every command to exactly CELL_SIZE bytes and decodes it back', () => {
    for (const cmd of Object.values(CellCommand)) {
      const circId = cmd === CellCommand.PADDING ? 0 : 0xfedcba98
      const bytes = encodeCell({ circId, cmd, payload: Uint8Array.of(1, 2, 3) })
      expect(bytes).to.have.length(CELL_SIZE)
      const cell = decodeCell(bytes)
      expect(cell.circId).to.equal(circId)
      expect(cell.cmd).to.equal(cmd)
      expect(cell.payload).to.have.length(CELL_PAYLOAD_BYTES)
      expect([...cell.payload.subarray(0, 3)]).to.deep.equal([1, 2, 3])
    }
  })

  it('pads short payloads with random bytes', () => {
    const a = encodeCell({ circId: 1, cmd: CellCommand.DESTROY, payload: Uint8Array.of(DestroyReason.TIMEOUT) })
    const b = encodeCell({ circId: 1, cmd: CellCommand.DESTROY, payload: Uint8Array.of(DestroyReason.TIMEOUT) })
    expect(hex(a.subarray(6))).to.not.equal(hex(b.subarray(6)))
    // 1018 random bytes are essentially never all zero.
    expect(a.subarray(6).some(x => x !== 0)).to.equal(true)
  })

  it('carries a DESTROY reason and names unknown ones', () => {
    const cell = decodeCell(destroyCell(9, DestroyReason.INTEGRITY))
    expect(cell.cmd).to.equal(CellCommand.DESTROY)
    expect(decodeDestroyReason(cell.payload)).to.equal(DestroyReason.INTEGRITY)
    expect(destroyReasonName(DestroyReason.INTEGRITY)).to.equal('INTEGRITY')
    expect(destroyReasonName(200)).to.equal('UNKNOWN')
  })

  it('packs several cells into one buffer for a batched write', () => {
    const packed = encodeCells([
      { circId: 1, cmd: CellCommand.RELAY, payload: new Uint8Array(CELL_PAYLOAD_BYTES).fill(1) },
      { circId: 0, cmd: CellCommand.PADDING },
      { circId: 2, cmd: CellCommand.CREATE }
    ])
    expect(packed).to.have.length(3 * CELL_SIZE)
    const cells = [...new CellDecoder().push(packed)]
    expect(cells.map(c => [c.circId, c.cmd])).to.deep.equal([[1, CellCommand.RELAY], [0, CellCommand.PADDING], [2, CellCommand.CREATE]])
  })

  it('rewrites the circuit id in place', () => {
    const bytes = relayCell(5, 9)
    setCellCircId(bytes, 77)
    expect(decodeCell(bytes).circId).to.equal(77)
    expect(() => { setCellCircId(bytes, 0) }).to.throw(CellCircIdError)
  })

  it('rejects bad sizes, commands and circuit ids with typed errors', () => {
    expect(() => decodeCell(new Uint8Array(CELL_SIZE - 1))).to.throw(CellSizeError)
    expect(() => decodeCell(new Uint8Array(CELL_SIZE + 1))).to.throw(CellSizeError)
    const bad = relayCell(1, 0)
    bad[4] = 0
    expect(() => decodeCell(bad)).to.throw(CellCommandError)
    bad[4] = 6
    expect(() => decodeCell(bad)).to.throw(CellCommandError)
    expect(() => decodeCell(new Uint8Array(CELL_SIZE).fill(0, 0, 4).fill(CellCommand.RELAY, 4, 5))).to.throw(CellCircIdError)
    const padding = encodeCell({ circId: 0, cmd: CellCommand.PADDING })
    padding[3] = 1
    expect(() => decodeCell(padding)).to.throw(CellCircIdError)
    expect(() => encodeCell({ circId: 1, cmd: CellCommand.RELAY, payload: new Uint8Array(CELL_PAYLOAD_BYTES + 1) })).to.throw(CellPayloadSizeError)
    expect(() => encodeCell({ circId: 2 ** 32, cmd: CellCommand.RELAY })).to.throw(CellCircIdError)
  })

  it('decodes cells from arbitrarily split chunks', () => {
    const cells = Array.from({ length: 10 }, (_, i) => relayCell(i + 1, i))
    const stream = new Uint8Array(cells.length * CELL_SIZE)
    cells.forEach((c, i) => stream.set(c, i * CELL_SIZE))
    for (const split of [1, 7, 500, 1023, 1024, 1025, 3000]) {
      const decoder = new CellDecoder()
      const out: Cell[] = []
      for (let off = 0; off < stream.length; off += split) {
        const piece = stream.subarray(off, off + split)
        // Mix both chunk types.
        out.push(...decoder.push(off % 2 === 0 ? piece : new Uint8ArrayList(piece)))
      }
      decoder.end()
      expect(out.map(c => c.circId), `split ${split}`).to.deep.equal(cells.map((_, i) => i + 1))
      expect(out.every((c, i) => c.payload.every(x => x === i))).to.equal(true)
      expect(decoder.bufferedBytes).to.equal(0)
    }
  })

  it('keeps undrained cells for the next push when the consumer stops early', () => {
    const decoder = new CellDecoder()
    const two = encodeCells([{ circId: 1, cmd: CellCommand.RELAY }, { circId: 2, cmd: CellCommand.RELAY }])
    for (const cell of decoder.push(two)) {
      expect(cell.circId).to.equal(1)
      break
    }
    expect(decoder.bufferedBytes).to.equal(CELL_SIZE)
    expect([...decoder.push(new Uint8Array(0))].map(c => c.circId)).to.deep.equal([2])
  })

  it('decodes one 4 MiB write of valid cells (any chunk boundary is valid)', () => {
    const decoder = new CellDecoder()
    const n = 4 * 1024 * 1024 / CELL_SIZE
    const chunk = new Uint8Array(n * CELL_SIZE)
    for (let i = 0; i < n; i++) chunk.set(relayCell(1 + (i % 7), i % 3), i * CELL_SIZE)
    expect([...decoder.push(chunk)]).to.have.length(n)
    expect(decoder.bufferedBytes).to.equal(0)
  })

  it('bounds what it holds between pushes and reports a truncated stream', () => {
    const decoder = new CellDecoder({ maxBufferedBytes: 2 * CELL_SIZE })
    const four = new Uint8Array(4 * CELL_SIZE)
    for (let i = 0; i < 4; i++) four.set(relayCell(1, 0), i * CELL_SIZE)
    // a consumer that stops after one cell leaves three held: past the bound, the next push refuses
    for (const cell of decoder.push(four)) { expect(cell.circId).to.equal(1); break }
    expect(() => [...decoder.push(new Uint8Array(0))]).to.throw(CellBufferOverflowError)
    const partial = new CellDecoder()
    expect([...partial.push(relayCell(1, 0).subarray(0, 100))]).to.have.length(0)
    expect(partial.bufferedBytes).to.equal(100)
    expect(() => { partial.end() }).to.throw(CellTruncatedError)
  })

  it('decodes an async stream and throws a typed error on garbage', async () => {
    async function * source (): AsyncGenerator<Uint8Array> {
      yield relayCell(3, 3).subarray(0, 10)
      yield relayCell(3, 3).subarray(10)
      yield new Uint8Array(CELL_SIZE) // circuit id 0 with command 0
    }
    const seen: number[] = []
    let error: unknown
    try {
      for await (const cell of decodeCells(source())) seen.push(cell.circId)
    } catch (err) {
      error = err
    }
    expect(seen).to.deep.equal([3])
    expect(isGhostnodeError(error)).to.equal(true)
    expect(error).to.be.instanceOf(CellCommandError)
  })
})
