import { Uint8ArrayList } from 'uint8arraylist'
import { CellDecoder, decodeCell, encodeCell, encodeCells, writeCell } from '../../src/onion/cell.js'
import { CELL_PAYLOAD_BYTES, CELL_SIZE, CellCommand, DestroyReason } from '../../src/wire/onion-format.js'
import { Rejections, type FuzzTarget } from '../harness.js'

/** Cell decoding, one-shot and streaming, plus an encode/decode round-trip invariant. */
export const cellTarget: FuzzTarget = {
  name: 'cell',

  seeds () {
    return [
      encodeCell({ circId: 1, cmd: CellCommand.CREATE }),
      encodeCell({ circId: 0x01020304, cmd: CellCommand.RELAY, payload: new Uint8Array(CELL_PAYLOAD_BYTES).fill(7) }),
      encodeCell({ circId: 5, cmd: CellCommand.DESTROY, payload: Uint8Array.of(DestroyReason.PROTOCOL) }),
      encodeCell({ circId: 0, cmd: CellCommand.PADDING }),
      encodeCells([{ circId: 9, cmd: CellCommand.CREATED }, { circId: 9, cmd: CellCommand.RELAY }, { circId: 0, cmd: CellCommand.PADDING }]),
      encodeCell({ circId: 2, cmd: CellCommand.RELAY }).subarray(0, 700)
    ]
  },

  async run (input) {
    const steps = new Rejections()
    const cell = await steps.attempt(() => decodeCell(input))
    if (cell != null) {
      // Invariant: a decoded cell re-encodes to the same bytes.
      const again = new Uint8Array(CELL_SIZE)
      writeCell(again, 0, { circId: cell.circId, cmd: cell.cmd, payload: cell.payload })
      if (Buffer.compare(again, input) !== 0) throw new Error('cell did not round-trip')
    }

    // Streaming: chunk boundaries derived from the input itself, mixing chunk types.
    const decoder = new CellDecoder()
    let offset = 0
    let cells = 0
    let failed = false
    while (offset < input.length && !failed) {
      const size = 1 + ((input[offset] * 31) % 1500)
      const piece = input.subarray(offset, offset + size)
      offset += piece.length
      const chunk = (offset & 1) === 0 ? piece : new Uint8ArrayList(piece)
      const got = await steps.attempt(() => [...decoder.push(chunk)].length)
      if (got == null) failed = true
      else cells += got
    }
    if (!failed) {
      // Invariant: every byte is either in a yielded cell or still buffered.
      if (cells * CELL_SIZE + decoder.bufferedBytes !== input.length) throw new Error('decoder lost bytes')
      await steps.attempt(() => { decoder.end() })
    }
    steps.finish()
  }
}
