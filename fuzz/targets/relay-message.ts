import { RELAY_BODY_BYTES, RelayCommand } from '../../src/wire/onion-format.js'
import { Reassembler } from '../../src/onion/reassembly.js'
import { decodeRelayBody, encodeRelayBody, fragmentMessage } from '../../src/onion/relay-message.js'
import { Rejections, type FuzzTarget } from '../harness.js'

const MAX_MESSAGE_BYTES = 8 * 1024
const MAX_PARTIALS = 4
const MAX_BUFFERED_BYTES = 6 * 1024

function concat (parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let offset = 0
  for (const p of parts) { out.set(p, offset); offset += p.length }
  return out
}

function message (cmd: RelayCommand, requestId: number, size: number): Uint8Array {
  const data = Uint8Array.from({ length: size }, (_, i) => i & 0xff)
  return concat(fragmentMessage({ cmd, requestId, data }).map(encodeRelayBody))
}

/** Relay body parsing and reassembly of a sequence of bodies under small bounds. */
export const relayMessageTarget: FuzzTarget = {
  name: 'relay-message',

  seeds () {
    return [
      message(RelayCommand.REQUEST, 1, 10),
      message(RelayCommand.RESPONSE, 0xffffffff, 3000),
      message(RelayCommand.ERROR, 7, 0),
      concat([message(RelayCommand.REQUEST, 1, 2000), message(RelayCommand.REQUEST, 2, 2000)])
    ]
  },

  async run (input) {
    const steps = new Rejections()
    await steps.attempt(() => decodeRelayBody(input))
    let fake = 0
    const r = new Reassembler({
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxPartialMessages: MAX_PARTIALS,
      maxBufferedBytes: MAX_BUFFERED_BYTES,
      timeoutMs: 1000,
      now: () => fake
    })
    for (let offset = 0; offset < input.length; offset += RELAY_BODY_BYTES) {
      const body = new Uint8Array(RELAY_BODY_BYTES)
      body.set(input.subarray(offset, offset + RELAY_BODY_BYTES))
      fake += input[offset] * 4 // the input also drives the clock, exercising timeouts
      const done = await steps.attempt(() => r.push(body))
      if (done != null && done.data.length > MAX_MESSAGE_BYTES) throw new Error('oversized message completed')
      if (r.partialCount > MAX_PARTIALS || r.bufferedBytes > MAX_BUFFERED_BYTES || r.bufferedBytes < 0) {
        throw new Error('reassembler exceeded its bounds')
      }
    }
    steps.finish()
  }
}
