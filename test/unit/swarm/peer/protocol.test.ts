import { expect } from 'chai'
import { GhostnodeError } from '../../../../src/errors.js'
import { FrameDecoder, encodeFrame } from '../../../../src/swarm/peer/frames.js'
import {
  SWARM_WIRE_VERSION, SwarmOp, decodeDigestAnswer, decodeHeader, decodeMessage, decodePageAnswer, decodePutAnswer, decodeRangeAnswer, decodeRecordsAnswer,
  encodeDigestAnswer, encodePageAnswer, encodePutAnswer, encodeRangeAnswer, encodeRecordsAnswer, encodeRequestMessage,
  encodeResponseMessage, type SwarmRequest
} from '../../../../src/swarm/peer/protocol.js'
import { createRecord } from '../../../../src/swarm/record-codec.js'
import { SwarmFrameTooLargeError, SwarmProtocolError, UnsupportedSwarmVersionError } from '../../../../src/swarm/service-errors.js'

const mailbox = new Uint8Array(32).fill(7)
const hash = (n: number): Uint8Array => new Uint8Array(32).fill(n)
const record = createRecord({ mailbox, namespace: -3, timestamp: 1_700_000_000_000, ttlMs: 60_000, data: new TextEncoder().encode('hello') })
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const auth = { timestamp: 1_700_000_000_000, signature: new Uint8Array(64).fill(9) }

const REQUESTS: SwarmRequest[] = [
  { op: SwarmOp.PUT, record },
  { op: SwarmOp.GET, mailbox, namespace: 5, maxBytes: 4096, auth },
  { op: SwarmOp.GET, mailbox, namespace: -1, maxBytes: 1, cursor: new Uint8Array(41).fill(1), auth },
  { op: SwarmOp.DELETE, mailbox, namespace: 0, hashes: [hash(1), hash(2)], auth },
  { op: SwarmOp.DELETE_ALL, mailbox, auth },
  { op: SwarmOp.DELETE_ALL, mailbox, namespace: -32768, auth: { timestamp: 2 ** 53 - 1, signature: auth.signature } },
  { op: SwarmOp.DIGEST, entries: [{ mailbox, digest: hash(9) }] },
  { op: SwarmOp.FETCH, mailbox, maxBytes: 1 << 20, hashes: [hash(3)] },
  { op: SwarmOp.RANGE, ranges: [{ start: 5n, end: (1n << 64n) - 1n }, { start: 10n, end: 2n }], limit: 512 },
  { op: SwarmOp.RANGE, ranges: [], limit: 1, after: mailbox },
  { op: SwarmOp.HANDOFF, mailbox, hashes: [hash(4)] }
]

/** Byte arrays (and Buffers) as hex, bigints as strings, for deep comparison. */
function canon (v: unknown): unknown {
  if (v instanceof Uint8Array) return hex(v)
  if (typeof v === 'bigint') return v.toString()
  if (Array.isArray(v)) return v.map(canon)
  if (v != null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canon(x)]))
  return v
}

