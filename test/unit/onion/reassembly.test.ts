import { expect } from 'chai'
import { randomBytes } from '../../../src/crypto/random.js'
import { RELAY_DATA_BYTES, RelayCommand } from '../../../src/wire/onion-format.js'
import {
  DuplicateFragmentError, InconsistentFragmentError, InvalidOnionOptionError, MessageTooLargeError,
  ReassemblyBufferFullError, RelayBodySizeError, RelayFragmentError, TooManyPartialMessagesError
} from '../../../src/onion/errors.js'
import { Reassembler, REASSEMBLY_FRAGMENT_OVERHEAD_BYTES, REASSEMBLY_PARTIAL_OVERHEAD_BYTES } from '../../../src/onion/reassembly.js'
import { encodeRelayBody, fragmentMessage, type RelayFragment } from '../../../src/onion/relay-message.js'

/** What the first (full) fragment of a message costs. */
const FIRST_FRAGMENT_COST = RELAY_DATA_BYTES + REASSEMBLY_FRAGMENT_OVERHEAD_BYTES + REASSEMBLY_PARTIAL_OVERHEAD_BYTES
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

function bodies (requestId: number, data: Uint8Array, cmd: RelayCommand = RelayCommand.REQUEST): Uint8Array[] {
  return fragmentMessage({ cmd, requestId, data }, { maxMessageBytes: 1 << 20 }).map(encodeRelayBody)
}

function fakeClock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1_000_000
  return { now: () => t, advance: (ms) => { t += ms } }
}

