import { expect } from 'chai'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { resolveRateLimitConfig } from '../../src/ratelimit/resolve-config.js'
import { startNetwork } from '../helpers/network.js'
import { stopAll } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

/**
 * Blame the originator only: CREATEs that strangers send through relay A and
 * that overflow relay B's budget for A are refused by B, but cost A nothing.
 * Before, two throwaway identities got B to ban A, and circuits through A failed.
 */
describe('a relay is not blamed for what its clients send through it', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Ghostnode[] = []
  const clients: GhostClient[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.stop()
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  it('refuses CREATEs injected through node1 toward node2 over its budget, without penalising or banning node1', async () => {
    // node2 (the victim's neighbour) is strict: 2 creations per second per neighbour, relays included,
    // and an overflow would cost a penalty every 100 ms; node1 lets its clients build freely
    const strict = resolveRateLimitConfig({
      limits: { circuits: { ratePerSecond: 2, burst: 2 } },
      reputation: { penaltyCooldownsMs: { bucket_overflow: 100 } }
    })
    const generous = resolveRateLimitConfig({ limits: { circuits: { ratePerSecond: 1_000, burst: 1_000 } } })
    nodes = await startNetwork(dir, 3, (i) => ({ rateLimit: i === 1 ? strict : generous, onion: { relayBudgetFactor: 1 } as any }))
    const [node1, node2] = nodes
    for (let i = 0; i < 2; i++) clients.push(await GhostClient.create({ bootstrap: [node1.getMultiaddrs()[0].toString()], hops: 2, retries: 0 }))
    const path = (c: GhostClient): ReturnType<GhostClient['records']> => [node1, node2].map(n => c.records().find(r => r.peerId.equals(n.peerId))!)

    let built = 0
    let refused = 0
    const deadline = Date.now() + 3_000
    await Promise.all(clients.map(async c => {
      while (Date.now() < deadline) {
        try {
          const circuit = await c.buildCircuit({ path: path(c) })
          built++
          circuit.close()
        } catch {
          refused++
        }
      }
    }))
    expect(refused, 'node2 refused the flood through node1').to.be.greaterThan(10)
    const node1Id = node1.peerId.toString()
    const seen = node2.limiter.peersSummary().find(p => p.peer === node1Id)
    expect(seen?.score ?? 50, 'node1\'s score at node2').to.be.at.least(50)
    expect(node2.limiter.isBanned(node1Id)).to.equal(false)
    // and an honest client's circuit through node1 and node2 still works once the burst refills
    await new Promise(resolve => setTimeout(resolve, 1_100))
    const honest = await GhostClient.create({ bootstrap: [node1.getMultiaddrs()[0].toString()], hops: 2, retries: 0 })
    clients.push(honest)
    const circuit = await honest.buildCircuit({ path: path(honest) })
    expect((await circuit.request(Uint8Array.of(1, 1))).status).to.equal(0)
    console.log(`      ${built} built, ${refused} refused at node2; node1's score there ${seen?.score ?? 50}`)
  })
})
