/**
 * A node's directory traffic per hour, full fetches (GET) against incremental
 * ones (CHANGES), at 1,000 and 10,000 records (synthetic: each signed by its
 * own generated Ed25519 key, two TCP addresses, as relays publish).
 *
 * One asker fetches every `fetchIntervalMs` (default 5 min) from
 * `fetchPeersPerRound` (3) peers, as `directory.refresh` does. The peers hold
 * the same records. Between rounds, every relay signs a new record once per
 * onion-key epoch (1 day) on average: N × interval / epoch records change per
 * round, applied to every peer's store. Bytes are the directory protocol's
 * frames (varint length prefix + body, request and reply) produced by the
 * real RecordStore and encoders; Noise and yamux framing come on top.
 *
 *   node dist/bench/directory.js [--records 1000,10000] [--hours 1] [--json FILE]
 */
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { generateX25519 } from '../src/crypto/x25519.js'
import { ALL_CAPABILITIES, createNodeRecord, type VerifiedNodeRecord } from '../src/directory/node-record.js'
import { DEFAULT_DIRECTORY_FETCH_INTERVAL_MS, DEFAULT_DIRECTORY_FETCH_PEERS } from '../src/directory/options.js'
import {
  DirectoryRequestKind, DirectoryStatus, NO_CURSOR, encodeChangesHeader, encodeGetHeader, encodeRequest
} from '../src/directory/protocol.js'
import { RecordStore, type ChangeCursor } from '../src/directory/record-store.js'
import { DEFAULT_ONION_EPOCH_MS } from '../src/wire/onion-format.js'

const MAX_RESPONSE_BYTES = 8 * 1024 * 1024

const { values } = parseArgs({ options: { records: { type: 'string', default: '1000,10000' }, hours: { type: 'string', default: '1' }, json: { type: 'string' } } })
const SIZES = (values.records ?? '').split(',').map(Number)
const HOURS = Number(values.hours)
if (SIZES.some(n => !Number.isInteger(n) || n < 1) || !(HOURS > 0)) {
  process.stderr.write('--records takes comma-separated positive integers, --hours a positive number\n')
  process.exit(2)
}

/** Bytes of one length-prefixed frame (unsigned varint prefix). */
function framed (bytes: number): number {
  let prefix = 1
  for (let n = bytes; n >= 0x80; n = Math.floor(n / 0x80)) prefix++
  return prefix + bytes
}

type Relay = { key: Awaited<ReturnType<typeof generateKeyPair>>, version: bigint, index: number }

async function sign (relay: Relay): Promise<VerifiedNodeRecord> {
  relay.version++
  const a = relay.index
  return createNodeRecord(relay.key, {
    addrs: [multiaddr(`/ip4/10.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}/tcp/7400`), multiaddr(`/ip4/10.${(a >> 16) & 255}.${(a >> 8) & 255}.${a & 255}/tcp/7401/ws`)],
    onionKey: generateX25519().publicKey,
    epoch: 1,
    validUntil: Date.now() + 2 * DEFAULT_ONION_EPOCH_MS,
    version: relay.version,
    capabilities: ALL_CAPABILITIES
  })
}

interface SizeReport {
  records: number
  record_bytes_mean: number
  rounds: number
  changes_per_round: number
  full_bytes_per_hour: number
  changes_bytes_per_hour: number
  ratio: number
  first_fetch_bytes: number
}

async function run (n: number): Promise<SizeReport> {
  const relays: Relay[] = []
  for (let i = 0; i < n; i++) relays.push({ key: await generateKeyPair('Ed25519'), version: 0n, index: i })
  const peers = Array.from({ length: DEFAULT_DIRECTORY_FETCH_PEERS }, () => new RecordStore(n + 1))
  let recordBytes = 0
  for (const r of relays) {
    const record = await sign(r)
    recordBytes += record.bytes.byteLength
    for (const p of peers) p.offer(record)
  }
  const rounds = Math.round(HOURS * 3_600_000 / DEFAULT_DIRECTORY_FETCH_INTERVAL_MS)
  const perRound = n * DEFAULT_DIRECTORY_FETCH_INTERVAL_MS / DEFAULT_ONION_EPOCH_MS
  const getRequest = framed(encodeRequest({ kind: DirectoryRequestKind.GET }).byteLength)
  const changesRequest = framed(encodeRequest({ kind: DirectoryRequestKind.CHANGES, since: NO_CURSOR }).byteLength)
  const cursors: Array<ChangeCursor | undefined> = peers.map(() => undefined)
  let fullBytes = 0
  let changesBytes = 0
  let firstFetch = 0
  // the asker's first fetch from each peer (full either way) is not part of the hourly figure
  for (const [i, p] of peers.entries()) {
    const page = p.changedSince(cursors[i], MAX_RESPONSE_BYTES)
    cursors[i] = page.cursor
    if (i === 0) firstFetch = changesRequest + framed(encodeChangesHeader(DirectoryStatus.OK, 0, page.cursor).byteLength) + page.records.reduce((s, b) => s + framed(b.byteLength), 0)
  }
  let carry = 0
  for (let round = 0; round < rounds; round++) {
    // relays re-sign between rounds (a fractional rate carried over)
    carry += perRound
    for (; carry >= 1; carry--) {
      const record = await sign(relays[Math.floor(Math.random() * n)])
      for (const p of peers) p.offer(record)
    }
    for (const [i, p] of peers.entries()) {
      const all = p.encoded(MAX_RESPONSE_BYTES)
      fullBytes += getRequest + framed(encodeGetHeader(DirectoryStatus.OK, all.length).byteLength) + all.reduce((s, b) => s + framed(b.byteLength), 0)
      const page = p.changedSince(cursors[i], MAX_RESPONSE_BYTES)
      cursors[i] = page.cursor
      changesBytes += changesRequest + framed(encodeChangesHeader(DirectoryStatus.OK, page.records.length, page.cursor).byteLength) +
        page.records.reduce((s, b) => s + framed(b.byteLength), 0)
    }
  }
  return {
    records: n,
    record_bytes_mean: Math.round(recordBytes / n),
    rounds,
    changes_per_round: perRound,
    full_bytes_per_hour: Math.round(fullBytes / HOURS),
    changes_bytes_per_hour: Math.round(changesBytes / HOURS),
    ratio: fullBytes / Math.max(1, changesBytes),
    first_fetch_bytes: firstFetch
  }
}

const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(2)} MiB`

async function main (): Promise<void> {
  const log = (s: string): void => { process.stdout.write(s + '\n') }
  log(`directory traffic of one node: a round every ${DEFAULT_DIRECTORY_FETCH_INTERVAL_MS / 60_000} min from ${DEFAULT_DIRECTORY_FETCH_PEERS} peers, each relay re-signing once per ${DEFAULT_ONION_EPOCH_MS / 3_600_000} h`)
  const reports: SizeReport[] = []
  for (const n of SIZES) {
    const r = await run(n)
    reports.push(r)
    log(`${String(n).padStart(6)} records (${r.record_bytes_mean} B each): full GET ${mib(r.full_bytes_per_hour)}/h, CHANGES ${kib(r.changes_bytes_per_hour)}/h ` +
      `(${r.ratio.toFixed(0)}× less; ${r.changes_per_round.toFixed(1)} changed records per round; first fetch ${kib(r.first_fetch_bytes)})`)
  }
  if (values.json != null) await writeFile(values.json, JSON.stringify({ meta: { date: new Date().toISOString(), hours: HOURS }, sizes: reports }, null, 2))
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`)
  process.exit(1)
})
