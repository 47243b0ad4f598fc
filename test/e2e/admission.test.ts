import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import { runOutsider } from '../../harness/attacks/outsider-process.js'
import { runCli } from '../../src/cli/program.js'
import { MemberFlag } from '../../src/membership/constants.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { HashRing } from '../../src/swarm/ring.js'
import { startNetwork, until, waitForMembers } from '../helpers/network.js'
import { authoritiesOf, prepareIdentities, startNode, stopAll, testConfig } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

const encoder = new TextEncoder()

/** The error a promise rejects with, or undefined when it resolves. */
async function failure (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
    return undefined
  } catch (err) {
    return err
  }
}
const PROBATION_MS = 4_000

describe('admission: joining a network and what strangers can make a node dial', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let client: GhostClient | undefined
  const servers: Server[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    await stopAll(nodes)
    nodes = []
    for (const s of servers.splice(0)) await new Promise(resolve => s.close(resolve))
    await removeTempDir(dir)
  })

  it('admits a new relay as a middle hop, then after probation as guard, exit and swarm member that takes over its mailboxes', async () => {
    const admission = { probationMs: PROBATION_MS } as any
    nodes = await startNetwork(dir, 3, () => ({ network: { admission } as any, swarm: { replicas: 1, reconcileIntervalMs: 1_000 } as any }))
    await until(() => nodes.every(n => n.swarm.membership.ring.size === 3), 10_000, 'every ring to hold the three authorities')
    const [a] = nodes
    const [newcomerId] = await prepareIdentities(dir, ['newcomer'])
    const authorities = authoritiesOf(nodes.map(n => n.peerId.toString()))
    // a mailbox the newcomer will own once it is on the ring (R = 1)
    const before = new HashRing({ nodes: nodes.map(n => n.peerId.toString()) })
    const after = new HashRing({ nodes: [...nodes.map(n => n.peerId.toString()), newcomerId] })
    let key: MailboxKey
    do key = MailboxKey.generate()
    while (after.swarmFor(key.publicKey, 1)[0] !== newcomerId)
    const owner = before.swarmFor(key.publicKey, 1)[0]
    await a.swarm.storeMessage({ mailbox: key.publicKey, namespace: 0, ttlMs: 600_000, data: encoder.encode('waiting for the newcomer') })

    const started = Date.now()
    const newcomer = await startNode(testConfig(dir, 'newcomer', {
      bootstrap: [a.getMultiaddrs()[0].toString()],
      network: { authorities, admission } as any,
      swarm: { replicas: 1, reconcileIntervalMs: 1_000 } as any,
      directory: { fetchIntervalMs: 1_000 } as any
    }))
    nodes.push(newcomer)
    await waitForMembers(nodes, 4)
    const admittedAfterMs = Date.now() - started
    // admitted: a middle hop at once, nothing more during probation
    const flags = a.libp2p.services.membership.view.flags(newcomerId)
    expect(flags).to.equal(MemberFlag.RELAY)
    expect(nodes.every(n => n.swarm.membership.ring.size === 3)).to.equal(true)

    client = await GhostClient.create({ bootstrap: [a.getMultiaddrs()[0].toString()], hops: 3 })
    await until(async () => { await client!.refreshDirectory(); return client!.records().some(r => r.peerId.toString() === newcomerId) }, 10_000, 'the client to know the newcomer')
    const middle = client.records().find(r => r.peerId.toString() === newcomerId)!
    const exit = client.records().find(r => r.peerId.toString() !== newcomerId && !r.peerId.equals(a.peerId))!
    const guard = client.records().find(r => r.peerId.equals(a.peerId))!
    const viaNewcomer = await client.buildCircuit({ path: [guard, middle, exit] })
    expect((await viaNewcomer.request(Uint8Array.of(1, 7))).status).to.equal(0)
    const firstCircuitAfterMs = Date.now() - started
    viaNewcomer.close()

    // after probation: guard, exit and swarm member on every node's ring, and the mailbox moves to it
    await until(() => nodes.every(n => n.swarm.membership.ring.size === 4), 20_000, 'every ring to take in the newcomer')
    expect(a.libp2p.services.membership.view.flags(newcomerId)).to.equal(MemberFlag.RELAY | MemberFlag.GUARD | MemberFlag.EXIT | MemberFlag.SWARM)
    await until(async () => newcomer.swarm.store.stats().records === 1, 20_000, 'the newcomer to hold its mailbox')
    const firstDataAfterMs = Date.now() - started
    await until(async () => nodes.find(n => n.peerId.toString() === owner)!.swarm.store.stats().records === 0, 20_000, 'the old owner to hand it over')
    console.log(`      newcomer admitted after ${admittedAfterMs} ms, first circuit through it after ${firstCircuitAfterMs} ms, first swarm data after ${firstDataAfterMs} ms (probation ${PROBATION_MS} ms, periods 1 s)`)
  })

  it('drops a member two of three authorities deny with `ghostnode authority deny`, without a restart', async () => {
    nodes = await startNetwork(dir, 4)
    const victim = nodes[3].peerId.toString()
    for (const authority of nodes.slice(0, 2)) {
      const out = { line: (_: string) => {}, error: (_: string) => {} }
      expect(await runCli(['authority', 'deny', victim, '--data-dir', authority.config.dataDir], out)).to.equal(0)
    }
    expect(await runCli(['authority', 'deny', 'not-a-peer', '--data-dir', nodes[0].config.dataDir], { line: () => {}, error: () => {} })).to.equal(2)
    await until(() => nodes.slice(0, 3).every(n => !n.libp2p.services.membership.view.isMember(victim)), 15_000, 'the denied relay to leave the document')
    await until(() => nodes.slice(0, 3).every(n => n.libp2p.services.directory.get(victim) == null && n.swarm.membership.ring.size === 3), 5_000, 'directories and rings to drop it')
  })

  it('never dials a stranger\'s /unix or loopback address on a network that does not allow them', async () => {
    const sock = join(dir, 'honeypot.sock')
    let connections = 0
    for (const listen of [(s: Server) => s.listen(sock), (s: Server) => s.listen(0, '127.0.0.1')]) {
      const server = createServer((c) => { connections++; c.destroy() })
      servers.push(server)
      await new Promise<void>(resolve => { server.once('listening', resolve); listen(server) })
    }
    const port = (servers[1].address() as { port: number }).port
    // a one-node network with the default address policy: no loopback, no private ranges
    const node = await startNode(testConfig(dir, 'strict', { network: { allowPrivateAddresses: false } as any }))
    nodes.push(node)
    const bait = [`/unix/${encodeURIComponent(sock)}`, `/ip4/127.0.0.1/tcp/${port}`, `/ip4/10.0.0.1/tcp/${port}`]
    const result = await runOutsider(['--mode', 'swarm', '--target', node.getMultiaddrs()[0].toString(), '--mailbox', '00'.repeat(32), '--puts', '0',
      ...bait.flatMap(a => ['--addr', a])])
    const stranger = peerIdFromString(result.peerId)
    // the authority took it as a candidate and probes candidates every period
    const period = node.libp2p.services.membership.view.period
    await until(() => node.libp2p.services.membership.view.period >= period + 3, 10_000, 'three membership periods')
    expect(node.libp2p.services.membership.view.isMember(result.peerId)).to.equal(false)
    // a relay asked to extend to it finds no address; a dial at the bait is refused by the gater
    expect(await failure(node.libp2p.services.links.getLink(stranger))).to.be.instanceOf(Error)
    await node.libp2p.peerStore.merge(stranger, { multiaddrs: bait.map(a => multiaddr(a)) })
    for (const addr of bait) {
      expect(await failure(node.libp2p.dial(multiaddr(`${addr}/p2p/${result.peerId}`), { signal: AbortSignal.timeout(3_000) })), addr).to.be.instanceOf(Error)
    }
    expect(await failure(node.libp2p.dial(stranger, { signal: AbortSignal.timeout(3_000) }))).to.be.instanceOf(Error)
    expect(connections).to.equal(0)
  })
})
