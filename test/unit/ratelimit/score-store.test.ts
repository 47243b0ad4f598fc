import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Level } from 'level'
import { ScoreStoreClosedError } from '../../../src/ratelimit/errors.js'
import { ReputationTracker } from '../../../src/ratelimit/reputation.js'
import { ScoreStore } from '../../../src/ratelimit/score-store.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import type { ScoreDb } from '../../../src/ratelimit/score-store.js'

const HOUR = 3_600_000

type Operation = Parameters<ScoreDb['batch']>[0][number]

/** An in-memory ScoreDb that records every batch and can be told to fail. */
class MemoryDb implements ScoreDb {
  status = 'closed'
  readonly data = new Map<string, string>()
  readonly batches: Operation[][] = []
  failNext = false

  async open (): Promise<void> { this.status = 'open' }
  async close (): Promise<void> { this.status = 'closed' }
  async batch (operations: Operation[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false
      throw new Error('disk full')
    }
    this.batches.push(operations)
    for (const op of operations) {
      if (op.type === 'put') this.data.set(op.key, op.value)
      else this.data.delete(op.key)
    }
  }

  async * iterator (): AsyncGenerator<[string, string]> {
    yield * [...this.data].sort(([a], [b]) => a < b ? -1 : 1)
  }
}

describe('ScoreStore', () => {
  let clock: FakeClock
  let dir: string

  beforeEach(async () => {
    clock = new FakeClock()
    dir = await mkdtemp(join(tmpdir(), 'ghostnode-scores-'))
  })

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('persists scores and bans across close and reopen of the LevelDB', async () => {
    const path = join(dir, 'scores')
    const first = new ReputationTracker({ now: clock.now })
    const store = new ScoreStore({ location: path })
    await store.open(first)
    first.penalize('bad', 'malformed_cell')
    for (let i = 0; i < 3; i++) first.penalize('banned', 'bad_signature')
    first.reward('good', 50)
    await store.close()
    expect(store.isOpen).to.equal(false)

    const second = new ReputationTracker({ now: clock.now })
    const reopened = new ScoreStore({ location: path })
    const stats = await reopened.open(second)
    expect(stats.loaded).to.equal(3)
    expect(stats.corrupt).to.equal(0)
    expect(second.score('bad')).to.equal(40)
    expect(second.score('good')).to.be.closeTo(50.5, 1e-9)
    expect(second.isBanned('banned')).to.equal(true)
    expect(second.bannedUntil('banned')).to.equal(clock.now() + HOUR)
    clock.advance(HOUR)
    expect(second.isBanned('banned')).to.equal(false)
    await reopened.close()
  })

  it('skips and counts corrupt entries instead of failing', async () => {
    const path = join(dir, 'scores')
    const raw = new Level<string, string>(path)
    await raw.batch([
      { type: 'put', key: 'not-json', value: '{oops' },
      { type: 'put', key: 'out-of-range', value: JSON.stringify({ v: 1, s: 500, u: 1, b: 0, l: 1 }) },
      { type: 'put', key: 'future-version', value: JSON.stringify({ v: 2, s: 40, u: 1, b: 0, l: 1 }) },
      { type: 'put', key: 'missing-field', value: JSON.stringify({ v: 1, s: 40, u: 1, b: 0 }) },
      { type: 'put', key: 'null', value: 'null' },
      { type: 'put', key: 'ok', value: JSON.stringify({ v: 1, s: 33, u: clock.now(), b: 0, l: clock.now() }) }
    ])
    await raw.close()
    const tracker = new ReputationTracker({ now: clock.now })
    const store = new ScoreStore({ location: path })
    const stats = await store.open(tracker)
    expect(stats).to.include({ loaded: 1, corrupt: 5 })
    expect(tracker.score('ok')).to.equal(33)
    expect(tracker.size).to.equal(1)
    await store.close()
  })

  it('uses a caller-owned sublevel and leaves it open on close', async () => {
    const root = new Level<string, string>(join(dir, 'node'))
    const sub = root.sublevel<string, string>('reputation', { valueEncoding: 'utf8' })
    const tracker = new ReputationTracker({ now: clock.now })
    const store = new ScoreStore({ db: sub })
    await store.open(tracker)
    tracker.penalize('p', 'protocol_misuse')
    await store.close()
    expect(sub.status).to.equal('open')
    const stored = JSON.parse(await sub.get('p') ?? 'null') as { s: number }
    expect(stored.s).to.equal(45)
    expect(await root.get('p')).to.equal(undefined)
    await root.close()
  })

  it('writes all pending changes in one batch on flush', async () => {
    const db = new MemoryDb()
    const tracker = new ReputationTracker({ now: clock.now })
    const store = new ScoreStore({ db, flushDelayMs: HOUR })
    await store.open(tracker)
    for (let i = 0; i < 5; i++) tracker.penalize(`p${i}`, 'handshake_failure')
    tracker.penalize('p0', 'handshake_failure')
    expect(store.stats().pending).to.equal(5)
    expect(db.batches).to.have.length(0)
    await store.flush()
    expect(db.batches).to.have.length(1)
    expect(db.batches[0]).to.have.length(5)
    expect(store.stats()).to.include({ pending: 0, flushes: 1 })
    await store.close()
  })

  it('flushes at once when maxPendingWrites is reached', async () => {
    const db = new MemoryDb()
    const tracker = new ReputationTracker({ now: clock.now })
    const store = new ScoreStore({ db, flushDelayMs: HOUR, maxPendingWrites: 3 })
    await store.open(tracker)
    tracker.penalize('a', 'handshake_failure')
    tracker.penalize('b', 'handshake_failure')
    await new Promise(resolve => setImmediate(resolve))
    expect(db.batches).to.have.length(0)
    tracker.penalize('c', 'handshake_failure')
    await new Promise(resolve => setImmediate(resolve))
    expect(db.batches).to.have.length(1)
    expect(db.batches[0].map(op => op.key)).to.deep.equal(['a', 'b', 'c'])
    await store.close()
  })

  it('deletes evicted peers from the database', async () => {
    const db = new MemoryDb()
    const tracker = new ReputationTracker({ now: clock.now, config: { maxTrackedPeers: 2 } })
    const store = new ScoreStore({ db })
    await store.open(tracker)
    tracker.penalize('a', 'handshake_failure')
    await store.flush()
    expect(db.data.has('a')).to.equal(true)
    clock.advance(1)
    tracker.penalize('b', 'handshake_failure')
    clock.advance(1)
    tracker.penalize('c', 'handshake_failure')
    await store.close()
    expect([...db.data.keys()].sort()).to.deep.equal(['b', 'c'])
  })

  it('keeps changes pending after a failed write and retries them', async () => {
    const db = new MemoryDb()
    const tracker = new ReputationTracker({ now: clock.now })
    const store = new ScoreStore({ db })
    await store.open(tracker)
    tracker.penalize('p', 'bad_mac')
    db.failNext = true
    let failed = false
    await store.flush().catch(() => { failed = true })
    expect(failed).to.equal(true)
    expect(store.stats().pending).to.equal(1)
    await store.close()
    expect(db.data.has('p')).to.equal(true)
  })

  it('detaches and rethrows when the database cannot be read', async () => {
    const db = new MemoryDb()
    // eslint-disable-next-line require-yield -- an iterator that fails before its first entry
    db.iterator = async function * () { throw new Error('io error') }
    const tracker = new ReputationTracker({ now: clock.now })
    const store = new ScoreStore({ db })
    let error: unknown
    await store.open(tracker).catch(err => { error = err })
    expect(error).to.have.property('message', 'io error')
    expect(store.isOpen).to.equal(false)
    tracker.penalize('p', 'bad_mac')
    expect(store.stats().pending).to.equal(0)
  })

  it('refuses to flush when not open', async () => {
    const store = new ScoreStore({ db: new MemoryDb() })
    let error: unknown
    await store.flush().catch(err => { error = err })
    expect(error).to.be.instanceOf(ScoreStoreClosedError)
    expect(error).to.have.property('code', 'ERR_SCORE_STORE_CLOSED')
  })

  it('requires exactly one of location and db', () => {
    expect(() => new ScoreStore({})).to.throw(/exactly one of location or db/)
    expect(() => new ScoreStore({ location: dir, db: new MemoryDb() })).to.throw(/exactly one of location or db/)
  })
})