describe('onion/reassembly', () => {
  it('reassembles a 128 KiB message from bodies in any order', () => {
    const data = randomBytes(128 * 1024)
    const parts = bodies(42, data)
    parts.reverse()
    const r = new Reassembler()
    const results = parts.map(b => r.push(b))
    const message = results.at(-1)
    expect(results.slice(0, -1).every(x => x === undefined)).to.equal(true)
    expect(message?.requestId).to.equal(42)
    expect(message?.cmd).to.equal(RelayCommand.REQUEST)
    expect(hex(message?.data ?? new Uint8Array(0))).to.equal(hex(data))
    expect(r.partialCount).to.equal(0)
    expect(r.bufferedBytes).to.equal(0)
  })

  it('returns single-fragment messages that do not alias the body', () => {
    const body = bodies(1, Uint8Array.of(1, 2, 3))[0]
    const message = new Reassembler().push(body)
    body.fill(0)
    expect([...message?.data ?? []]).to.deep.equal([1, 2, 3])
  })

  it('interleaves several messages', () => {
    const a = randomBytes(3000)
    const b = randomBytes(2000)
    const pa = bodies(1, a)
    const pb = bodies(2, b)
    const r = new Reassembler()
    const done = [pa[0], pb[0], pa[1], pb[1], pa[2], pb[2], pa[3]].map(x => r.push(x)).filter(x => x != null)
    expect(done.map(m => m.requestId)).to.deep.equal([2, 1])
  })

  it('rejects a message larger than the maximum', () => {
    const r = new Reassembler({ maxMessageBytes: 2000 })
    expect(() => r.push(bodies(1, new Uint8Array(3000))[0])).to.throw(MessageTooLargeError)
    // Three fragments are allowed for 2000 bytes, but the last one would make it 2001.
    const over = bodies(2, new Uint8Array(2001))
    r.push(over[0])
    r.push(over[1])
    expect(() => r.push(over[2])).to.throw(MessageTooLargeError)
    expect(r.partialCount).to.equal(0)
  })

  it('rejects a duplicate fragment and drops the partial', () => {
    const parts = bodies(1, new Uint8Array(3000))
    const r = new Reassembler()
    r.push(parts[0])
    expect(() => r.push(parts[0])).to.throw(DuplicateFragmentError)
    expect(r.partialCount).to.equal(0)
    expect(r.bufferedBytes).to.equal(0)
  })

  it('rejects fragments that disagree on command or count', () => {
    const r = new Reassembler()
    r.push(bodies(1, new Uint8Array(3000))[0])
    expect(() => r.push(bodies(1, new Uint8Array(3000), RelayCommand.RESPONSE)[1])).to.throw(InconsistentFragmentError)
    r.push(bodies(2, new Uint8Array(3000))[0])
    expect(() => r.push(bodies(2, new Uint8Array(2000))[1])).to.throw(InconsistentFragmentError)
    expect(r.partialCount).to.equal(0)
  })

  it('bounds the number of partial messages', () => {
    const r = new Reassembler({ maxPartialMessages: 2 })
    r.push(bodies(1, new Uint8Array(2000))[0])
    r.push(bodies(2, new Uint8Array(2000))[0])
    expect(() => r.push(bodies(3, new Uint8Array(2000))[0])).to.throw(TooManyPartialMessagesError)
    // Single-fragment messages need no state and still pass.
    expect(r.push(bodies(4, new Uint8Array(10))[0])?.requestId).to.equal(4)
  })

  it('bounds the buffered bytes, counting each partial and fragment with its overhead', () => {
    const r = new Reassembler({ maxBufferedBytes: FIRST_FRAGMENT_COST * 2 })
    r.push(bodies(1, new Uint8Array(3000))[0])
    r.push(bodies(2, new Uint8Array(3000))[0])
    expect(() => r.push(bodies(3, new Uint8Array(3000))[0])).to.throw(ReassemblyBufferFullError)
    expect(r.bufferedBytes).to.equal(FIRST_FRAGMENT_COST * 2)
    // a second fragment of a held message costs its data and the fragment overhead only
    const big = new Reassembler({ maxBufferedBytes: FIRST_FRAGMENT_COST + RELAY_DATA_BYTES + REASSEMBLY_FRAGMENT_OVERHEAD_BYTES })
    const parts = bodies(1, new Uint8Array(3000))
    big.push(parts[0])
    big.push(parts[1])
    expect(() => big.push(parts[2])).to.throw(ReassemblyBufferFullError)
    expect(big.bufferedBytes).to.equal(0) // the partial was dropped, and its memory with it
  })

  it('rejects a hand-built fragment whose index is outside its count', () => {
    const r = new Reassembler()
    const fragment: RelayFragment = { cmd: RelayCommand.REQUEST, requestId: 1, fragIndex: 3, fragCount: 3, data: new Uint8Array(10) }
    expect(() => r.add(fragment)).to.throw(RelayFragmentError)
    expect(r.partialCount).to.equal(0)
  })

  it('drops partial messages after the timeout on a fake clock', () => {
    const clock = fakeClock()
    const r = new Reassembler({ timeoutMs: 1000, now: clock.now })
    const slow = bodies(1, new Uint8Array(2000))
    r.push(slow[0])
    clock.advance(600)
    r.push(bodies(2, new Uint8Array(2000))[0])
    clock.advance(399)
    expect(r.sweep()).to.equal(0)
    clock.advance(1)
    expect(r.sweep()).to.equal(1)
    expect(r.partialCount).to.equal(1)
    expect(r.expiredCount).to.equal(1)
    // The late fragment starts a new partial instead of completing the old one.
    expect(r.push(slow[1])).to.equal(undefined)
    expect(r.partialCount).to.equal(2)
    // Adding a fragment sweeps too: request 2 is now 1000 ms old.
    clock.advance(600)
    r.push(bodies(3, new Uint8Array(10))[0])
    expect(r.partialCount).to.equal(1)
    expect(r.expiredCount).to.equal(2)
    expect(r.bufferedBytes).to.equal(FIRST_FRAGMENT_COST)
  })

  it('rejects bad options and bodies with typed errors', () => {
    expect(() => new Reassembler({ maxPartialMessages: 0 })).to.throw(InvalidOnionOptionError)
    expect(() => new Reassembler({ timeoutMs: 1.5 })).to.throw(InvalidOnionOptionError)
    expect(() => new Reassembler({ maxMessageBytes: 2 ** 40 })).to.throw(InvalidOnionOptionError)
    expect(() => new Reassembler().push(new Uint8Array(5))).to.throw(RelayBodySizeError)
    const fragment: RelayFragment = { cmd: RelayCommand.REQUEST, requestId: 1, fragIndex: 0, fragCount: 0xffff, data: new Uint8Array(RELAY_DATA_BYTES) }
    expect(() => new Reassembler().add(fragment)).to.throw(MessageTooLargeError)
  })
})
