import { expect } from 'chai'
import { runOutsider } from '../../harness/attacks/outsider-process.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { until } from '../helpers/network.js'
import { metric, startNode, stopAll, testConfig } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { GhostnodeConfig } from '../../src/config/defaults.js'
import type { Ghostnode } from '../../src/node.js'

/**
 * Connection slots for those who use them (issue 13): idle identities from
 * their own process fill a node's connections, then a new client arrives.
 * On loopback every connection comes from one /24, so the many-prefix attack
 * (299 identities from 16 /24s) is played by raising the connection bucket.
 */
describe('connection slots against idle identities and stream floods (attacker process)', function () {
  this.timeout(90_000)
  let dir: string
  let node: Ghostnode | undefined
  let client: GhostClient | undefined

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    await stopAll([node])
    node = undefined
    await removeTempDir(dir)
  })

  async function start (connections: Partial<GhostnodeConfig['connections']>): Promise<string> {
    node = await startNode(testConfig(dir, 'relay', {
      connections: connections as GhostnodeConfig['connections'],
      rateLimit: { limits: { connection: { ratePerSecond: 1_000, burst: 1_000 } } } as unknown as GhostnodeConfig['rateLimit']
    }))
    return node.getMultiaddrs()[0].toString()
  }

  /** A new client as an app would run one: it tries again a second later if its first connection is refused. */
  async function clientGetsIn (addr: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        client = await GhostClient.create({ bootstrap: [addr], hops: 1, retries: 0, requestTimeoutMs: 5_000 })
        expect(await client.echo(Uint8Array.of(7))).to.deep.equal(Uint8Array.of(7))
        return attempt
      } catch (err) {
        await client?.stop()
        client = undefined
        if (attempt === 5) throw err
        await new Promise(resolve => setTimeout(resolve, 1_000))
      }
    }
  }

  it('300 idle identities do not lock a new client out: idle connections are pruned near connections.max', async () => {
    const addr = await start({ max: 300, maxPerPrefix: 10_000, maxIncomingPending: 64, maxIncomingPendingPerPrefix: 64 })
    const attack = runOutsider(['--mode', 'idle', '--target', addr, '--connections', '300', '--seconds', '20'], 80_000)
    await until(() => node!.libp2p.getConnections().length >= 250, 30_000, 'the idle connections to fill the node')
    const peak = node!.libp2p.getConnections().length
    // past the grace period the sweep prunes idle ones below 90 % of connections.max
    await until(async () => await metric(node!, 'ghostnode_connections_pruned_total', '{reason="capacity"}') > 0, 20_000, 'idle connections to be pruned')
    const attempts = await clientGetsIn(addr)
    const result = await attack
    console.log(`      ${result.opened} idle connections opened (peak ${peak} at the node), ${result.closedByTarget} closed by it; a new client echoed (attempt ${attempts})`)
    expect(result.closedByTarget).to.be.greaterThan(0)
  })

  it('caps established connections per /24: at the cap the idlest one makes way for a newcomer', async () => {
    const addr = await start({ max: 300, maxPerPrefix: 20 })
    const attack = runOutsider(['--mode', 'idle', '--target', addr, '--connections', '40', '--seconds', '16'], 60_000)
    await until(() => node!.libp2p.getConnections().length >= 20, 20_000, 'the prefix to fill')
    await new Promise(resolve => setTimeout(resolve, 11_000)) // the grace period of the connections already in
    expect(node!.libp2p.getConnections().length).to.be.at.most(21)
    const attempts = await clientGetsIn(addr)
    const result = await attack
    expect(await metric(node!, 'ghostnode_connections_pruned_total', '{reason="prefix"}')).to.be.greaterThan(0)
    console.log(`      40 idle identities from one /24: ${result.opened} connected, ${result.closedByTarget} closed by the node; a new client echoed (attempt ${attempts})`)
  })

  it('closes a connection that keeps asking for protocols the node does not speak, and penalises its peer', async () => {
    const addr = await start({})
    const result = await runOutsider(['--mode', 'negotiate', '--target', addr, '--streams', '5000'], 60_000)
    console.log(`      5,000 unknown-protocol streams: ${JSON.stringify(result.outcomes)} in ${result.seconds} s, connection open at the end: ${String(result.connectionOpen)}`)
    expect(result.connectionOpen).to.equal(false)
    const tried = Object.values(result.outcomes as Record<string, number>).reduce((a, b) => a + b, 0)
    expect(tried, 'streams tried before the node closed the connection').to.be.below(200)
    expect(await metric(node!, 'ghostnode_inbound_streams_refused_total', '{reason="negotiation"}')).to.equal(1)
  })
})
