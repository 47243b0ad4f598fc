import { expect } from 'chai'
import { inspectStores } from '../../harness/lib/mailbox-check.js'
import { assertNetnsAvailable, partitionHosts, type Partition } from '../../harness/testnet/netns.js'
import { getJson, waitForSwarmRings } from '../../harness/testnet/ready.js'
import { startTestnet, type Testnet, type TestnetNode } from '../../harness/testnet/testnet.js'
import { DEFAULT_CONFIG, type GhostnodeConfig } from '../../src/config/defaults.js'
import { stopAll } from '../helpers/nodes.js'
import { startNetwork, until } from '../helpers/network.js'
import { formatPartitionCounts, runPartitionScenario, type PartitionClients, type PartitionHarness } from '../helpers/partition-scenario.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'
import type { PeerId } from '@libp2p/interface'

/**
 * Anti-entropy every second and a 2 s deadline on node-to-node requests, so a
 * write to an unreachable member fails (and the heal is noticed) quickly.
 */
const SWARM_SETTINGS = { replicas: 3, writeQuorum: 0, reconcileIntervalMs: 1_000, requestTimeoutMs: 2_000 }

function tcpAddr (node: TestnetNode): string {
  const addr = node.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (addr == null) throw new Error(`${node.name} reports no TCP address`)
  return addr
}

describe('network partition: the isolated node heals and reconciles (R = 3, W = 2)', function () {
  this.timeout(90_000)
  let dir: string | undefined
  const clients: PartitionClients = { list: [] }

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await Promise.allSettled(clients.list.splice(0).map(async c => c.stop()))
    await removeTempDir(dir)
    dir = undefined
  })

  describe('three processes in network namespaces (root)', () => {
    let net: Testnet | undefined
    let cut: Partition | undefined

    before(async function () {
      try {
        await assertNetnsAvailable()
      } catch (err) {
        console.log(`      skipped: ${(err as Error).message}`)
        this.skip()
      }
    })
    afterEach(async () => {
      await cut?.heal().catch(() => {})
      cut = undefined
      await net?.stop()
      net = undefined
    })

    it('keeps acknowledging on the majority side, refuses on the isolated node, and converges after healing', async () => {
      const set = Object.entries(SWARM_SETTINGS).flatMap(([k, v]) => ['--set', `swarm.${k}=${v}`])
      net = await startTestnet({ nodes: 3, netns: true, baseDir: dir, extraArgs: [...set, '--set', 'directory.fetchIntervalMs=1000'] })
      const testnet = net
      const network = testnet.network
      if (network == null) throw new Error('no namespace network')
      await waitForSwarmRings(testnet.nodes.map(n => n.httpUrl), 3, { timeoutMs: 20_000 })
      const harness: PartitionHarness = {
        kind: 'netns',
        names: testnet.nodes.map(n => n.name),
        peerIds: testnet.nodes.map(n => n.peerId),
        addrs: testnet.nodes.map(tcpAddr),
        partition: async () => { cut = await partitionHosts(network, [2]) },
        heal: async () => { await cut?.heal() },
        // the root namespace reaches every node's HTTP endpoint, partition or not
        recordCounts: async () => Promise.all(testnet.nodes.map(async n => Number((await getJson(`${n.httpUrl}/health`)).body?.swarmRecords))),
        holdings: async (checks) => {
          for (const r of await testnet.stop()) expect(r.exit.code, `${r.name} exit code`).to.equal(0)
          return inspectStores(testnet.nodes.map(n => n.dataDir), checks)
        }
      }
      const counts = await runPartitionScenario(harness, clients)
      console.log(`      ${formatPartitionCounts(harness.kind, harness.names, counts)}`)
    })
  })

  describe('three in-process nodes, split by refusing connections (runs everywhere)', () => {
    let nodes: Ghostnode[] = []

    afterEach(async () => {
      await stopAll(nodes)
      nodes = []
    })

    it('keeps acknowledging on the majority side, refuses on the isolated node, and converges after healing', async () => {
      let split = false
      const isolated = new Set<string>()
      // node i refuses the other side's peers while split: dials out and handshakes in
      const denyFor = (i: number) => (peer: PeerId): boolean => split && isolated.has(nodes[i]?.peerId.toString() ?? '') !== isolated.has(peer.toString())
      const swarm: GhostnodeConfig['swarm'] = { ...DEFAULT_CONFIG.swarm, ...SWARM_SETTINGS }
      nodes = await startNetwork(dir as string, 3, () => ({ swarm }), undefined, (i) => ({ denyPeer: denyFor(i) }))
      await until(() => nodes.every(n => n.swarm.membership.ring.size === 3), 15_000, 'every ring to hold 3 members')
      const [a, b, c] = nodes
      isolated.add(c.peerId.toString())
      const harness: PartitionHarness = {
        kind: 'in-process',
        names: ['n0', 'n1', 'n2'],
        peerIds: nodes.map(n => n.peerId.toString()),
        addrs: nodes.map(n => n.getMultiaddrs()[0].toString()),
        partition: async () => {
          split = true
          // close what is open; the gaters refuse anything new
          await Promise.all([a, b].flatMap(x => [x.libp2p.hangUp(c.peerId), c.libp2p.hangUp(x.peerId)]))
          expect(c.libp2p.getConnections(a.peerId).length + c.libp2p.getConnections(b.peerId).length, 'connections across the split').to.equal(0)
        },
        heal: async () => { split = false },
        recordCounts: async () => nodes.map(n => n.health().swarmRecords),
        holdings: async (checks) => Promise.all(nodes.map(async n => Promise.all(checks.map(async x => n.swarm.store.has(x.mailbox, x.hash))))),
        holdingsNow: async (checks) => Promise.all(nodes.map(async n => Promise.all(checks.map(async x => n.swarm.store.has(x.mailbox, x.hash)))))
      }
      const counts = await runPartitionScenario(harness, clients)
      console.log(`      ${formatPartitionCounts(harness.kind, harness.names, counts)}`)
    })
  })
})
