import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { expect } from 'chai'
import { multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { DialBackResult, decodeDialBackReply, encodeDialBackRequest, REACHABILITY_PROTOCOL } from '../../src/discovery/reachability.js'
import { startNode, stopAll, testConfig, waitFor } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

describe('reachability self-test: peers dial a node\'s announced addresses back', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Ghostnode[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  async function pair (announceDead: boolean, selfTest = true): Promise<{ helper: Ghostnode, asker: Ghostnode }> {
    const helper = await startNode(testConfig(dir, 'helper'))
    nodes.push(helper)
    const bootstrap = helper.getMultiaddrs().map(String)
    // a port nothing listens on: bind one, then close it
    const dead = createServer()
    dead.listen(0, '127.0.0.1')
    await once(dead, 'listening')
    const deadPort = (dead.address() as { port: number }).port
    dead.close()
    const asker = await startNode(testConfig(dir, 'asker', {
      bootstrap,
      reachability: { startupDelayMs: 200, intervalMs: selfTest ? 60_000 : 0 },
      ...(announceDead ? { announce: [`/ip4/127.0.0.1/tcp/${deadPort}`] } : {})
    }))
    nodes.push(asker)
    return { helper, asker }
  }

  it('is reachable when a peer can dial its announced address, and says so in /health and the metric', async () => {
    const { asker } = await pair(false)
    const deadline = Date.now() + 20_000
    while (asker.health().reachability.status === 'unknown' && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
    const state = asker.health().reachability
    expect(state.status).to.equal('reachable')
    expect(state.reached[0]).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+$/)
    expect(state.answeredBy).to.equal(1)
    expect(await asker.registry.getSingleMetricAsString('ghostnode_node_reachable')).to.match(/ghostnode_node_reachable 1/)
  })

  it('is unreachable when it announces an address nothing listens on, and status warns', async () => {
    const { asker } = await pair(true)
    const deadline = Date.now() + 20_000
    while (asker.health().reachability.status === 'unknown' && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
    expect(asker.health().reachability.status).to.equal('unreachable')
    expect(asker.health().warnings.join(' ')).to.match(/unreachable: no peer could dial/)
    expect(await asker.registry.getSingleMetricAsString('ghostnode_node_reachable')).to.match(/ghostnode_node_reachable 0/)
  })

  it('an attacker cannot make a node dial a third party, nor ask more than once a minute', async () => {
    // it speaks the protocol itself, so its own self-test stays off
    const { helper, asker: attacker } = await pair(false, false)
    await waitFor([helper, attacker], () => attacker.libp2p.getPeers().some(p => p.equals(helper.peerId)), 10_000, 'a connection')
    // a third party on another loopback address: it must see no connection
    let dialled = 0
    const victim: Server = createServer((socket) => { dialled++; socket.destroy() })
    victim.listen(0, '127.0.0.2')
    await once(victim, 'listening')
    const victimPort = (victim.address() as { port: number }).port
    try {
      const askOnce = async (addrs: string[]): Promise<number[]> => {
        const stream = await attacker.libp2p.dialProtocol(helper.peerId, REACHABILITY_PROTOCOL)
        const lp = lpStream(stream)
        await lp.write(encodeDialBackRequest(addrs.map(a => multiaddr(a))))
        const reply = decodeDialBackReply((await lp.read()).subarray(), addrs.length)
        await stream.close()
        return reply
      }
      // the two nodes' first dials may cross: libp2p then closes one connection, with any stream on it
      const ask = async (addrs: string[]): Promise<number[]> => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await askOnce(addrs)
          } catch (err) {
            if (attempt > 2) throw err
            await new Promise(resolve => setTimeout(resolve, 300))
          }
        }
      }
      const own = attacker.getMultiaddrs()[0].decapsulateCode(421).toString()
      const results = await ask([`/ip4/127.0.0.2/tcp/${victimPort}`, '/ip4/0.0.0.0/tcp/80', '/dns4/example.org/tcp/80', `${own}/p2p/${helper.peerId.toString()}`])
      expect(results).to.deep.equal([DialBackResult.REFUSED, DialBackResult.REFUSED, DialBackResult.REFUSED, DialBackResult.REFUSED])
      expect(dialled, 'the third party was dialled').to.equal(0)
      // the answer counted as this peer's one per minute
      expect(await ask([own])).to.deep.equal([DialBackResult.RATE_LIMITED])
    } finally {
      victim.close()
    }
  })
})
