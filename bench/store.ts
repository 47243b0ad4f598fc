/**
 * Store ingest and retrieve throughput, against raw classic-level in the same
 * run and on the same disk.
 *
 *   store        MessageStore.put of 1 KiB messages, `--concurrency` puts in
 *                flight (group commit decides the batches)
 *   raw batch    classic-level db.batch of 1,000 puts of the same bytes, awaited
 *                one batch after another: the ceiling the store is held to
 *   raw single   classic-level db.put awaited one by one: what not batching costs
 *   store sync   MessageStore with sync: true (fsync per batch)
 *   retrieve     paging every mailbox back with a 64 KiB budget per page
 *
 * Store and raw batch run `--rounds` times, alternating, each in a fresh temp
 * dir, after one unreported warm-up round of each (JIT). Reported: medians,
 * the median of the per-round store/raw ratios, and process CPU time per
 * message (all threads), which is steadier than wall time on a shared machine.
 *
 *   node dist/bench/store.js [--messages 50000] [--rounds 5] [--json report.json]
 */
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Level } from 'level'
import { createRecord, encodeRecord, type SwarmRecord } from '../src/swarm/record-codec.js'
import { MessageStore } from '../src/swarm/store/store.js'
import { Registry } from 'prom-client'

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '50000' },
    'single-messages': { type: 'string', default: '5000' },
    'sync-messages': { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '1024' },
    mailboxes: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    json: { type: 'string' }
  }
})
const MESSAGES = Number(values.messages)
const SINGLE = Number(values['single-messages'])
const SYNC_MESSAGES = Number(values['sync-messages'])
const CONCURRENCY = Number(values.concurrency)
const MAILBOXES = Number(values.mailboxes)
const ROUNDS = Number(values.rounds)
const MESSAGE_BYTES = 1024

interface Run { perSec: number, seconds: number, count: number, cpuUsPerMsg?: number, batches?: number, meanBatch?: number }

/** Wall and process CPU (user + system, all threads) of `fn`. */
async function measure (count: number, fn: () => Promise<void>): Promise<Run> {
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await fn()
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { perSec: count / seconds, seconds, count, cpuUsPerMsg: (cpu.user + cpu.system) / count }
}

