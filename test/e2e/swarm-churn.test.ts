import { expect } from 'chai'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createGhostnode } from '../../src/compose.js'
import { DEFAULT_CONFIG, type GhostnodeConfig } from '../../src/config/defaults.js'
import { loadOrCreateIdentity } from '../../src/identity/key-file.js'
import { MailboxKey, authMessage, deleteFields, retrieveFields } from '../../src/swarm/auth.js'
import { NodeFullError } from '../../src/swarm/store/errors.js'
import { HashRing } from '../../src/swarm/ring.js'
import { authoritiesOf, metric, startNode, stopAll, testConfig } from '../helpers/nodes.js'
import { startNetwork, until } from '../helpers/network.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'
import type { SwarmRecord } from '../../src/swarm/record-codec.js'

const encoder = new TextEncoder()
/** Only explicit reconcileNow() calls and ring changes run anti-entropy, unless a test says otherwise. */
const NO_TIMER_MS = 86_400_000

async function countHeld (node: Ghostnode, mailbox: Uint8Array): Promise<number> {
  return (await node.swarm.store.usage(mailbox)).records
}

describe('swarm churn and anti-entropy', function () {
  this.timeout(30_000)
  let dir: string
  let nodes: Ghostnode[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  const swarmConfig = (over: Partial<GhostnodeConfig['swarm']>): { swarm: GhostnodeConfig['swarm'] } => ({ swarm: { ...DEFAULT_CONFIG.swarm, ...over } })
  const allRings = async (n: number): Promise<void> => {
    await until(() => nodes.every(x => x.swarm.membership.ring.size === n), 15_000, `every ring to hold ${n} members`)
  }

  it('repairs a copy a member missed while it was down, once it is back (R = 3)', async () => {
    nodes = await startNetwork(dir, 3, () => swarmConfig({ reconcileIntervalMs: NO_TIMER_MS }))
    await allRings(3)
    const [a, b, c] = nodes
    const cConfig = c.config
    await c.stop()
    const key = MailboxKey.generate()
    const stored: SwarmRecord[] = []
    for (let i = 0; i < 5; i++) {
      const out = await a.swarm.storeMessage({ mailbox: key.publicKey, namespace: 0, ttlMs: 600_000, data: encoder.encode(`while down ${i}`) })
      // W = 2 of 3: acknowledged by the two that are up
      expect(out.members.sort()).to.deep.equal([a.peerId.toString(), b.peerId.toString()].sort())
      stored.push(out.record)
    }
    expect(await a.swarm.metrics.replicationFailures.get().then(m => m.values[0].value)).to.equal(5)

    nodes[2] = await startNode(cConfig)
    const back = nodes[2]
    await allRings(3)
    await until(() => back.libp2p.getConnections(a.peerId).length > 0, 10_000, 'the restarted node to reconnect')
    await back.swarm.reconcileNow()
    await back.swarm.sync.idle()
    expect(await countHeld(back, key.publicKey)).to.equal(5)
    for (const r of stored) expect(await back.swarm.store.has(key.publicKey, r.hash)).to.equal(true)
  })

  it('a member restarted under write load bans none of its peers and catches up with them', async () => {
    nodes = await startNetwork(dir, 3, () => swarmConfig({ reconcileIntervalMs: 1_000 }))
    await allRings(3)
    const [a, b, c] = nodes
    const cConfig = c.config
    await c.stop()
    // writes keep coming to the swarm (c included) while c restarts: some reach c before its directory knows a and b.
    // Spread over 64 mailboxes: each mailbox's deposit budget holds at every member, whoever writes
    const keys = Array.from({ length: 64 }, () => MailboxKey.generate())
    let writing = true
    let written = 0
    const writer = (async () => {
      while (writing) {
        await a.swarm.storeMessage({ mailbox: keys[written % keys.length].publicKey, namespace: 0, ttlMs: 600_000, data: encoder.encode(`w${written}`) })
        written++
      }
    })()
    try {
      nodes[2] = await startNode(cConfig)
      const back = nodes[2]
      await until(() => back.libp2p.getConnections(a.peerId).length > 0 && back.swarm.membership.ring.size === 3, 10_000, 'the restarted member to rejoin')
      await until(async () => (await metric(back, 'ghostnode_swarm_peer_requests_total', '{op="put",status="unauthorized"}')) > 0 ||
        (await metric(back, 'ghostnode_swarm_peer_requests_total', '{op="put",status="ok"}')) > 20, 10_000, 'writes to reach the restarted member')
      const refusedEarly = await metric(back, 'ghostnode_swarm_peer_requests_total', '{op="put",status="unauthorized"}')
      const beforeStop = written
      await until(() => written >= beforeStop + 20, 10_000, 'more writes')
      writing = false
      await writer
      for (const peer of [a, b]) expect(back.limiter.isBanned(peer.peerId.toString()), `restarted member bans ${peer === a ? 'a' : 'b'}`).to.equal(false)
      await back.swarm.reconcileNow()
      let held = 0
      for (const key of keys) held += await countHeld(back, key.publicKey)
      expect(held).to.equal(written)
      console.log(`      ${written} writes; the restarted member refused ${refusedEarly} of them before it knew the writer`)
    } finally {
      writing = false
      await writer.catch(() => {})
    }
  })

  it('anti-entropy on its timer repairs a write a member refused (R = 3)', async () => {
    nodes = await startNetwork(dir, 3, () => swarmConfig({ reconcileIntervalMs: 1_000 }))
    await allRings(3)
    const [a, , c] = nodes
    const key = MailboxKey.generate()
    // c refuses writes for a moment (full), then recovers
    const put = c.swarm.local.put.bind(c.swarm.local)
    let refused = 0
    c.swarm.local.put = async () => { refused++; throw new NodeFullError(0) }
    const out = await a.swarm.storeMessage({ mailbox: key.publicKey, namespace: 0, ttlMs: 600_000, data: encoder.encode('missed') })
    expect(out.members).to.not.include(c.peerId.toString())
    // the write to c may still be on its way after the quorum answered: restore c only once it refused it
    await until(() => refused === 1, 5_000, 'c to refuse the write')
    expect(await c.swarm.store.has(key.publicKey, out.record.hash)).to.equal(false)
    c.swarm.local.put = put
    await until(async () => c.swarm.store.has(key.publicKey, out.record.hash), 10_000, 'anti-entropy to repair the copy')
    // the pusher counts its PUT once the answer is back, which may be a moment after c stored it
    const repaired = async (): Promise<number> => {
      const pulled = (await c.swarm.metrics.syncRecords.get()).values.find(v => v.labels.action === 'pulled')?.value ?? 0
      const pushed = (await Promise.all(nodes.map(async n => (await n.swarm.metrics.syncRecords.get()).values.find(v => v.labels.action === 'pushed')?.value ?? 0)))
      return pulled + pushed.reduce((x, y) => x + y, 0)
    }
    await until(async () => await repaired() >= 1, 5_000, 'anti-entropy to count the record it moved')
    expect(await repaired()).to.be.at.least(1)
  })

  describe('a joining node (R = 1, 2 → 3 nodes)', () => {
    /**
     * Two nodes, then a third whose identity exists beforehand, and a mailbox
     * that provably moves: owned by the first node on the 2-node ring, by the
     * newcomer on the 3-node ring.
     */
    async function setup (): Promise<{ a: Ghostnode, b: Ghostnode, newcomerConfig: GhostnodeConfig, key: MailboxKey, hashes: Uint8Array[] }> {
      const over = swarmConfig({ replicas: 1, reconcileIntervalMs: NO_TIMER_MS })
      nodes = await startNetwork(dir, 2, () => over)
      await allRings(2)
      const [a, b] = nodes
      // the newcomer joins the same network: it names the same authorities (a and b)
      const newcomerConfig = testConfig(dir, 'newcomer', {
        ...over,
        bootstrap: [a.getMultiaddrs()[0].toString()],
        directory: { fetchIntervalMs: 1_000 } as any,
        network: { authorities: authoritiesOf([a.peerId.toString(), b.peerId.toString()]) } as any
      })
      const newcomerId = peerIdFromPrivateKey((await loadOrCreateIdentity(newcomerConfig.dataDir)).privateKey).toString()
      const before = new HashRing({ nodes: [a.peerId.toString(), b.peerId.toString()] })
      const after = new HashRing({ nodes: [a.peerId.toString(), b.peerId.toString(), newcomerId] })
      let key: MailboxKey
      do key = MailboxKey.generate()
      while (before.swarmFor(key.publicKey, 1)[0] !== a.peerId.toString() || after.swarmFor(key.publicKey, 1)[0] !== newcomerId)
      const hashes: Uint8Array[] = []
      for (let i = 0; i < 3; i++) {
        const out = await b.swarm.storeMessage({ mailbox: key.publicKey, namespace: 0, ttlMs: 600_000, data: encoder.encode(`m${i}`) })
        expect(out.members).to.deep.equal([a.peerId.toString()])
        hashes.push(out.record.hash)
      }
      expect(await countHeld(a, key.publicKey)).to.equal(3)
      return { a, b, newcomerConfig, key, hashes }
    }

    it('pulls the range it takes over and serves it; the old holder purges after the handover', async () => {
      const { a, b, newcomerConfig, key } = await setup()
      const newcomer = await startNode(newcomerConfig)
      nodes.push(newcomer)
      await allRings(3)
      // the ring change alone drives it: the newcomer pulls, the old holder hands over and purges
      // (a handover follow-up may land before the newcomer's own pull is done: both are waited for)
      await until(async () => await countHeld(newcomer, key.publicKey) === 3 && await countHeld(a, key.publicKey) === 0 &&
        newcomer.swarm.sync.isReady(key.publicKey), 15_000, 'the handover and the newcomer ready')
      const timestamp = Date.now()
      const auth = { timestamp, signature: key.sign(authMessage(retrieveFields(key.publicKey, 0, timestamp))) }
      const page = await b.swarm.retrieve(key.publicKey, 0, { maxBytes: 1 << 20, auth })
      expect(page.records.map(r => new TextDecoder().decode(r.data)).sort()).to.deep.equal(['m0', 'm1', 'm2'])
    })

    it('the old holder keeps the mailbox until the new owner confirms holding all of it', async () => {
      const { a, newcomerConfig, key, hashes } = await setup()
      // the newcomer cannot store anything yet (its disk is "full")
      const newcomer = await createGhostnode(newcomerConfig, { libp2pMetrics: false })
      nodes.push(newcomer)
      const put = newcomer.swarm.local.put.bind(newcomer.swarm.local)
      newcomer.swarm.local.put = async () => { throw new NodeFullError(0) }
      await newcomer.start()
      await allRings(3)
      const refused = await a.swarm.reconcileNow()
      expect(refused.pending).to.equal(1)
      expect(refused.purged).to.equal(0)
      expect(await countHeld(a, key.publicKey)).to.equal(3)
      expect(await countHeld(newcomer, key.publicKey)).to.equal(0)

      newcomer.swarm.local.put = put
      await a.swarm.sync.idle()
      const confirmed = await a.swarm.reconcileNow()
      expect(confirmed.purged).to.equal(1)
      expect(await countHeld(a, key.publicKey)).to.equal(0)
      for (const h of hashes) expect(await newcomer.swarm.store.has(key.publicKey, h)).to.equal(true)
      const handoffs = (await a.swarm.metrics.handoffs.get()).values
      expect(handoffs.find(v => v.labels.outcome === 'pending')?.value).to.be.at.least(1)
      expect(handoffs.find(v => v.labels.outcome === 'confirmed')?.value).to.be.at.least(1)
    })
  })

  /** Three members hold one message; a and b delete it with the owner's signature while c misses the delete. */
  const deleteMissedByThird = async (): Promise<{ a: Ghostnode, b: Ghostnode, c: Ghostnode, key: MailboxKey, hash: Uint8Array }> => {
    nodes = await startNetwork(dir, 3, () => swarmConfig({ reconcileIntervalMs: NO_TIMER_MS }))
    await allRings(3)
    const [a, b, c] = nodes
    const key = MailboxKey.generate()
    const out = await a.swarm.storeMessage({ mailbox: key.publicKey, namespace: 0, ttlMs: 600_000, data: encoder.encode('to delete') })
    await until(async () => c.swarm.store.has(key.publicKey, out.record.hash), 5_000, 'the third copy')
    const del = c.swarm.local.delete.bind(c.swarm.local)
    c.swarm.local.delete = async () => { throw new NodeFullError(0) }
    const timestamp = Date.now()
    const auth = { timestamp, signature: key.sign(authMessage(deleteFields(key.publicKey, 0, timestamp, [out.record.hash]))) }
    expect(await a.swarm.coordinator.delete(key.publicKey, 0, [out.record.hash], auth)).to.equal(1)
    c.swarm.local.delete = del
    return { a, b, c, key, hash: out.record.hash }
  }

  it('passes a delete on to a member that missed it instead of copying the record back', async () => {
    const { a, b, c, key, hash } = await deleteMissedByThird()
    expect(await c.swarm.store.has(key.publicKey, hash)).to.equal(true)
    await c.swarm.reconcileNow()
    await a.swarm.reconcileNow()
    await b.swarm.reconcileNow()
    for (const n of nodes) expect(await n.swarm.store.has(key.publicKey, hash), n === c ? 'c' : 'a/b').to.equal(false)
  })

  it('keeps a delete when every member that saw it restarts before reconciling: tombstones are durable', async () => {
    const { a, b, c, key, hash } = await deleteMissedByThird()
    // both members that ran the delete restart before any reconciliation; c still holds the record
    const configs = [a.config, b.config]
    await a.stop()
    await b.stop()
    nodes[0] = await startNode(configs[0])
    nodes[1] = await startNode(configs[1])
    await allRings(3)
    await until(() => nodes[0].libp2p.getConnections(c.peerId).length > 0 && nodes[1].libp2p.getConnections(c.peerId).length > 0, 10_000, 'the restarted members to reach c')
    for (const n of [nodes[0], nodes[1]]) expect(n.swarm.tombstones.has(key.publicKey, hash), 'the tombstone is back after the restart').to.equal(true)
    await until(() => nodes.every(n => n.swarm.sync.ready), 10_000, 'every member ready')
    for (const n of nodes) await n.swarm.reconcileNow()
    for (const n of nodes) await n.swarm.sync.idle()
    for (const [i, n] of nodes.entries()) expect(await n.swarm.store.has(key.publicKey, hash), `node ${i + 1}`).to.equal(false)
  })
})
