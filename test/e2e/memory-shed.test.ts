import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { expect } from 'chai'
import { createLibp2p, type Libp2p } from 'libp2p'
import { AttackCircuit } from '../../harness/slowloris/attack-circuit.js'
import { SlowReader } from '../../harness/slowloris/slow-reader.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { CircuitDestroyedError } from '../../src/onion/circuit-errors.js'
import { CellCommand, DestroyReason } from '../../src/wire/onion-format.js'
import { LINK_PROTOCOL, Link } from '../../src/onion/link.js'
import { until } from '../helpers/network.js'
import { metric, startNode, stopAll, testConfig } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { MemorySample } from '../../src/memory/watchdog.js'
import type { Ghostnode } from '../../src/node.js'
import type { ConfigOverrides } from '../helpers/nodes.js'

const MiB = 1024 * 1024
const encoder = new TextEncoder()
/** Rate limits out of the way: these tests are about memory, and the attacker would be throttled first. */
const GENEROUS_LIMITS = {
  limits: {
    cells: { ratePerSecond: 100_000, burst: 100_000 },
    bytes: { ratePerSecond: 100 * MiB, burst: 100 * MiB },
    circuits: { ratePerSecond: 1_000, burst: 1_000 }
  }
} as unknown as ConfigOverrides['rateLimit']

interface AttackLink { link: Link, circuits: AttackCircuit[], destroyed: number[] }

/** One link from `from` to the node with `n` circuits (the node as exit), read as usual. */
async function attackLink (from: Libp2p, node: Ghostnode, n: number): Promise<AttackLink> {
  const exit = node.libp2p.services.directory.get(node.peerId)
  if (exit == null) throw new Error('the node has no record of its own')
  const conn = await from.dial(node.getMultiaddrs()[0])
  const stream = await conn.newStream(LINK_PROTOCOL)
  const byCirc = new Map<number, AttackCircuit>()
  const destroyed: number[] = []
  const link = new Link(stream, conn.remotePeer, true, {
    onCell: (_l, cell) => {
      if (cell.cmd === CellCommand.DESTROY) destroyed.push(cell.circId)
      byCirc.get(cell.circId)?.onCell(cell)
    },
    onClose: () => {}
  }, defaultLogger().forComponent('test:attack-link'))
  const circuits: AttackCircuit[] = []
  for (let i = 0; i < n; i++) {
    const c = new AttackCircuit(link, exit)
    byCirc.set(c.circId, c)
    await c.build(5_000)
    circuits.push(c)
  }
  return { link, circuits, destroyed }
}

