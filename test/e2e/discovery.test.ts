import { expect } from 'chai'
import { dhtProtocol, type Ghostnode } from '../../src/node.js'
import { startNode, stopAll, testConfig, waitFor } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

function connected (a: Ghostnode, b: Ghostnode): boolean {
  return a.libp2p.getConnections(b.peerId).length > 0
}

describe('three nodes on loopback', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Ghostnode[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  it('find each other through one bootstrap node via the DHT over Noise and yamux', async () => {
    const boot = await startNode(testConfig(dir, 'boot'))
    nodes.push(boot)
    const bootAddr = boot.getMultiaddrs()[0].toString()
    const a = await startNode(testConfig(dir, 'a', { bootstrap: [bootAddr] }))
    nodes.push(a)
    const b = await startNode(testConfig(dir, 'b', { bootstrap: [bootAddr] }))
    nodes.push(b)

    // a and b only know the bootstrap node; they can meet only through a DHT lookup
    await waitFor(nodes, () => connected(a, b), 30_000, 'a and b to connect')

    for (const [x, y] of [[a, boot], [b, boot], [a, b]] as const) {
      for (const conn of x.libp2p.getConnections(y.peerId)) {
        expect(conn.encryption).to.equal('/noise')
        expect(conn.multiplexer).to.equal('/yamux/1.0.0')
      }
    }
    const protocols = await boot.libp2p.peerStore.get(a.peerId).then(p => p.protocols)
    expect(protocols).to.include(dhtProtocol('/ghostnode'))
    expect(protocols).not.to.include('/ipfs/kad/1.0.0')
    expect(a.isReady()).to.equal(true)
  })

  it('keeps retrying a bootstrap peer that starts later', async () => {
    const bootConfig = testConfig(dir, 'boot', { listen: ['/ip4/127.0.0.1/tcp/0'] })
    // learn the peer id and a free port first, then stop and start the client before it
    const probe = await startNode(bootConfig)
    const addr = probe.getMultiaddrs()[0].toString()
    await probe.stop()

    const client = await startNode(testConfig(dir, 'client', { bootstrap: [addr] }))
    nodes.push(client)
    expect(client.isReady()).to.equal(false) // bootstrap configured, nobody reachable yet

    const boot = await startNode({ ...bootConfig, listen: [addr.split('/p2p/')[0]] })
    nodes.push(boot)
    await waitFor(nodes, () => connected(client, boot), 20_000, 'the late bootstrap peer')
    expect(client.isReady()).to.equal(true)
  })
})
