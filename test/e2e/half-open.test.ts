import { connect, type Socket } from 'node:net'
import { expect } from 'chai'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { until } from '../helpers/network.js'
import { startNode, stopAll, testConfig } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

/** TCP connections to the node that never send a byte; `closed` counts those the node closed. */
function halfOpen (node: Ghostnode, n: number): { sockets: Socket[], closed: () => number } {
  const m = /\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(node.getMultiaddrs()[0].toString())!
  let closed = 0
  const sockets = Array.from({ length: n }, () => {
    const s = connect({ host: m[1], port: Number(m[2]) })
    s.on('error', () => {})
    s.on('data', () => {})
    s.on('close', () => { closed++ })
    return s
  })
  return { sockets, closed: () => closed }
}

describe('half-open connections (slowloris)', function () {
  this.timeout(20_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let client: GhostClient | undefined
  let sockets: Socket[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    for (const s of sockets) s.destroy()
    sockets = []
    await client?.stop()
    client = undefined
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  it('holds at most maxIncomingPendingPerPrefix handshakes from one prefix and drops them after upgradeTimeoutMs', async () => {
    const node = await startNode(testConfig(dir, 'relay', { connections: { maxIncomingPendingPerPrefix: 4, upgradeTimeoutMs: 1_000 } }))
    nodes.push(node)
    const held = halfOpen(node, 10)
    sockets = held.sockets
    // the six over the prefix's share are refused at once; the four in it wait for the upgrade timeout
    await until(() => held.closed() >= 6, 5_000, 'the connections over the cap to be refused')
    expect(held.closed()).to.equal(6)
    await until(() => held.closed() === 10, 5_000, 'the handshake timeout')
    // the slots are free again: a client from the same prefix gets in
    client = await GhostClient.create({ bootstrap: [node.getMultiaddrs()[0].toString()], hops: 1, retries: 0 })
    expect(await client.echo(Uint8Array.of(1, 2, 3))).to.deep.equal(Uint8Array.of(1, 2, 3))
  })
})
