import { expect } from 'chai'
import { createGhostnode } from '../../src/compose.js'
import { testConfig } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

describe('config reload (what SIGHUP does): live keys change the running node, the rest wait for a restart', function () {
  this.timeout(30_000)
  let dir: string
  let node: Ghostnode | undefined

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await node?.stop()
    node = undefined
    await removeTempDir(dir)
  })

  it('applies a new rate limit to the buckets already held, new watermarks and a new bootstrap list; names the rest', async () => {
    const config = testConfig(dir, 'relay')
    config.rateLimit.limits.circuits = { ratePerSecond: 1, burst: 2 }
    node = await createGhostnode(config, { libp2pMetrics: false })
    await node.start()

    // a peer spends the burst of 2 circuits: the third is refused
    const peer = '12D3KooWD5qmLvTztdaedzarPPsnm5Ujc1cmVrGTkm43deFyM2LL'
    expect(node.limiter.check('circuits', peer).allowed).to.equal(true)
    expect(node.limiter.check('circuits', peer).allowed).to.equal(true)
    expect(node.limiter.check('circuits', peer).allowed).to.equal(false)

    const next = structuredClone(node.config)
    next.rateLimit.limits.circuits = { ratePerSecond: 1, burst: 200 }
    next.memory.highWatermark = 0.85
    next.bootstrap = ['/ip4/127.0.0.1/tcp/9/p2p/12D3KooWS32bLqn8QjcNHKX57Ev5WSWnYQPrijVRv9d5qRKUX2XV']
    next.onion.maxCircuits = config.onion.maxCircuits + 1
    const result = node.reload(next)
    expect(result.applied).to.have.members(['rateLimit.limits.circuits.burst', 'memory.highWatermark', 'bootstrap'])
    expect(result.restartNeeded).to.deep.equal(['onion.maxCircuits'])

    // the same bucket now has room: an empty bucket keeps its fill fraction (0), so wait for it to refill a little
    expect(node.limiter.config.limits.circuits.burst).to.equal(200)
    const deadline = Date.now() + 5_000
    while (!node.limiter.check('circuits', peer).allowed && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 100))
    expect(Date.now()).to.be.below(deadline)
    expect(node.config.memory.highWatermark).to.equal(0.85)
    expect(node.config.bootstrap).to.deep.equal(next.bootstrap)
    // what needs a restart keeps its running value
    expect(node.config.onion.maxCircuits).to.equal(config.onion.maxCircuits)
    expect(node.isReady()).to.equal(false) // the new bootstrap peer is unreachable: not ready, and saying why
    expect(node.health().reasons.join(' ')).to.match(/no bootstrap peer reachable \(0 connected of 1 configured\)/)
  })

  it('applies new reputation tiers to the peers it tracks at once', async () => {
    node = await createGhostnode(testConfig(dir, 'relay'), { libp2pMetrics: false })
    await node.start()
    const peer = '12D3KooWS32bLqn8QjcNHKX57Ev5WSWnYQPrijVRv9d5qRKUX2XV'
    const score = node.limiter.reputation.penalize(peer, 'protocol_misuse')
    expect(node.limiter.reputation.tier(peer)).to.equal('neutral')
    const next = structuredClone(node.config)
    next.rateLimit.reputation.tiers.lowMaxScore = Math.ceil(score) + 1
    const result = node.reload(next)
    expect(result.applied).to.deep.equal(['rateLimit.reputation.tiers.lowMaxScore'])
    expect(result.restartNeeded).to.deep.equal([])
    expect(node.limiter.reputation.tier(peer)).to.equal('low')
    expect(node.config.rateLimit.reputation.tiers.lowMaxScore).to.equal(Math.ceil(score) + 1)
  })

  it('a reload with nothing changed applies nothing', async () => {
    node = await createGhostnode(testConfig(dir, 'relay'), { libp2pMetrics: false })
    await node.start()
    expect(node.reload(structuredClone(node.config))).to.deep.equal({ applied: [], restartNeeded: [] })
  })
})
