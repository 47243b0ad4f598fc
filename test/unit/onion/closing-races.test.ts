import { defaultLogger } from '@libp2p/logger'
import { expect } from 'chai'
import { buildCreate } from '../../../src/crypto/create-header.js'
import { encodeCell } from '../../../src/onion/cell.js'
import { LinkClosedError } from '../../../src/onion/circuit-errors.js'
import { CELL_SIZE, CellCommand, RELAY_DATA_BYTES, RelayCommand } from '../../../src/wire/onion-format.js'
import { ReassemblyBufferFullError } from '../../../src/onion/errors.js'
import { Link } from '../../../src/onion/link.js'
import { MemoryBudget } from '../../../src/memory/budget.js'
import { Reassembler } from '../../../src/onion/reassembly.js'
import { RelaySim, simOnionKey } from '../../../harness/sim/relay-sim.js'
import { SimStream } from '../../../harness/sim/sim-stream.js'
import type { Stream } from '@libp2p/interface'

// Regressions found by the onion-relay fuzz target (fuzz/corpus/onion-relay replays the inputs).
describe('closing races on relay links', () => {
  let sim: RelaySim | undefined

  afterEach(async () => {
    await sim?.close()
    sim = undefined
  })

  const settle = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

  it('treats a stream reset before the link listened as closed: nothing queued, no budget held', async () => {
    sim = await RelaySim.open()
    const stream = new SimStream(false)
    stream.reset()
    const budget = new MemoryBudget(10 * CELL_SIZE)
    const closed: unknown[] = []
    const link = new Link(stream as unknown as Stream, sim.peers.b, true, {
      onCell: () => {},
      onClose: (_l, err) => closed.push(err)
    }, defaultLogger().forComponent('test:link'), { budget })
    expect(link.isOpen).to.equal(false)
    expect(link.send(encodeCell({ circId: 0x80000001, cmd: CellCommand.RELAY }))).to.equal(false)
    expect(budget.used).to.equal(0)
    expect(closed).to.deep.equal([])
  })

  it('fails to open a link whose stream is reset as it opens, and keeps no such link', async () => {
    sim = await RelaySim.open()
    sim.bFlaky = true
    let error: unknown
    try {
      await sim.links.getLink(sim.peers.b)
    } catch (err) {
      error = err
    }
    expect(error).to.be.instanceOf(LinkClosedError)
    expect(sim.links.all()).to.deep.equal([])
  })

  it('leaves no circuit table behind when the next link closes while an extend waits for it', async () => {
    sim = await RelaySim.open()
    const relay = sim.relay
    const a1 = sim.connect(sim.peers.a1)
    let circId = 0x80000001
    const createViaB = (): void => {
      const built = buildCreate([
        { peerId: sim!.peers.self.toMultihash().bytes, onionKey: sim!.keys[0].publicKey },
        { peerId: sim!.peers.b.toMultihash().bytes, onionKey: simOnionKey(1, 2).publicKey }
      ])
      a1.deliver(encodeCell({ circId: circId++, cmd: CellCommand.CREATE, payload: built.payload }))
    }
    createViaB()
    await settle()
    expect(relay.tableSizes().links).to.equal(2)
    createViaB()
    sim.bStream?.reset() // before the second extend resumes with the link it was given
    await settle()
    a1.remoteClose()
    await settle()
    expect(relay.tableSizes()).to.deep.equal({ circuits: 0, entries: 0, links: 0, peers: 0, maxPerPeer: 0 })
    expect(sim.links.all()).to.deep.equal([])
  })

  it('returns a reassembly reservation when the memory pressure it caused closed its own circuit', () => {
    const budget = new MemoryBudget(4 * RELAY_DATA_BYTES)
    const reassembler = new Reassembler({ budget })
    expect(budget.tryReserve(4 * RELAY_DATA_BYTES)).to.equal(true) // queued cells fill the budget
    // the pressure handler closes the fullest link, and with it this circuit
    budget.setPressureHandler(() => {
      reassembler.clear()
      budget.release(4 * RELAY_DATA_BYTES)
    })
    const fragment = { cmd: RelayCommand.REQUEST, requestId: 1, fragIndex: 0, fragCount: 2, data: new Uint8Array(RELAY_DATA_BYTES) }
    expect(() => reassembler.add(fragment)).to.throw(ReassemblyBufferFullError)
    expect(budget.used).to.equal(0)
    expect(reassembler.bufferedBytes).to.equal(0)
  })
})
