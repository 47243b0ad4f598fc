import { performance } from 'node:perf_hooks'
import { expect } from 'chai'
import { readMailbox } from '../../harness/lib/mailbox-check.js'
import { ExitError } from '../../src/onion/circuit-errors.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { SwarmStatus } from '../../src/swarm/status.js'
import { until } from './network.js'

const encoder = new TextEncoder()
const TTL_MS = 600_000

/**
 * A 3-node network (R = 3, W = 2) that a test can split: node index 2 is cut
 * off from nodes 0 and 1, then joined again. Implemented with network
 * namespaces (process testnet, root) and with a connection gater (in-process
 * nodes); the scenario below runs the same on both.
 */
export interface PartitionHarness {
  /** e.g. "netns" or "in-process", for the summary line. */
  kind: string
  names: string[]
  peerIds: string[]
  /** A TCP multiaddr (ending in /p2p/<id>) per node, for clients. */
  addrs: string[]
  partition: () => Promise<void>
  heal: () => Promise<void>
  /** Swarm records each node holds now. */
  recordCounts: () => Promise<number[]>
  /** Whether each node holds each (mailbox, hash): result[node][i]. May stop the nodes: call last. */
  holdings: (checks: Array<{ mailbox: Uint8Array, hash: Uint8Array }>) => Promise<boolean[][]>
  /** The same, without disturbing the nodes (in-process harnesses): convergence is then waited for by content, not by counts. */
  holdingsNow?: (checks: Array<{ mailbox: Uint8Array, hash: Uint8Array }>) => Promise<boolean[][]>
}

export interface PartitionCounts {
  before: { sent: number, acknowledged: number }
  during: { sent: number, acknowledged: number, deleted: number, minoritySent: number, minorityRefused: number, minorityAcknowledged: number }
  after: { acknowledgedFound: number, acknowledgedOnIsolated: number, resurrected: number, convergedMs: number }
}

interface Acked { text: string, mailbox: number, hash: Uint8Array, members: string[] }

/** Clients the scenario starts; the caller's afterEach stops them even when an assertion fails. */
export interface PartitionClients { list: GhostClient[] }

/**
 * Stores before the partition (on all three nodes), then during it: stores
 * and deletes through circuits on the majority side (nodes 0 and 1 only)
 * must succeed with W = 2, and stores through the isolated node must be
 * refused (QUORUM_FAILED), never acknowledged. After healing, anti-entropy
 * must bring the isolated node every message acknowledged meanwhile, pass the
 * deletes on (no deleted message comes back anywhere), and make every node
 * hold the same records.
 */
