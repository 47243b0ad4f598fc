import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Level } from 'level'
import { Registry } from 'prom-client'
import { StoreClosedError, StoreSchemaError } from '../../src/swarm/store/errors.js'
import { createRecord, type SwarmRecord } from '../../src/swarm/record-codec.js'
import { MessageStore, type BatchInfo, type MessageStoreInit } from '../../src/swarm/store/store.js'

const T0 = 1_700_000_000_000
const HOUR = 3_600_000
const mailbox = new Uint8Array(32).fill(0xc3)

function rec (i: number, ttlMs = HOUR, box = mailbox): SwarmRecord {
  const data = Buffer.alloc(1024, i % 251)
  data.writeUInt32BE(i)
  return createRecord({ mailbox: box, namespace: 0, timestamp: T0 + i, ttlMs, data })
}

describe('swarm/store durability, batching and sweeping', () => {
  let dir: string
  let clock: number
  const stores: MessageStore[] = []

  async function openStore (over: Partial<MessageStoreInit> = {}): Promise<MessageStore> {
    const s = new MessageStore({ path: join(dir, 'db'), now: () => clock, ...over, registry: over.registry ?? new Registry() })
    stores.push(s)
    await s.open()
    return s
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ghostnode-durability-'))
    clock = T0
  })

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('coalesces concurrent puts into far fewer LevelDB batches', async () => {
    const batches: BatchInfo[] = []
    const store = await openStore({ onBatch: info => batches.push(info), maxBatchPuts: 200 })
    const results = await Promise.all(Array.from({ length: 1000 }, async (_, i) => store.put(rec(i))))
    expect(results.every(r => r.stored)).to.equal(true)
    expect(batches.reduce((n, b) => n + b.puts, 0)).to.equal(1000)
    expect(batches.length).to.be.at.most(10)
    expect(store.stats().records).to.equal(1000)
  })

  it('keeps records and counters across close and reopen', async () => {
    let store = await openStore()
    await Promise.all(Array.from({ length: 50 }, async (_, i) => store.put(rec(i))))
    await store.delete(mailbox, 0, [rec(0).hash])
    const digest = Buffer.from(await store.digest(mailbox)).toString('hex')
    await store.close()

    store = await openStore()
    expect(store.stats()).to.deep.equal({ records: 49, bytes: 49 * (1024 + 87) })
    expect(await store.usage(mailbox)).to.deep.equal({ records: 49, bytes: 49 * (1024 + 87) })
    expect((await store.retrieve(mailbox, 0, { maxBytes: 1 << 24 })).records).to.have.length(49)
    expect(Buffer.from(await store.digest(mailbox)).toString('hex')).to.equal(digest)
  })

  it('writes queued puts before close returns, and refuses puts afterwards', async () => {
    const store = await openStore()
    const pending = Array.from({ length: 20 }, async (_, i) => store.put(rec(i)))
    await store.close()
    expect((await Promise.all(pending)).every(r => r.stored)).to.equal(true)
    expect(await store.put(rec(99)).catch(e => e)).to.be.instanceOf(StoreClosedError)

    const reopened = await openStore()
    expect(reopened.stats().records).to.equal(20)
  })

  it('keeps acknowledged puts when the process is killed with SIGKILL', async function () {
    this.timeout(20_000)
    const path = join(dir, 'killed')
    const storeUrl = new URL('../../src/swarm/store/store.js', import.meta.url).href
    const codecUrl = new URL('../../src/swarm/record-codec.js', import.meta.url).href
    const script = `
      const { MessageStore } = await import(${JSON.stringify(storeUrl)})
      const { Registry } = await import('prom-client')
      const { createRecord } = await import(${JSON.stringify(codecUrl)})
      const store = new MessageStore({ path: ${JSON.stringify(path)}, registry: new Registry() })
      await store.open()
      const mailbox = new Uint8Array(32).fill(9)
      await Promise.all(Array.from({ length: 300 }, (_, i) =>
        store.put(createRecord({ mailbox, namespace: 0, timestamp: Date.now(), ttlMs: 3600000, data: Buffer.from('m' + i) }))))
      process.stdout.write('acked\\n')
      setInterval(() => {}, 1000)
    `
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(child, 'exit')
    let out = ''
    try {
      child.stdout.setEncoding('utf8')
      child.stdout.on('data', (chunk: string) => {
        out += chunk
        // Killed the moment it reports the acknowledgements: no close, no flush.
        if (out.includes('acked')) child.kill('SIGKILL')
      })
      const [code, signal] = await exited
      expect({ code, signal, out }).to.deep.equal({ code: null, signal: 'SIGKILL', out: 'acked\n' })
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await exited
      }
    }

    const store = new MessageStore({ path, registry: new Registry() })
    stores.push(store)
    await store.open()
    const box = new Uint8Array(32).fill(9)
    expect((await store.retrieve(box, 0, { maxBytes: 1 << 20 })).records).to.have.length(300)
    expect(store.stats().records).to.equal(300)
  })

  it('sweeps expired records and keeps counters and metrics in step', async () => {
    const registry = new Registry()
    const store = await openStore({ registry, sweepBatchRecords: 10 })
    const other = new Uint8Array(32).fill(0x11)
    await Promise.all([
      ...Array.from({ length: 25 }, async (_, i) => store.put(rec(i, 20_000))),
      ...Array.from({ length: 5 }, async (_, i) => store.put(rec(100 + i, 20_000, other))),
      ...Array.from({ length: 7 }, async (_, i) => store.put(rec(200 + i, HOUR)))
    ])
    expect(await store.sweepExpired(T0 + 10_000)).to.equal(0)
    clock = T0 + 60_000
    expect(await store.sweepExpired()).to.equal(30)
    expect(store.stats()).to.deep.equal({ records: 7, bytes: 7 * 1111 })
    expect(await store.usage(mailbox)).to.deep.equal({ records: 7, bytes: 7 * 1111 })
    expect(await store.usage(other)).to.deep.equal({ records: 0, bytes: 0 })
    const swept = await registry.getSingleMetric('ghostnode_swarm_swept_total')?.get()
    expect(swept?.values[0].value).to.equal(30)
    await store.close()
    const reopened = await openStore()
    expect(reopened.stats().records).to.equal(7)
  })

  it('runs the sweeper on its timer and stops it on close', async () => {
    const armed: Array<{ fn: () => void, ms: number }> = []
    let cleared = 0
    const store = await openStore({
      sweeperTimers: {
        setTimeout: (fn, ms) => { armed.push({ fn, ms }); return {} },
        clearTimeout: () => { cleared++ }
      }
    })
    await store.put(rec(1, 20_000))
    store.startSweeper(5000)
    store.startSweeper(5000)
    expect(armed.map(a => a.ms)).to.deep.equal([5000])
    clock = T0 + 30_000
    armed[0].fn()
    // stopSweeper waits for the sweep the timer just started.
    await store.stopSweeper()
    expect(store.stats().records).to.equal(0)
    expect(armed).to.have.length(1)
    store.startSweeper(5000)
    expect(armed).to.have.length(2)
    await store.close()
    expect(cleared).to.equal(1)
  })

  it('refuses to open a database written with an unknown layout', async () => {
    const path = join(dir, 'foreign')
    const raw = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
    await raw.put(Uint8Array.of(0x00, 0x01), Uint8Array.of(9))
    await raw.close()
    const store = new MessageStore({ path, registry: new Registry() })
    expect(await store.open().catch(e => e)).to.be.instanceOf(StoreSchemaError)
    expect(store.isOpen).to.equal(false)
  })
})
