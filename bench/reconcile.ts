/**
 * Anti-entropy bytes between two replicas holding the same messages (default
 * 1,000,000 in 100,000 mailboxes), per reconciliation round: bucket digests
 * (BUCKETS, then RANGE on the differing arcs only) against the listing of
 * every mailbox (RANGE over the shared arcs, the previous method), both
 * measured in this run on the same stores, identical and after `--divergence`
 * of the messages (default 1 %) went missing on one replica at random.
 *
 * The replicas are real LocalReplicas on LevelDB; requests and answers go
 * through the real wire codecs in-process (harness/lib/loopback-peers.ts),
 * counted with their 4-byte frame length; streams (yamux, Noise) are left out.
 *
 *   node dist/bench/reconcile.js [--messages 1000000] [--per-mailbox 10] [--divergence 0.01] [--json FILE]
 */
import { writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mkdtemp, rm } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { defaultLogger } from '@libp2p/logger'
import { Registry } from 'prom-client'
import { LoopbackPeers } from '../harness/lib/loopback-peers.js'
import { createRecord, type SwarmRecord } from '../src/swarm/record-codec.js'
import { LocalReplica } from '../src/swarm/replica.js'
import { positionOf } from '../src/swarm/ring.js'
import { MessageStore } from '../src/swarm/store/store.js'
import { SwarmMetrics } from '../src/swarm/swarm-metrics.js'
import { MailboxExchange, type LocalMailbox } from '../src/swarm/sync/exchange.js'
import { RangeSet, digestOfListing } from '../src/swarm/sync/ranges.js'
import { Tombstones } from '../src/swarm/sync/tombstones.js'
import type { SwarmPeers } from '../src/swarm/peer/peers.js'