async function rawPeer (): Promise<Libp2p> {
  return createLibp2p({ addresses: { listen: [] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

describe('memory bounds wired into the node', function () {
  this.timeout(30_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let client: GhostClient | undefined
  let peers: Libp2p[] = []
  let readers: SlowReader[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await Promise.all(readers.map(async r => { await r.stop() }))
    readers = []
    await client?.stop()
    client = undefined
    await Promise.all(peers.map(async p => { await p.stop() }))
    peers = []
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  async function start (overrides: ConfigOverrides, memorySample?: () => MemorySample): Promise<Ghostnode> {
    const node = await startNode(testConfig(dir, 'relay', { rateLimit: GENEROUS_LIMITS, ...overrides }), memorySample != null ? { memorySample } : {})
    nodes.push(node)
    client = await GhostClient.create({ bootstrap: [node.getMultiaddrs()[0].toString()], hops: 1, retries: 0 })
    expect(await client.echo(encoder.encode('before'))).to.deep.equal(encoder.encode('before'))
    return node
  }

  async function peer (): Promise<Libp2p> {
    const p = await rawPeer()
    peers.push(p)
    return p
  }

  it('closes the link of a peer that stopped reading once the queue budget is spent, and the honest client goes on', async () => {
    const node = await start({ onion: { maxQueuedBytes: 2 * MiB } })
    const exit = node.libp2p.services.directory.get(node.peerId)!
    const reader = await SlowReader.create({ target: node.getMultiaddrs()[0].toString(), exit, links: 2, circuitsPerLink: 2, bodyBytes: 64 * 1024, cellsPerSecond: 3_000, partialsPerSecond: 0, partialMessageBytes: 0, buildTimeoutMs: 5_000 })
    readers.push(reader)
    await reader.start()
    await until(async () => await metric(node, 'ghostnode_onion_links_closed_total', '{reason="memory"}') >= 1, 20_000, 'a link closed for memory')
    expect(await metric(node, 'ghostnode_memory_shed_total', '{action="link_closed"}')).to.be.at.least(1)
    // its circuits are counted as torn down for a resource limit, not as a normal close
    expect(await metric(node, 'ghostnode_onion_destroys_total', '{reason="resource_limit"}')).to.be.at.least(1)
    expect(await metric(node, 'ghostnode_onion_queued_bytes')).to.be.at.most(2 * MiB)
    expect(await client!.echo(encoder.encode('after'))).to.deep.equal(encoder.encode('after'))
  })

  it('closes the link of a peer that stopped reading after the stall timeout, well within the budget', async () => {
    const node = await start({ onion: { linkStallTimeoutMs: 1_000 } })
    const exit = node.libp2p.services.directory.get(node.peerId)!
    const reader = await SlowReader.create({ target: node.getMultiaddrs()[0].toString(), exit, links: 1, circuitsPerLink: 1, bodyBytes: 64 * 1024, cellsPerSecond: 1_000, partialsPerSecond: 0, partialMessageBytes: 0, buildTimeoutMs: 5_000 })
    readers.push(reader)
    await reader.start()
    await until(async () => await metric(node, 'ghostnode_onion_links_closed_total', '{reason="stall"}') >= 1, 10_000, 'a link closed for a stall')
    expect(await metric(node, 'ghostnode_onion_links_closed_total', '{reason="memory"}')).to.equal(0)
    expect(await metric(node, 'ghostnode_onion_destroys_total', '{reason="timeout"}')).to.be.at.least(1)
    expect(await client!.echo(encoder.encode('after'))).to.deep.equal(encoder.encode('after'))
  })

  it('closes the circuit that parks partial requests, not its neighbour\'s whole link', async () => {
    const node = await start({ onion: { maxQueuedBytes: MiB } })
    const attacker = await attackLink(await peer(), node, 3)
    const [a, b, c] = attacker.circuits
    // ~2.4 KB charged per parked first fragment: 200 on a, 150 on b, then c pushes past 1 MiB
    for (let i = 0; i < 200; i++) a.sendPartial(100_000)
    for (let i = 0; i < 150; i++) b.sendPartial(100_000)
    await until(async () => await metric(node, 'ghostnode_onion_queued_bytes') > 0.75 * MiB, 5_000, 'the partials to be held')
    for (let i = 0; i < 100; i++) c.sendPartial(100_000)
    await until(() => attacker.destroyed.length > 0, 5_000, 'a DESTROY for the biggest holder')
    expect(attacker.destroyed).to.deep.equal([a.circId])
    expect(await metric(node, 'ghostnode_memory_shed_total', '{action="circuit_closed"}')).to.equal(1)
    expect(await metric(node, 'ghostnode_onion_links_closed_total', '{reason="memory"}')).to.equal(0)
    expect(attacker.link.isOpen).to.equal(true)
    expect(await client!.echo(encoder.encode('after'))).to.deep.equal(encoder.encode('after'))
  })

  it('drops parked partial requests after the reassembly timeout, with no further cell on their circuit', async () => {
    const node = await start({ onion: { reassemblyTimeoutMs: 1_000 } })
    const attacker = await attackLink(await peer(), node, 1)
    for (let i = 0; i < 10; i++) attacker.circuits[0].sendPartial(100_000)
    await until(async () => await metric(node, 'ghostnode_onion_queued_bytes') > 0, 5_000, 'the partials to be held')
    await until(async () => await metric(node, 'ghostnode_onion_reassembly_expired_total') === 10, 5_000, 'the partials to expire')
    expect(await metric(node, 'ghostnode_onion_queued_bytes')).to.equal(0)
  })

  it('under memory pressure refuses new connections, link streams and circuits, and keeps serving existing ones', async () => {
    let rss = 100 * MiB
    const sample = (): MemorySample => ({ rss, heapUsed: rss / 2, external: rss / 4 })
    const node = await start({ memory: { maxRssBytes: 512 * MiB, highWatermark: 0.8, lowWatermark: 0.7, checkIntervalMs: 50 } }, sample)
    const early = await attackLink(await peer(), node, 1)
    rss = 450 * MiB
    await until(() => node.health().memory.pressure, 5_000, 'memory pressure')
    expect(await metric(node, 'ghostnode_memory_pressure')).to.equal(1)

    // a new circuit on an existing link: DESTROY RESOURCE_LIMIT
    const refused = await client!.buildCircuit({ path: client!.records() }).then(() => undefined, (err: Error) => err)
    expect(refused).to.be.instanceOf(CircuitDestroyedError)
    expect((refused as CircuitDestroyedError).reason).to.equal(DestroyReason.RESOURCE_LIMIT)
    expect(await metric(node, 'ghostnode_memory_shed_total', '{action="create_refused"}')).to.equal(1)
    // a new link stream on an existing connection
    expect(early.link.isOpen).to.equal(true)
    const second = await peers[0].getConnections(node.peerId)[0].newStream(LINK_PROTOCOL)
    await until(() => second.status !== 'open', 5_000, 'the node to refuse the link stream')
    expect(await metric(node, 'ghostnode_memory_shed_total', '{action="link_refused"}')).to.equal(1)
    // a new connection
    const late = await peer()
    const dialed = await late.dial(node.getMultiaddrs()[0]).then(() => undefined, (err: Error) => err)
    expect(dialed).to.be.instanceOf(Error)
    expect(await metric(node, 'ghostnode_memory_shed_total', '{action="connection_refused"}')).to.be.at.least(1)
    // the honest client's circuit, built before, is served throughout; the node stays ready
    expect(await client!.echo(encoder.encode('during'))).to.deep.equal(encoder.encode('during'))
    expect(node.isReady()).to.equal(true)

    rss = 300 * MiB
    await until(() => !node.health().memory.pressure, 5_000, 'pressure to end')
    expect((await client!.buildCircuit({ path: client!.records() })).isOpen).to.equal(true)
    expect(await metric(node, 'ghostnode_memory_pressure_episodes_total')).to.equal(1)
  })
})
