import { StreamAbortEvent } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { defaultLogger } from '@libp2p/logger'
import { install, type InstalledClock } from '@sinonjs/fake-timers'
import { expect } from 'chai'
import { encodeCell } from '../../../src/onion/cell.js'
import { CELL_SIZE, CellCommand } from '../../../src/wire/onion-format.js'
import { DEFAULT_LINK_CELLS_PER_WRITE, Link, LINK_CELL_COST_BYTES, type LinkEvents } from '../../../src/onion/link.js'
import { LinkStalledError } from '../../../src/onion/link-errors.js'
import { MemoryBudget } from '../../../src/memory/budget.js'
import type { Cell } from '../../../src/onion/cell.js'
import type { Stream } from '@libp2p/interface'

const PEER = peerIdFromString('12D3KooWGRUVh6KcuvpPdgwgSXwn58VcqNBUK5EJAaRXFu2i3ZEE')
const log = defaultLogger().forComponent('test:link')

/**
 * The part of a libp2p Stream a Link uses, modelled on yamux: with `full` set
 * (the peer grants no window) it keeps what it is given in its write buffer
 * and returns false; `drain()` lets it all out.
 */
class FakeStream extends EventTarget {
  writeStatus = 'writable'
  written: Uint8Array[] = []
  pending: Uint8Array[] = []
  full = false
  aborted?: Error

  get writeBufferLength (): number {
    return this.pending.reduce((n, b) => n + b.byteLength, 0)
  }

  send (data: Uint8Array): boolean {
    if (this.full) {
      this.pending.push(data)
      return false
    }
    this.written.push(data)
    return true
  }

  /** The connection below drained: yamux tells every stream, window or not. */
  connectionDrain (): void {
    this.dispatchEvent(new Event('drain'))
  }

  drain (): void {
    this.full = false
    this.written.push(...this.pending.splice(0))
    this.dispatchEvent(new Event('drain'))
  }

  async close (): Promise<void> {
    this.writeStatus = 'closed'
  }

  abort (err: Error): void {
    this.aborted = err
    this.writeStatus = 'closed'
    this.pending = []
    this.dispatchEvent(new StreamAbortEvent(err))
  }

  deliver (bytes: Uint8Array): void {
    const evt = new Event('message') as Event & { data: Uint8Array }
    evt.data = bytes
    this.dispatchEvent(evt)
  }
}

function makeLink (stream: FakeStream, options: ConstructorParameters<typeof Link>[5] = {}, events: Partial<LinkEvents> = {}): { link: Link, cells: Cell[], closed: Array<Error | undefined> } {
  const cells: Cell[] = []
  const closed: Array<Error | undefined> = []
  const link = new Link(stream as unknown as Stream, PEER, true, {
    onCell: (_l, cell) => cells.push(cell),
    onClose: (_l, err) => closed.push(err),
    ...events
  }, log, options)
  return { link, cells, closed }
}

