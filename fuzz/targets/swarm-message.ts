import { FrameDecoder } from '../../src/swarm/peer/frames.js'
import {
  SwarmOp, decodeCountAnswer, decodeDigestAnswer, decodeHashesAnswer, decodeMessage, decodePageAnswer, decodePutAnswer,
  decodeRangeAnswer, decodeRecordsAnswer, encodeDigestAnswer, encodePageAnswer, encodeRangeAnswer, encodeRequestMessage,
  encodeResponseMessage, type SwarmRequest
} from '../../src/swarm/peer/protocol.js'
import { createRecord } from '../../src/swarm/record-codec.js'
import { tolerateTyped, type FuzzTarget } from '../harness.js'

const mailbox = new Uint8Array(32).fill(0x11)
const hash = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const record = createRecord({ mailbox, namespace: 2, timestamp: 1_700_000_000_000, ttlMs: 60_000, data: Uint8Array.of(1, 2, 3) })
const auth = { timestamp: 1_700_000_000_000, signature: new Uint8Array(64).fill(0x22) }

const requests: SwarmRequest[] = [
  { op: SwarmOp.PUT, record },
  { op: SwarmOp.GET, mailbox, namespace: -1, maxBytes: 65_536, cursor: new Uint8Array(41).fill(1), auth },
  { op: SwarmOp.DELETE, mailbox, namespace: 0, hashes: [hash(1), hash(2)], auth },
  { op: SwarmOp.DELETE_ALL, mailbox, namespace: 7, auth },
  { op: SwarmOp.DIGEST, entries: [{ mailbox, digest: hash(3) }] },
  { op: SwarmOp.FETCH, mailbox, maxBytes: 1000, hashes: [hash(4)] },
  { op: SwarmOp.RANGE, ranges: [{ start: 1n, end: 0n }], limit: 10, after: mailbox },
  { op: SwarmOp.HANDOFF, mailbox, hashes: [hash(5)] }
]

/**
 * The node-to-node swarm protocol (`/ghostnode/swarm/2.0.0`): message and
 * request decoding, every answer decoder on a response body, and the frame
 * splitter. Invariant: a request that decodes re-encodes to the same bytes.
 */
export const swarmMessageTarget: FuzzTarget = {
  name: 'swarm-message',

  seeds () {
    return [
      ...requests.map((r, i) => encodeRequestMessage(i, r)),
      encodeResponseMessage(1, 0, encodePageAnswer({ records: [record], nextCursor: hash(9) })),
      encodeResponseMessage(2, 0, encodeDigestAnswer([undefined, [{ hash: hash(1), namespace: 3, expiry: 5 }]])),
      encodeResponseMessage(3, 0, encodeRangeAnswer({ mailboxes: [{ mailbox, digest: hash(2) }], more: false }))
    ]
  },

  async run (input) {
    // frames: the splitter must never throw anything but its typed error
    await tolerateTyped(() => [...new FrameDecoder(4096).push(input)])
    // a message that does not parse throws its typed error, which the harness counts
    const message = decodeMessage(input)
    if (message.type === 'request') {
      const again = encodeRequestMessage(message.id, message.request)
      if (Buffer.compare(again, input) !== 0) throw new Error('swarm request did not round-trip')
      return
    }
    for (const decode of [decodePutAnswer, decodePageAnswer, decodeCountAnswer, decodeDigestAnswer, decodeRecordsAnswer, decodeRangeAnswer, decodeHashesAnswer]) {
      await tolerateTyped(() => decode(message.body))
    }
  }
}

export default swarmMessageTarget
