import { expect } from 'chai'
import { Registry } from 'prom-client'
import { CircuitDestroyedError } from '../../src/onion/circuit-errors.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { CELL_SIZE, CellCommand, DestroyReason } from '../../src/wire/onion-format.js'
import { metric, startNode, stopAll } from '../helpers/nodes.js'
import { startNetwork, until } from '../helpers/network.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

const encoder = new TextEncoder()

function contains (haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return true
  }
  return false
}

function nodeOf (nodes: Ghostnode[], peer: { toString: () => string }): Ghostnode {
  const node = nodes.find(n => n.peerId.toString() === peer.toString())
  if (node == null) throw new Error('hop is not one of the test nodes')
  return node
}

describe('onion circuits on loopback', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let client: GhostClient | undefined

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  async function connectClient (hops = 3): Promise<GhostClient> {
    client = await GhostClient.create({ bootstrap: [nodes[0].getMultiaddrs()[0].toString()], hops })
    expect(client.records()).to.have.length(nodes.length)
    return client
  }

  it('echoes through 3 distinct relays, and no hop sees what it should not', async () => {
    nodes = await startNetwork(dir, 3)
    const received = new Map<string, Uint8Array[]>()
    const written: number[] = []
    for (const node of nodes) {
      const cells: Uint8Array[] = []
      received.set(node.peerId.toString(), cells)
      node.libp2p.services.links.tap({ received: (_peer, cell) => cells.push(cell), written: (_peer, bytes) => written.push(bytes.byteLength) })
    }
    const c = await connectClient()
    c.libp2p.services.links.tap({ written: (_peer, bytes) => written.push(bytes.byteLength) })
    const circuit = await c.buildCircuit()
    expect(new Set(circuit.path.map(p => p.toString())).size).to.equal(3)

    const marker = encoder.encode('ghostnode-marker-' + 'x'.repeat(40))
    const big = new Uint8Array(10_000).fill(7)
    big.set(marker, 5_000)
    for (const payload of [marker, new Uint8Array(1), big]) {
      const res = await circuit.request(Uint8Array.of(1, ...payload))
      expect(res.status).to.equal(0)
      expect(res.body).to.deep.equal(payload)
    }

    const [first, , exit] = circuit.path.map(p => nodeOf(nodes, p))
    const exitId = exit.peerId.toMultihash().bytes
    const clientId = c.libp2p.peerId.toMultihash().bytes
    // hop 1 never handles the exit's identity in cleartext
    for (const cell of received.get(first.peerId.toString()) ?? []) expect(contains(cell, exitId)).to.equal(false)
    // the exit never handles the client's identity, and has no connection to it
    for (const cell of received.get(exit.peerId.toString()) ?? []) expect(contains(cell, clientId)).to.equal(false)
    expect(exit.libp2p.getConnections(c.libp2p.peerId)).to.have.length(0)
    // the payload never crosses a link in cleartext
    for (const cells of received.values()) for (const cell of cells) expect(contains(cell, marker)).to.equal(false)
    // every cell on every link has the same size, whatever the message length
    for (const cells of received.values()) for (const cell of cells) expect(cell.byteLength).to.equal(CELL_SIZE)
    expect(written.length).to.be.greaterThan(0)
    for (const size of written) expect(size % CELL_SIZE).to.equal(0)
  })

  it('GhostClient.echo builds a circuit on demand', async () => {
    nodes = await startNetwork(dir, 3)
    const c = await connectClient()
    expect(await c.echo(encoder.encode('hello'))).to.deep.equal(encoder.encode('hello'))
  })

  it('detects a bit flipped by a relay at the next hop and destroys the circuit', async () => {
    nodes = await startNetwork(dir, 3)
    const c = await connectClient()
    const circuit = await c.buildCircuit()
    const [first, second] = circuit.path.map(p => nodeOf(nodes, p))
    await circuit.request(Uint8Array.of(1, 1, 2, 3)) // links are up
    const link = first.libp2p.services.links.all().find(l => l.remotePeer.equals(second.peerId))
    expect(link).to.not.equal(undefined)
    const send = link!.send.bind(link)
    link!.send = (cell: Uint8Array) => {
      if (cell[4] === CellCommand.RELAY) cell[600] ^= 0x01 // a tagging attack by hop 1
      return send(cell)
    }
    try {
      await circuit.request(Uint8Array.of(1, 9, 9, 9), 5_000)
      expect.fail('the tampered request must not succeed')
    } catch (err) {
      expect(err).to.be.instanceOf(CircuitDestroyedError)
      expect((err as CircuitDestroyedError).reason).to.equal(DestroyReason.INTEGRITY)
    }
    expect(await metric(second, 'ghostnode_onion_integrity_failures_total')).to.equal(1)
    await until(() => second.relay.circuitCount === 0 && first.relay.circuitCount === 0, 5_000, 'the circuit to be torn down')
  })

  it('propagates a client DESTROY to every hop', async () => {
    nodes = await startNetwork(dir, 3)
    const c = await connectClient()
    const circuit = await c.buildCircuit()
    expect((await circuit.request(Uint8Array.of(1, 5))).status).to.equal(0)
    expect(nodes.map(n => n.relay.circuitCount)).to.deep.equal([1, 1, 1])
    circuit.close()
    await until(() => nodes.every(n => n.relay.circuitCount === 0), 5_000, 'every hop to drop the circuit')
  })

  it('destroys idle circuits and tells the client', async () => {
    // the clock runs (membership periods advance), and jumps when the test says so
    let skew = 0
    nodes = await startNetwork(dir, 3, () => ({ onion: { circuitIdleTimeoutMs: 60_000 } as any }), () => Date.now() + skew)
    const c = await connectClient()
    const circuit = await c.buildCircuit()
    expect((await circuit.request(Uint8Array.of(1, 6))).status).to.equal(0)
    skew += 61_000
    const [first] = circuit.path.map(p => nodeOf(nodes, p))
    expect(first.relay.sweepIdle()).to.equal(1)
    await until(() => !circuit.isOpen, 5_000, 'the client to see the DESTROY')
    expect(circuit.closeError).to.be.instanceOf(CircuitDestroyedError)
    expect((circuit.closeError as CircuitDestroyedError).reason).to.equal(DestroyReason.TIMEOUT)
    await until(() => nodes.every(n => n.relay.circuitCount === 0), 5_000, 'every hop to drop the circuit')
  })

  it('rejects a replayed CREATE, also after the relay restarts', async () => {
    nodes = await startNetwork(dir, 3)
    const c = await connectClient()
    let create: Uint8Array | undefined
    c.libp2p.services.links.tap({ written: (_p, bytes) => { if (bytes[4] === CellCommand.CREATE) create ??= bytes.slice(0, CELL_SIZE) } })
    const circuit = await c.buildCircuit()
    expect(create).to.not.equal(undefined)
    const first = nodeOf(nodes, circuit.path[0])

    const replay = async (): Promise<number> => {
      const destroyed: number[] = []
      c.libp2p.services.links.tap({ received: (_p, cell) => { if (cell[4] === CellCommand.DESTROY) destroyed.push(cell[5]) } })
      const link = await c.libp2p.services.links.getLink(first.peerId)
      const cell = create!.slice()
      const id = link.allocateCircId()
      new DataView(cell.buffer).setUint32(0, id)
      link.send(cell)
      await until(() => destroyed.length > 0, 10_000, 'the DESTROY answering the replay')
      return destroyed[0]
    }
    expect(await replay()).to.equal(DestroyReason.CREATE_FAILED)
    expect(await metric(first, 'ghostnode_onion_creates_total', '{outcome="replay"}')).to.equal(1)

    // restart the first hop from the same data directory
    const index = nodes.indexOf(first)
    await first.stop()
    nodes[index] = await startNode(first.config)
    const restarted = nodes[index]
    expect(restarted.peerId.equals(first.peerId)).to.equal(true)
    await c.libp2p.dial(restarted.getMultiaddrs()[0])
    expect(await replay()).to.equal(DestroyReason.CREATE_FAILED)
    expect(await metric(restarted, 'ghostnode_onion_creates_total', '{outcome="replay"}')).to.equal(1)
  })

  it('rebuilds around a relay that dies mid-circuit', async () => {
    nodes = await startNetwork(dir, 5)
    const c = await connectClient()
    expect(await c.echo(encoder.encode('before'))).to.deep.equal(encoder.encode('before'))
    const circuit = await c.circuit()
    const victim = nodeOf(nodes, circuit.path[1])
    await victim.stop()
    await until(() => !circuit.isOpen, 10_000, 'the client to learn of the failure')
    expect(circuit.failedHop).to.equal(1)

    // the next request rebuilds around the dead relay by itself
    expect(await c.echo(encoder.encode('again'))).to.deep.equal(encoder.encode('again'))
    const rebuilt = await c.circuit()
    expect(rebuilt).to.not.equal(circuit)
    expect(rebuilt.path.map(p => p.toString())).to.not.include(victim.peerId.toString())
  })

  it('builds one replacement when concurrent requests meet the same failed circuit', async () => {
    nodes = await startNetwork(dir, 5)
    const registry = new Registry()
    client = await GhostClient.create({ bootstrap: [nodes[0].getMultiaddrs()[0].toString()], registry })
    const c = client
    expect(await c.echo(encoder.encode('before'))).to.deep.equal(encoder.encode('before'))
    const circuit = await c.circuit()
    await nodeOf(nodes, circuit.path[1]).stop()
    await until(() => !circuit.isOpen, 10_000, 'the client to learn of the failure')
    const builds = async (): Promise<number> => {
      const line = (await registry.metrics()).split('\n').find(l => l.startsWith('ghostnode_onion_circuit_build_seconds_count{outcome="ok"} '))
      return line == null ? 0 : Number(line.split(' ')[1])
    }
    const before = await builds()
    const replies = await Promise.all(Array.from({ length: 8 }, async (_, i) => c.echo(encoder.encode(`concurrent ${i}`))))
    replies.forEach((r, i) => { expect(r).to.deep.equal(encoder.encode(`concurrent ${i}`)) })
    expect(await builds() - before, 'circuits built for the 8 requests').to.equal(1)
  })

  it('keeps old circuits through onion key rotation and its grace period; new circuits use the new key', async () => {
    let skew = 0
    const now = (): number => Date.now() + skew
    const epochMs = 60_000
    const graceMs = 20_000
    nodes = await startNetwork(dir, 3, () => ({ onion: { keyEpochMs: epochMs, keyGraceMs: graceMs, circuitIdleTimeoutMs: 86_400_000 } as any }), now)
    const c = await connectClient()
    const oldRecords = c.records()
    const path = (records: typeof oldRecords): typeof oldRecords => nodes.map(n => records.find(r => r.peerId.equals(n.peerId))!)
    const oldCircuit = await c.buildCircuit({ path: path(oldRecords) })

    const rotate = async (): Promise<void> => {
      for (const n of nodes) await n.libp2p.services.onionKeys.rotateIfDue()
    }
    // into the next epoch, inside the grace period of the old key
    skew += (Math.floor(now() / epochMs) + 1) * epochMs + 1_000 - now()
    await rotate()
    expect((await oldCircuit.request(Uint8Array.of(1, 1))).status).to.equal(0)
    const withOldKey = await c.buildCircuit({ path: path(oldRecords) })
    expect((await withOldKey.request(Uint8Array.of(1, 2))).status).to.equal(0)
    for (const n of nodes) await n.libp2p.services.directory.publish()
    await until(async () => {
      await c.refreshDirectory()
      return c.records().every(r => r.epoch > oldRecords[0].epoch)
    }, 10_000, 'records with the new onion keys')
    const withNewKey = await c.buildCircuit({ path: path(c.records()) })
    expect((await withNewKey.request(Uint8Array.of(1, 3))).status).to.equal(0)

    // past the grace period the old key is gone: a CREATE under it fails, old circuits still work
    skew += graceMs + 1_000
    await rotate()
    try {
      await c.buildCircuit({ path: path(oldRecords) })
      expect.fail('a CREATE under an expired onion key must fail')
    } catch (err) {
      expect(err).to.be.instanceOf(CircuitDestroyedError)
      expect((err as CircuitDestroyedError).reason).to.equal(DestroyReason.CREATE_FAILED)
    }
    expect((await oldCircuit.request(Uint8Array.of(1, 4))).status).to.equal(0)
  })
})