const relayCell = (circId: number): Uint8Array => encodeCell({ circId, cmd: CellCommand.RELAY })
const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** A fake clock for timers and Date (setImmediate stays real, so the link's event-loop turns still run). */
function fakeClock (): InstalledClock {
  return install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
}

/** Advances the fake clock in steps, letting the link run between them, until `done` or `maxMs`. */
async function advance (clock: InstalledClock, stepMs: number, maxMs: number, done: () => boolean = () => false): Promise<void> {
  for (let t = 0; t < maxMs && !done(); t += stepMs) {
    await clock.tickAsync(stepMs)
    await tick()
  }
}

describe('Link', () => {
  it('batches the cells queued in one tick into one write', async () => {
    const stream = new FakeStream()
    const { link } = makeLink(stream)
    for (let i = 1; i <= 10; i++) link.send(relayCell(0x80000000 + i))
    await tick()
    expect(stream.written).to.have.length(1)
    expect(stream.written[0].byteLength).to.equal(10 * CELL_SIZE)
  })

  it('decodes cells split across chunks and closes on garbage, reporting it', () => {
    const stream = new FakeStream()
    const malformed: Error[] = []
    const { link, cells, closed } = makeLink(stream, {}, { onMalformed: (_l, err) => malformed.push(err) })
    const two = new Uint8Array([...relayCell(5), ...relayCell(6)])
    stream.deliver(two.subarray(0, 700))
    stream.deliver(two.subarray(700))
    expect(cells.map(c => c.circId)).to.deep.equal([5, 6])
    const garbage = new Uint8Array(CELL_SIZE).fill(0xff)
    stream.deliver(garbage)
    expect(malformed).to.have.length(1)
    expect(closed).to.have.length(1)
    expect(link.isOpen).to.equal(false)
    expect(stream.aborted).to.not.equal(undefined)
  })

  it('sheds instead of queueing past its bound while the peer does not read', async () => {
    const stream = new FakeStream()
    stream.full = true
    const { link } = makeLink(stream, { maxQueuedCells: 100, stallTimeoutMs: 60_000 })
    let accepted = 0
    for (let i = 0; i < 1_000; i++) if (link.send(relayCell(0x80000001))) accepted++
    await tick()
    expect(accepted).to.be.at.most(100 + 64) // the bound, plus at most one batch already handed to the stream
    expect(link.queuedCells).to.be.at.most(100)
    expect(link.cellsShed).to.equal(1_000 - accepted)
    stream.drain()
    link.abort(new Error('done'))
  })

  it('counts queued cells against the node budget and releases them when written or dropped', async () => {
    const budget = new MemoryBudget(50 * LINK_CELL_COST_BYTES)
    const stream = new FakeStream()
    stream.full = true
    const { link } = makeLink(stream, { budget, stallTimeoutMs: 60_000, cellsPerWrite: 1 })
    let accepted = 0
    for (let i = 0; i < 200; i++) if (link.send(relayCell(0x80000001))) accepted++
    expect(accepted).to.equal(50)
    expect(budget.used).to.equal(50 * LINK_CELL_COST_BYTES)
    await tick()
    expect(budget.used).to.equal(49 * LINK_CELL_COST_BYTES) // one handed to the stream
    link.abort(new Error('closing'))
    expect(budget.used).to.equal(0)
  })

  it('lets the pressure handler free memory by closing the fullest link', async () => {
    const budget = new MemoryBudget(20 * LINK_CELL_COST_BYTES)
    const slowStream = new FakeStream()
    slowStream.full = true
    const slow = makeLink(slowStream, { budget, stallTimeoutMs: 60_000 })
    const fast = makeLink(new FakeStream(), { budget })
    budget.setPressureHandler(() => { slow.link.abort(new Error('memory budget exhausted')) })
    for (let i = 0; i < 20; i++) slow.link.send(relayCell(0x80000001))
    expect(budget.used).to.equal(20 * LINK_CELL_COST_BYTES)
    expect(fast.link.send(relayCell(0x80000002))).to.equal(true)
    expect(slow.link.isOpen).to.equal(false)
    expect(budget.used).to.equal(LINK_CELL_COST_BYTES)
  })

  it('closes a link whose stream accepts nothing for the stall timeout', async () => {
    const clock = fakeClock()
    const stream = new FakeStream()
    stream.full = true
    const { link, closed } = makeLink(stream, { stallTimeoutMs: 100, now: () => Date.now() })
    link.send(relayCell(0x80000001))
    link.send(relayCell(0x80000001))
    try {
      await advance(clock, 20, 80)
      expect(link.isOpen, 'open before the stall timeout').to.equal(true)
      await advance(clock, 20, 5_000, () => !link.isOpen)
    } finally {
      clock.uninstall()
    }
    expect(link.isOpen).to.equal(false)
    expect(closed).to.have.length(1)
    expect(closed[0]).to.be.instanceOf(LinkStalledError)
    expect(link.closeReason).to.equal('stall')
    expect(stream.aborted).to.not.equal(undefined)
  })

  it('hands a stream that grants no window one batch at most, whatever drain events the connection sends', async () => {
    // yamux signals 'drain' to every stream when the connection below drains,
    // also to one whose peer stopped reading; the link must not keep feeding it
    const stream = new FakeStream()
    stream.full = true
    const { link } = makeLink(stream, { stallTimeoutMs: 60_000 })
    for (let i = 0; i < 1_000; i++) expect(link.send(relayCell(0x80000001))).to.equal(true)
    for (let i = 0; i < 20; i++) {
      await tick()
      stream.connectionDrain()
    }
    await tick()
    expect(stream.writeBufferLength).to.equal(DEFAULT_LINK_CELLS_PER_WRITE * CELL_SIZE)
    expect(link.queuedCells).to.equal(1_000 - DEFAULT_LINK_CELLS_PER_WRITE)
    stream.drain() // the peer reads again: everything goes out
    for (let i = 0; i < 40 && link.queuedCells > 0; i++) {
      await tick()
      stream.drain()
    }
    expect(link.queuedCells).to.equal(0)
    expect(stream.written.reduce((n, b) => n + b.byteLength, 0)).to.equal(1_000 * CELL_SIZE)
    link.abort(new Error('done'))
  })

  it('counts a stall from the last progress: drain events without progress do not keep a link alive', async () => {
    const stream = new FakeStream()
    stream.full = true
    const clock = fakeClock()
    const { link } = makeLink(stream, { stallTimeoutMs: 300, now: () => Date.now() })
    link.send(relayCell(0x80000001))
    const timer = setInterval(() => { stream.connectionDrain() }, 20)
    try {
      await advance(clock, 20, 5_000, () => !link.isOpen)
    } finally {
      clearInterval(timer)
      clock.uninstall()
    }
    expect(link.closeReason).to.equal('stall')
  })

  it('keeps a slow but reading link open', async () => {
    const stream = new FakeStream()
    stream.full = true
    const clock = fakeClock()
    const { link } = makeLink(stream, { stallTimeoutMs: 300, cellsPerWrite: 1, now: () => Date.now() })
    for (let i = 0; i < 20; i++) link.send(relayCell(0x80000001))
    try {
      // one cell every 100 ms: progress well inside the stall timeout, for 4 stall timeouts
      for (let i = 0; i < 12; i++) {
        await advance(clock, 100, 100)
        stream.written.push(...stream.pending.splice(0))
        stream.connectionDrain()
      }
    } finally {
      clock.uninstall()
    }
    expect(link.isOpen).to.equal(true)
    link.abort(new Error('done'))
  })

  it('copies a forwarded cell that has to wait, so it does not pin the chunk it arrived in', async () => {
    const stream = new FakeStream()
    stream.full = true
    const { link } = makeLink(stream, { stallTimeoutMs: 60_000 })
    link.send(relayCell(0x80000001))
    await tick() // handed to the stream, which holds it: the link is now blocked
    const cell = relayCell(0x80000002)
    const chunk = new Uint8Array(64 * CELL_SIZE)
    chunk.set(cell, 5 * CELL_SIZE)
    const view = chunk.subarray(5 * CELL_SIZE, 6 * CELL_SIZE)
    expect(link.send(view)).to.equal(true)
    chunk.fill(0) // the chunk is reused or freed: the queued cell must be unaffected
    stream.drain()
    await tick()
    await tick()
    const last = stream.written[stream.written.length - 1]
    expect(last.buffer.byteLength).to.equal(CELL_SIZE)
    expect(last).to.deep.equal(cell)
    link.abort(new Error('done'))
  })

  it('splits circuit ids between the two ends of a link', () => {
    const initiator = makeLink(new FakeStream()).link
    const id = initiator.allocateCircId()
    expect(id >>> 31).to.equal(1)
    expect(initiator.acceptCircId(id)).to.equal(false) // in our half: a violation
    expect(initiator.acceptCircId(7)).to.equal(true)
    expect(initiator.acceptCircId(7)).to.equal(false) // already in use
  })
})

describe('Link batch size', () => {
  it('fits a full batch and its yamux header in one Noise message (65,519 bytes of plaintext)', () => {
    expect(DEFAULT_LINK_CELLS_PER_WRITE * CELL_SIZE + 12).to.be.at.most(65_519)
    expect((DEFAULT_LINK_CELLS_PER_WRITE + 1) * CELL_SIZE + 12).to.be.greaterThan(65_519)
  })
})