describe('swarm/protocol', () => {
  it('round-trips every request op through a message', () => {
    for (const [i, req] of REQUESTS.entries()) {
      const msg = decodeMessage(encodeRequestMessage(i + 1, req))
      expect(msg.type).to.equal('request')
      if (msg.type !== 'request') continue
      expect(msg.id).to.equal(i + 1)
      expect(canon(msg.request), `op ${req.op}`).to.deep.equal(canon(req))
    }
  })

  it('round-trips the answers', () => {
    expect(decodePutAnswer(encodePutAnswer({ stored: true, expiry: 123 }))).to.deep.equal({ stored: true, expiry: 123 })
    const page = decodePageAnswer(encodePageAnswer({ records: [record], nextCursor: hash(1) }))
    expect(canon(page)).to.deep.equal(canon({ records: [record], nextCursor: hash(1) }))
    expect(decodePageAnswer(encodePageAnswer({ records: [] }))).to.deep.equal({ records: [] })
    const digest = decodeDigestAnswer(encodeDigestAnswer([undefined, [{ hash: hash(2), namespace: -5, expiry: 99 }], []]))
    expect(canon(digest)).to.deep.equal(canon([undefined, [{ hash: hash(2), namespace: -5, expiry: 99 }], []]))
    expect(canon(decodeRecordsAnswer(encodeRecordsAnswer([record, record])))).to.deep.equal(canon([record, record]))
    const range = decodeRangeAnswer(encodeRangeAnswer({ mailboxes: [{ mailbox, digest: hash(3) }], more: true }))
    expect(canon(range)).to.deep.equal(canon({ mailboxes: [{ mailbox, digest: hash(3) }], more: true }))
  })

  it('carries a response status and body unchanged', () => {
    const msg = decodeMessage(encodeResponseMessage(0xffffffff, 18, Uint8Array.of(1, 2)))
    expect(msg).to.deep.include({ type: 'response', id: 0xffffffff, status: 18 })
  })

  it('refuses an unknown version, type or op, and trailing bytes, with typed errors', () => {
    const good = encodeRequestMessage(1, { op: SwarmOp.DELETE_ALL, mailbox, auth })
    const badVersion = good.slice()
    badVersion[0] = 1
    expect(() => decodeMessage(badVersion)).to.throw(UnsupportedSwarmVersionError)
    const badType = good.slice()
    badType[1] = 9
    expect(() => decodeMessage(badType)).to.throw(SwarmProtocolError)
    const badOp = good.slice()
    badOp[6] = 99
    expect(() => decodeMessage(badOp)).to.throw(SwarmProtocolError)
    expect(() => decodeMessage(Uint8Array.from([...good, 0]))).to.throw(SwarmProtocolError)
    expect(() => decodeHeader(good.subarray(0, 3))).to.throw(SwarmProtocolError)
  })

  it('refuses every truncation of every request with a typed error, never a RangeError', () => {
    for (const req of REQUESTS) {
      const bytes = encodeRequestMessage(1, req)
      for (let n = 0; n < bytes.length; n++) {
        try {
          decodeMessage(bytes.subarray(0, n))
          // a few prefixes are themselves valid (e.g. DELETE with fewer hashes is not: counts are explicit)
        } catch (err) {
          expect(err, `op ${req.op} cut at ${n}`).to.be.instanceOf(GhostnodeError)
        }
      }
    }
  })

  it('refuses a list count larger than the bytes present before looping over it', () => {
    const handoff = (count: number): Uint8Array => {
      const body = new Uint8Array(32 + 4)
      new DataView(body.buffer).setUint32(32, count)
      return Uint8Array.from([SWARM_WIRE_VERSION, 1, 0, 0, 0, 1, SwarmOp.HANDOFF, ...body])
    }
    expect(() => decodeMessage(handoff(1000))).to.throw(SwarmProtocolError, /truncated/)
    // a count past the per-request cap is refused before even that
    expect(() => decodeMessage(handoff(0xffffffff))).to.throw(SwarmProtocolError, /cap/)
  })

  describe('frames', () => {
    it('splits frames at any chunk boundary', () => {
      const messages = [Uint8Array.of(1), new Uint8Array(1000).fill(2), new Uint8Array(0)]
      const stream = Uint8Array.from(messages.flatMap(m => [...encodeFrame(m)]))
      for (const step of [1, 3, 7, 500, stream.length]) {
        const decoder = new FrameDecoder()
        const out: Uint8Array[] = []
        for (let i = 0; i < stream.length; i += step) out.push(...decoder.push(stream.subarray(i, i + step)))
        expect(out.map(hex)).to.deep.equal(messages.map(hex))
        expect(decoder.bufferedBytes).to.equal(0)
      }
    })

    it('refuses a frame over the bound before buffering it', () => {
      const decoder = new FrameDecoder(100)
      const header = new Uint8Array(4)
      new DataView(header.buffer).setUint32(0, 101)
      expect(() => [...decoder.push(header)]).to.throw(SwarmFrameTooLargeError)
    })
  })
})
