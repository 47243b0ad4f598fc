import { expect } from 'chai'
import { buildCreate } from '../../../src/crypto/create-header.js'
import { ReplayFilterFullError } from '../../../src/crypto/errors.js'
import { encodeCell } from '../../../src/onion/cell.js'
import { CellCommand } from '../../../src/wire/onion-format.js'
import { RelaySim } from '../../../harness/sim/relay-sim.js'

describe('relay with a full replay filter', () => {
  let sim: RelaySim | undefined

  afterEach(async () => {
    await sim?.close()
    sim = undefined
  })

  const settle = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

  it('refuses CREATEs once the replay filter of the key is full, counted as replay_full, not as a bad layer', async () => {
    sim = await RelaySim.open()
    const a1 = sim.connect(sim.peers.a1)
    const create = (circId: number): void => {
      const built = buildCreate([{ peerId: sim!.peers.self.toMultihash().bytes, onionKey: sim!.keys[0].publicKey }])
      a1.deliver(encodeCell({ circId, cmd: CellCommand.CREATE, payload: built.payload }))
    }
    const creates = async (outcome: string): Promise<number> =>
      (await sim!.registry.getSingleMetric('ghostnode_onion_creates_total')!.get()).values.find(v => v.labels.outcome === outcome)?.value ?? 0
    create(0x80000001)
    await settle()
    expect(await creates('ok')).to.equal(1)
    // the filter answers full for every new tag, as it does once maxTagsPerEpoch are spent
    sim.replay.checkAndInsert = () => { throw new ReplayFilterFullError() }
    create(0x80000002)
    create(0x80000003)
    await settle()
    expect(await creates('replay_full')).to.equal(2)
    expect(await creates('bad_layer')).to.equal(0)
    expect(sim.relay.tableSizes().circuits).to.equal(1)
  })
})