export async function runPartitionScenario (h: PartitionHarness, clients: PartitionClients, options: { convergeTimeoutMs?: number } = {}): Promise<PartitionCounts> {
  const [a, b, c] = h.peerIds
  const keys = Array.from({ length: 6 }, () => MailboxKey.generate())
  // the majority side: 2-hop circuits over nodes 0 and 1 only
  const majority = await GhostClient.create({ bootstrap: [h.addrs[0], h.addrs[1]], hops: 2, exclude: [c] })
  clients.list.push(majority)
  // the minority side: a client that reaches node 2 only (1-hop circuit, node 2 is the exit)
  const minority = await GhostClient.create({ bootstrap: [h.addrs[2]], hops: 1, exclude: [a, b], retries: 0, requestTimeoutMs: 20_000 })
  clients.list.push(minority)

  const store = async (client: GhostClient, text: string, mailbox: number): Promise<Acked> => {
    const receipt = await client.store(keys[mailbox].publicKey, encoder.encode(text), { raw: true, ttlMs: TTL_MS })
    return { text, mailbox, hash: receipt.hash, members: receipt.members }
  }

  const before: Acked[] = []
  for (let i = 0; i < 24; i++) before.push(await store(majority, `before-${i}`, i % keys.length))
  // every copy written (the third one lands after the ack) before the network splits
  await until(async () => (await h.recordCounts()).every(n => n === before.length), 10_000, 'three copies of every message before the partition')

  await h.partition()
  const during: Acked[] = []
  for (let i = 0; i < 30; i++) {
    const acked = await store(majority, `during-${i}`, i % keys.length)
    // W = 2 of the swarm {0, 1, 2}, with 2 unreachable: exactly the majority side
    expect([...acked.members].sort(), `members acknowledging ${acked.text}`).to.deep.equal([a, b].sort())
    during.push(acked)
  }
  // delete half of the messages stored before the split (node 2 still holds them), one request per mailbox
  const doomed = before.filter((_, i) => i % 2 === 0)
  const byMailbox = new Map<number, Acked[]>()
  for (const d of doomed) byMailbox.set(d.mailbox, [...(byMailbox.get(d.mailbox) ?? []), d])
  const deletedCounts = await Promise.all([...byMailbox].map(async ([m, list]) => majority.delete(keys[m], list.map(d => d.hash))))
  expect(deletedCounts.reduce((x, y) => x + y, 0), 'messages deleted during the partition').to.equal(doomed.length)

  // concurrently: on the namespace network each one waits out swarm.requestTimeoutMs for the unreachable members
  const minoritySent = 3
  const outcomes = await Promise.allSettled(Array.from({ length: minoritySent }, async (_, i) => store(minority, `minority-${i}`, i % keys.length)))
  const minorityAcknowledged = outcomes.filter(o => o.status === 'fulfilled').length
  expect(minorityAcknowledged, 'stores acknowledged with only the isolated node').to.equal(0)
  for (const o of outcomes) {
    const err = (o as PromiseRejectedResult).reason as unknown
    expect(err, 'refusal of a store only the isolated node took').to.be.instanceOf(ExitError)
    expect((err as ExitError).status, (err as Error).message).to.equal(SwarmStatus.QUORUM_FAILED)
  }
  const minorityRefused = outcomes.length - minorityAcknowledged
  // the isolated node kept its own copy of each refused store (a failed write is not rolled back, docs/swarm.md),
  // and still holds what was deleted on the other side; the majority side holds neither
  const live = before.length - doomed.length + during.length
  const split = [live, live, before.length + minoritySent]
  await until(async () => (await h.recordCounts()).every((n, i) => n === split[i]), 5_000, `records per node ${split.join(', ')} during the partition`)
    .catch(async (err: Error) => { throw new Error(`${err.message}; now ${(await h.recordCounts()).join(', ')}`) })

  await h.heal()
  const healedAt = performance.now()
  // refused stores are not rolled back: once joined, anti-entropy spreads the isolated node's copies too
  const expected = live + minoritySent
  await until(async () => (await h.recordCounts()).every(n => n === expected), options.convergeTimeoutMs ?? 30_000,
    `every node to hold ${expected} records after healing`).catch(async (err: Error) => {
    throw new Error(`${err.message}; now ${(await h.recordCounts()).join(', ')}`)
  })
  const acked = [...before.filter(x => !doomed.includes(x)), ...during]
  const checks = [...acked, ...doomed].map(x => ({ mailbox: keys[x.mailbox].publicKey, hash: x.hash }))
  const converged = (held: boolean[][]): boolean => held.every(row => row.every((has, i) => i < acked.length ? has : !has))
  const holdingsNow = h.holdingsNow
  if (holdingsNow !== undefined) {
    // equal counts can pass through a state with a deleted record still held and an acknowledged one not yet
    // copied: wait for the content itself
    await until(async () => converged(await holdingsNow(checks)), options.convergeTimeoutMs ?? 30_000, 'every node to hold exactly the live records after healing')
  }
  const convergedMs = performance.now() - healedAt

  const found = new Set<string>()
  for (const key of keys) for (const text of await readMailbox(majority, key)) found.add(text)
  expect(acked.filter(x => !found.has(x.text)).map(x => x.text), 'acknowledged messages not readable after healing').to.deep.equal([])
  expect(doomed.filter(x => found.has(x.text)).map(x => x.text), 'deleted messages readable again').to.deep.equal([])

  const held = await h.holdings(checks)
  for (const [n, name] of h.names.entries()) {
    expect(acked.filter((_, i) => !held[n][i]).map(x => x.text), `acknowledged messages ${name} lacks`).to.deep.equal([])
    expect(doomed.filter((_, i) => held[n][acked.length + i]).map(x => x.text), `deleted messages back on ${name}`).to.deep.equal([])
  }
  return {
    before: { sent: before.length, acknowledged: before.length },
    during: { sent: during.length, acknowledged: during.length, deleted: doomed.length, minoritySent, minorityRefused, minorityAcknowledged },
    after: {
      acknowledgedFound: acked.filter(x => found.has(x.text)).length,
      acknowledgedOnIsolated: acked.filter((_, i) => held[2][i]).length,
      resurrected: doomed.filter((_, i) => h.names.some((_, n) => held[n][acked.length + i])).length,
      convergedMs
    }
  }
}

export function formatPartitionCounts (kind: string, names: string[], r: PartitionCounts): string {
  return `partition (${kind}, ${names[2]} cut off from ${names[0]}+${names[1]}): before: stored ${r.before.sent}, acknowledged ${r.before.acknowledged}; ` +
    `during: majority sent ${r.during.sent}, acknowledged ${r.during.acknowledged} (each by ${names[0]}+${names[1]}), deleted ${r.during.deleted}; ` +
    `via ${names[2]} alone sent ${r.during.minoritySent}, refused ${r.during.minorityRefused}, acknowledged ${r.during.minorityAcknowledged}; ` +
    `after healing (converged in ${Math.round(r.after.convergedMs)} ms): acknowledged found ${r.after.acknowledgedFound}/${r.during.acknowledged + r.before.acknowledged - r.during.deleted}, ` +
    `on ${names[2]} ${r.after.acknowledgedOnIsolated}, deleted resurrected ${r.after.resurrected}/${r.during.deleted}`
}