async function withDir<T> (fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-bench-store-'))
  try {
    return await fn(dir)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function makeRecords (n: number, now: number): SwarmRecord[] {
  const boxes = Array.from({ length: MAILBOXES }, () => randomBytes(32))
  return Array.from({ length: n }, (_, i) => createRecord({
    mailbox: boxes[i % MAILBOXES], namespace: 0, timestamp: now + i, ttlMs: 3_600_000, data: randomBytes(MESSAGE_BYTES)
  }))
}

/** Keeps `concurrency` calls in flight until every item has been handled. */
async function pump<T> (items: T[], concurrency: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

async function storeIngest (records: SwarmRecord[], sync: boolean): Promise<Run & { retrieve?: Run }> {
  return withDir(async dir => {
    let batches = 0
    const store = new MessageStore({ path: join(dir, 'db'), sync, onBatch: () => { batches++ }, registry: new Registry() })
    await store.open()
    const run: Run & { retrieve?: Run } = await measure(records.length, async () => {
      await pump(records, CONCURRENCY, async r => store.put(r))
    })
    run.batches = batches
    run.meanBatch = records.length / batches
    if (!sync) run.retrieve = await retrieveAll(store, records)
    await store.close()
    return run
  })
}

async function retrieveAll (store: MessageStore, records: SwarmRecord[]): Promise<Run> {
  const boxes = [...new Map(records.map(r => [Buffer.from(r.mailbox).toString('hex'), r.mailbox])).values()]
  let count = 0
  const t0 = performance.now()
  for (const box of boxes) {
    let cursor: Uint8Array | undefined
    do {
      const page = await store.retrieve(box, 0, { maxBytes: 64 * 1024, cursor })
      count += page.records.length
      cursor = page.nextCursor
    } while (cursor !== undefined)
  }
  const seconds = (performance.now() - t0) / 1000
  if (count !== records.length) throw new Error(`retrieved ${count} of ${records.length}`)
  return { perSec: count / seconds, seconds, count }
}

/** Same keys and values the store writes for its record entries, without indexes or checks. */
function rawEntries (records: SwarmRecord[]): Array<{ key: Uint8Array, value: Uint8Array }> {
  return records.map(r => ({ key: Buffer.concat([Buffer.from([1]), r.mailbox, Buffer.alloc(10), r.hash]), value: encodeRecord(r) }))
}

async function rawBatch (entries: Array<{ key: Uint8Array, value: Uint8Array }>): Promise<Run> {
  return withDir(async dir => {
    const db = new Level<Uint8Array, Uint8Array>(join(dir, 'raw'), { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    const run = await measure(entries.length, async () => {
      for (let i = 0; i < entries.length; i += 1000) {
        await db.batch(entries.slice(i, i + 1000).map(e => ({ type: 'put' as const, key: e.key, value: e.value })))
      }
    })
    await db.close()
    return run
  })
}

async function rawSingle (entries: Array<{ key: Uint8Array, value: Uint8Array }>): Promise<Run> {
  return withDir(async dir => {
    const db = new Level<Uint8Array, Uint8Array>(join(dir, 'raw'), { keyEncoding: 'view', valueEncoding: 'view' })
    await db.open()
    const run = await measure(entries.length, async () => {
      for (const e of entries) await db.put(e.key, e.value)
    })
    await db.close()
    return run
  })
}

function median<T extends { perSec: number }> (runs: T[]): T {
  return [...runs].sort((a, b) => a.perSec - b.perSec)[Math.floor(runs.length / 2)]
}

function medianOf (xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US')

const started = performance.now()
const records = makeRecords(MESSAGES, Date.now())
const entries = rawEntries(records)
const storeRuns: Array<Run & { retrieve?: Run }> = []
const rawRuns: Run[] = []
await storeIngest(records.slice(0, 10_000), false)
await rawBatch(entries.slice(0, 10_000))
// Alternate the two so drift in machine load hits both alike.
for (let i = 0; i < ROUNDS; i++) {
  storeRuns.push(await storeIngest(records, false))
  rawRuns.push(await rawBatch(entries))
}
const singleRun = await rawSingle(entries.slice(0, SINGLE))
const syncRun = await storeIngest(records.slice(0, SYNC_MESSAGES), true)

const store = median(storeRuns)
const raw = median(rawRuns)
const retrieve = median(storeRuns.map(r => r.retrieve as Run))
const ratios = storeRuns.map((r, i) => r.perSec / rawRuns[i].perSec)
const ratio = medianOf(ratios)
const storeCpu = medianOf(storeRuns.map(r => r.cpuUsPerMsg ?? 0))
const rawCpu = medianOf(rawRuns.map(r => r.cpuUsPerMsg ?? 0))

console.log(`store bench: ${fmt(MESSAGES)} x ${MESSAGE_BYTES} B messages over ${fmt(MAILBOXES)} mailboxes, ${CONCURRENCY} puts in flight, median of ${ROUNDS}`)
console.log(`MessageStore.put         ${fmt(store.perSec).padStart(9)} msg/s  (${store.batches ?? 0} batches, mean ${(store.meanBatch ?? 0).toFixed(0)} puts/batch; ${storeCpu.toFixed(1)} µs CPU/msg)`)
console.log(`raw db.batch x1000       ${fmt(raw.perSec).padStart(9)} msg/s  (${rawCpu.toFixed(1)} µs CPU/msg)`)
console.log(`store / raw batch        ${ratio.toFixed(2)}  (median of per-round ratios ${ratios.map(r => r.toFixed(2)).join(', ')}; target >= 0.30; CPU ratio ${(rawCpu / storeCpu).toFixed(2)})`)
console.log(`raw db.put one by one    ${fmt(singleRun.perSec).padStart(9)} msg/s  (${fmt(SINGLE)} msgs; store is ${(store.perSec / singleRun.perSec).toFixed(1)}x)`)
console.log(`MessageStore sync: true  ${fmt(syncRun.perSec).padStart(9)} msg/s  (${fmt(SYNC_MESSAGES)} msgs, ${syncRun.batches ?? 0} batches)`)
console.log(`retrieve (64 KiB pages)  ${fmt(retrieve.perSec).padStart(9)} msg/s  (${(retrieve.perSec * (MESSAGE_BYTES + 87) / 1048576).toFixed(1)} MiB/s)`)
const elapsedS = (performance.now() - started) / 1000
console.log(`all rounds: store ${storeRuns.map(r => fmt(r.perSec)).join(', ')}; raw ${rawRuns.map(r => fmt(r.perSec)).join(', ')}; ${elapsedS.toFixed(1)} s`)

if (values.json != null) {
  writeFileSync(values.json, JSON.stringify({
    bench: 'store',
    messages: MESSAGES,
    messageBytes: MESSAGE_BYTES,
    mailboxes: MAILBOXES,
    concurrency: CONCURRENCY,
    rounds: ROUNDS,
    store: { msgPerSec: store.perSec, cpuUsPerMsg: storeCpu, batches: store.batches, meanBatchPuts: store.meanBatch, allRounds: storeRuns.map(r => r.perSec) },
    rawBatch: { msgPerSec: raw.perSec, cpuUsPerMsg: rawCpu, batchSize: 1000, allRounds: rawRuns.map(r => r.perSec) },
    ratioStoreToRawBatch: ratio,
    ratioPerRound: ratios,
    cpuRatioRawToStore: rawCpu / storeCpu,
    rawSingle: { msgPerSec: singleRun.perSec, cpuUsPerMsg: singleRun.cpuUsPerMsg, messages: SINGLE },
    storeSync: { msgPerSec: syncRun.perSec, messages: SYNC_MESSAGES, batches: syncRun.batches },
    retrieve: { msgPerSec: retrieve.perSec, pageMaxBytes: 64 * 1024 },
    elapsedS
  }, null, 2))
}
