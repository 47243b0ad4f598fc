import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { buildCreate } from '../../../src/crypto/create-header.js'
import { processCreateLayer } from '../../../src/crypto/create-peel.js'
import {
  InvalidReplayTagError, ReplayError, ReplayFilterClosedError, ReplayFilterFullError
} from '../../../src/crypto/errors.js'
import { ReplayFilter } from '../../../src/crypto/replay-filter.js'
import { generateOnionKey } from '../../../src/crypto/x25519.js'

function tag (i: number): Uint8Array {
  const t = new Uint8Array(16)
  new DataView(t.buffer).setUint32(12, i)
  return t
}

/** Resolve once `condition` holds (checked every event-loop turn: LevelDB answers between them), failing after `maxTurns`. */
async function until (condition: () => boolean, maxTurns = 100_000): Promise<void> {
  for (let turn = 0; !condition(); turn++) {
    if (turn > maxTurns) throw new Error('condition not met in time')
    await new Promise(resolve => setImmediate(resolve))
  }
}

describe('crypto/replay-filter', () => {
  let dir: string
  let filter: ReplayFilter | undefined

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ghostnode-replay-'))
  })

  afterEach(async () => {
    await filter?.close()
    filter = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('rejects a replayed CREATE', async () => {
    const onion = generateOnionKey(5)
    const { payload } = buildCreate([{ peerId: new Uint8Array(0), onionKey: onion.publicKey }])
    filter = await ReplayFilter.open({ path: dir })
    const first = processCreateLayer([onion], payload)
    filter.checkAndInsert(first.epoch, first.replayTag)
    const again = processCreateLayer([onion], payload.slice())
    expect(() => { filter?.checkAndInsert(again.epoch, again.replayTag) }).to.throw(ReplayError)
  })

  it('keeps epochs apart', async () => {
    filter = await ReplayFilter.open({ path: dir })
    filter.checkAndInsert(1, tag(1))
    filter.checkAndInsert(2, tag(1))
    expect(() => { filter?.checkAndInsert(2, tag(1)) }).to.throw(ReplayError)
    expect(filter.size()).to.equal(2)
    expect(filter.epochs()).to.deep.equal([1, 2])
  })

  it('rejects a repeat after close and reopen', async () => {
    filter = await ReplayFilter.open({ path: dir })
    for (let i = 0; i < 5000; i++) filter.checkAndInsert(7, tag(i))
    await filter.close()
    filter = await ReplayFilter.open({ path: dir })
    expect(filter.size(7)).to.equal(5000)
    expect(() => { filter?.checkAndInsert(7, tag(4321)) }).to.throw(ReplayError)
    filter.checkAndInsert(7, tag(5000))
  })

  it('writes tags in the background on its timer and when the batch is full', async () => {
    filter = await ReplayFilter.open({ path: dir, flushIntervalMs: 5 })
    filter.checkAndInsert(3, tag(9))
    expect(filter.pendingWrites).to.equal(1)
    await until(() => filter?.pendingWrites === 0)
    await filter.close()

    filter = await ReplayFilter.open({ path: dir, flushIntervalMs: 60_000, maxPendingWrites: 4 })
    expect(filter.has(3, tag(9))).to.equal(true)
    for (let i = 0; i < 4; i++) filter.checkAndInsert(4, tag(i))
    await until(() => filter?.pendingWrites === 0)
  })

  it('forgets an epoch after dropEpoch, in memory and on disk', async () => {
    filter = await ReplayFilter.open({ path: dir })
    filter.checkAndInsert(1, tag(1))
    filter.checkAndInsert(2, tag(2))
    await filter.flush()
    filter.checkAndInsert(1, tag(3)) // still pending when the epoch is dropped
    await filter.dropEpoch(1)
    expect(filter.has(1, tag(1))).to.equal(false)
    filter.checkAndInsert(1, tag(1))
    await filter.dropEpoch(1)
    await filter.close()
    filter = await ReplayFilter.open({ path: dir })
    expect(filter.epochs()).to.deep.equal([2])
    expect(filter.has(1, tag(3))).to.equal(false)
    expect(filter.has(2, tag(2))).to.equal(true)
  })

  it('drops the highest epoch without touching its neighbour', async () => {
    filter = await ReplayFilter.open({ path: dir })
    filter.checkAndInsert(0xffffffff, tag(1))
    filter.checkAndInsert(0xfffffffe, tag(1))
    await filter.dropEpoch(0xffffffff)
    await filter.close()
    filter = await ReplayFilter.open({ path: dir })
    expect(filter.epochs()).to.deep.equal([0xfffffffe])
  })

  it('fails closed when an epoch is full', async () => {
    filter = await ReplayFilter.open({ path: dir, maxTagsPerEpoch: 2 })
    filter.checkAndInsert(1, tag(1))
    filter.checkAndInsert(1, tag(2))
    expect(() => { filter?.checkAndInsert(1, tag(3)) }).to.throw(ReplayFilterFullError)
    filter.checkAndInsert(2, tag(3))
  })

  it('rejects bad epochs and tags, and use after close, with typed errors', async () => {
    filter = await ReplayFilter.open({ path: dir })
    expect(() => { filter?.checkAndInsert(-1, tag(1)) }).to.throw(InvalidReplayTagError)
    expect(() => { filter?.checkAndInsert(1.5, tag(1)) }).to.throw(InvalidReplayTagError)
    expect(() => { filter?.checkAndInsert(1, new Uint8Array(0)) }).to.throw(InvalidReplayTagError)
    expect(() => { filter?.checkAndInsert(1, new Uint8Array(65)) }).to.throw(InvalidReplayTagError)
    await filter.close()
    expect(() => { filter?.checkAndInsert(1, tag(1)) }).to.throw(ReplayFilterClosedError)
    await filter.close()
  })
})