const { values } = parseArgs({ options: { messages: { type: 'string', default: '1000000' }, 'per-mailbox': { type: 'string', default: '10' }, divergence: { type: 'string', default: '0.01' }, json: { type: 'string' } } })
const MESSAGES = Number(values.messages)
const PER_MAILBOX = Number(values['per-mailbox'])
const DIVERGENCE = Number(values.divergence)
if (!Number.isInteger(MESSAGES) || MESSAGES < 1 || !Number.isInteger(PER_MAILBOX) || PER_MAILBOX < 1 || !(DIVERGENCE >= 0 && DIVERGENCE < 1)) {
  process.stderr.write('--messages and --per-mailbox take positive integers, --divergence a fraction in [0, 1)\n')
  process.exit(2)
}
const WHOLE_RING = [{ start: 0n, end: 0n }]
const HOUR = 3_600_000
const log = (s: string): void => { process.stdout.write(s + '\n') }
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`
const byOp = (peers: LoopbackPeers): Record<string, number> => Object.fromEntries(peers.bytes)

async function localOf (store: MessageStore): Promise<LocalMailbox[]> {
  const out: LocalMailbox[] = []
  for await (const { mailbox, listing } of store.iterateListings()) out.push({ mailbox, position: positionOf(mailbox), digest: digestOfListing(listing) })
  return out
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-reconcile-'))
  const now = Date.now()
  const stores = ['a', 'b'].map(name => new MessageStore({ path: join(dir, name), now: () => now, registry: new Registry(), maxBatchPuts: 4096 }))
  try {
    for (const s of stores) await s.open()
    const replicas = stores.map(store => new LocalReplica({ store, tombstones: new Tombstones({ now: () => now }), isReady: () => true, maxTtlMs: 14 * 24 * HOUR }))
    const mailboxes = Math.ceil(MESSAGES / PER_MAILBOX)
    log(`reconcile: two replicas, ${MESSAGES.toLocaleString('en')} messages in ${mailboxes.toLocaleString('en')} mailboxes, identical and then ${(DIVERGENCE * 100).toFixed(2)} % missing on one`)
    const started = performance.now()
    const records: SwarmRecord[] = []
    for (let i = 0; i < MESSAGES; i++) {
      const mailbox = new Uint8Array(32)
      const view = new DataView(mailbox.buffer)
      view.setUint32(0, (i % mailboxes) * 2_654_435_761 >>> 0)
      view.setUint32(4, i % mailboxes)
      records.push(createRecord({ mailbox, namespace: 0, timestamp: now - MESSAGES + i, ttlMs: 24 * HOUR, data: Uint8Array.of(i & 255, (i >> 8) & 255, (i >> 16) & 255) }))
      if (records.length === 8192 || i === MESSAGES - 1) {
        await Promise.all(records.flatMap(r => stores.map(async s => s.put(r))))
        records.length = 0
      }
    }
    log(`  stored in ${((performance.now() - started) / 1000).toFixed(1)} s`)

    const peers = new LoopbackPeers(new Map([['b', replicas[1]]]), 'a')
    const exchange = new MailboxExchange({ local: replicas[0], peers: peers as unknown as SwarmPeers, metrics: new SwarmMetrics(new Registry()), log: defaultLogger().forComponent('bench:reconcile') })
    const round = async (): Promise<{ discovery: Record<string, number>, discovery_bytes: number, transfer: Record<string, number>, transfer_bytes: number, listing_bytes: number, ms: number }> => {
      const t0 = performance.now()
      peers.reset()
      const local = await localOf(stores[0])
      const arcs = await exchange.differingArcs('b', WHOLE_RING, local)
      const listed = new RangeSet(arcs)
      const remote = arcs.length === 0 ? new Map<string, Uint8Array>() : await exchange.remoteDigests('b', arcs)
      const discovery = byOp(peers)
      const discoveryBytes = peers.totalBytes
      // the previous method, measured on the same stores: every mailbox listed with its digest
      peers.reset()
      await exchange.remoteDigests('b', WHOLE_RING)
      const listingBytes = peers.totalBytes
      peers.reset()
      const differing = await exchange.differing(remote, listed)
      for (const m of local) if (listed.has(m.position) && !remote.has(Buffer.from(m.mailbox).toString('hex'))) differing.push(m.mailbox)
      await exchange.exchange('b', differing, { push: true })
      return { discovery, discovery_bytes: discoveryBytes, transfer: byOp(peers), transfer_bytes: peers.totalBytes, listing_bytes: listingBytes, ms: performance.now() - t0 }
    }
    const report = (label: string, r: Awaited<ReturnType<typeof round>>): void => {
      log(`  ${label}: finding differences ${kib(r.discovery_bytes)} (${Object.entries(r.discovery).map(([k, v]) => `${k} ${kib(v)}`).join(', ')}), ` +
        `listing every mailbox would be ${kib(r.listing_bytes)} (${(r.listing_bytes / Math.max(1, r.discovery_bytes)).toFixed(1)}×); repairing ${kib(r.transfer_bytes)}` +
        `${r.transfer_bytes > 0 ? ` (${Object.entries(r.transfer).map(([k, v]) => `${k} ${kib(v)}`).join(', ')})` : ''}; round ${(r.ms / 1000).toFixed(1)} s`)
    }
    const identical = await round()
    report('identical', identical)

    // divergence: messages missing on b, chosen at random
    const missing = Math.round(MESSAGES * DIVERGENCE)
    const hashes: Array<{ mailbox: Uint8Array, hash: Uint8Array }> = []
    for await (const mailbox of stores[1].iterateMailboxes()) for (const e of await stores[1].listHashes(mailbox)) hashes.push({ mailbox, hash: e.hash })
    const byMailbox = new Map<string, { mailbox: Uint8Array, hashes: Uint8Array[] }>()
    for (let i = 0; i < missing; i++) {
      const j = i + Math.floor(Math.random() * (hashes.length - i))
      const pick = hashes[j]
      hashes[j] = hashes[i]
      hashes[i] = pick
      const id = Buffer.from(pick.mailbox).toString('hex')
      const entry = byMailbox.get(id) ?? { mailbox: pick.mailbox, hashes: [] }
      entry.hashes.push(pick.hash)
      byMailbox.set(id, entry)
    }
    await Promise.all([...byMailbox.values()].map(async e => stores[1].delete(e.mailbox, 0, e.hashes)))
    const diverged = await round()
    report(`${missing.toLocaleString('en')} missing`, diverged)
    const after = await round()
    report('after the repair', after)
    const converged = after.transfer_bytes === 0 && stores[1].stats().records === stores[0].stats().records
    log(`  converged: ${converged} (${stores[0].stats().records} and ${stores[1].stats().records} records)`)
    if (values.json != null) {
      await writeFile(values.json, JSON.stringify({ meta: { date: new Date().toISOString(), messages: MESSAGES, mailboxes, divergence: DIVERGENCE }, identical, diverged: { ...diverged, missing }, after, converged }, null, 2))
    }
  } finally {
    for (const s of stores) await s.close()
    await rm(dir, { recursive: true, force: true })
  }
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`)
  process.exit(1)
})
