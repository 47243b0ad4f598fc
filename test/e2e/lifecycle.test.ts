import { expect } from 'chai'
import { createGhostnode } from '../../src/compose.js'
import { NodeClosedError } from '../../src/errors.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { stopAll, testConfig } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

describe('node lifecycle', function () {
  this.timeout(30_000)
  let dir: string
  let nodes: Ghostnode[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  it('has the relay\'s cell handler in place before the link protocol accepts a stream', async () => {
    const node = await createGhostnode(testConfig(dir, 'relay'), { libp2pMetrics: false })
    nodes.push(node)
    const links = node.libp2p.services.links
    const start = links.start.bind(links)
    let handlerAtRegistration: boolean | undefined
    links.start = async () => {
      handlerAtRegistration = links.hasHandler
      await start()
    }
    await node.start()
    expect(handlerAtRegistration, 'a cell handler when the link protocol was registered').to.equal(true)
    // and a cell sent the moment a link opens (a client's CREATE) is answered
    const client = await GhostClient.create({ bootstrap: [node.getMultiaddrs()[0].toString()], hops: 1, retries: 0 })
    try {
      expect(await client.echo(Uint8Array.of(1, 2))).to.deep.equal(Uint8Array.of(1, 2))
    } finally {
      await client.stop()
    }
  })

  it('start() twice is one start; start() after stop() throws NodeClosedError; stop() twice is harmless', async () => {
    const node = await createGhostnode(testConfig(dir, 'relay'), { libp2pMetrics: false })
    nodes.push(node)
    await Promise.all([node.start(), node.start()])
    expect(node.status).to.equal('running')
    await node.stop()
    await node.stop()
    expect(node.status).to.equal('stopped')
    expect(await node.start().catch(e => e)).to.be.instanceOf(NodeClosedError)
  })
})
