import { expect } from 'chai'
import { runOutsider } from '../../harness/attacks/outsider-process.js'
import { getJson, waitUntil } from '../../harness/testnet/ready.js'
import { startTestnet, type Testnet, type TestnetNode } from '../../harness/testnet/testnet.js'
import { fetchMetrics, metricValue } from '../../harness/flood/node-http.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { SwarmPeerStatus } from '../../src/swarm/status.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function tcpAddr (node: TestnetNode): string {
  const addr = node.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (addr == null) throw new Error(`${node.name} reports no TCP address`)
  return addr
}

async function healthOf (net: Testnet): Promise<any[]> {
  return Promise.all(net.nodes.map(async n => (await getJson(`${n.httpUrl}/health`)).body))
}

/**
 * Attacks written from docs/protocol.md, run by an outsider in its own process
 * against a 3-node process testnet whose three nodes are its authorities
 * (k = 2): a self-signed record must buy nothing.
 */
describe('admission on a 3-node process testnet, attacked by an outsider process', function () {
  this.timeout(90_000)
  let net: Testnet | undefined
  let client: GhostClient | undefined

  beforeEach(async () => {
    net = await startTestnet({ nodes: 3, basePort: 0, extraArgs: ['--set', 'directory.fetchIntervalMs=1000'] })
  })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    await net?.stop()
    net = undefined
  })

  it('gives a self-signed but unadmitted peer no read, delete or write over the swarm protocol', async () => {
    if (net == null) throw new Error('no testnet')
    client = await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[0])] })
    const victim = MailboxKey.generate()
    for (let i = 0; i < 8; i++) await client.store(victim.publicKey, encoder.encode(`secret ${i}`), { raw: true, ttlMs: 600_000 })

    for (const node of net.nodes) {
      const result = await runOutsider(['--mode', 'swarm', '--target', tcpAddr(node), '--mailbox', Buffer.from(victim.publicKey).toString('hex'), '--puts', '20'])
      expect(result.get, `GET on ${node.name}`).to.equal(SwarmPeerStatus.UNAUTHORIZED)
      expect(result.deleteAll, `DELETE_ALL on ${node.name}`).to.equal(SwarmPeerStatus.UNAUTHORIZED)
      expect(result.puts, `PUTs on ${node.name}`).to.deep.equal({ [String(SwarmPeerStatus.UNAUTHORIZED)]: 20 })
      // an authority files the pushed record as a candidate's (it lists no address, so it is never admitted)
      expect(result.pushed).to.equal('OK')
    }
    const page = await client.retrieve(victim)
    expect(page.messages.map(m => decoder.decode(m.data)).sort()).to.deep.equal(Array.from({ length: 8 }, (_, i) => `secret ${i}`))
    // two periods later it is still nobody
    const period = (await healthOf(net))[0].membership.period
    await waitUntil('two more membership periods', async () => (await healthOf(net!))[0].membership.period >= period + 2 ? true : undefined, { timeoutMs: 15_000 })
    for (const h of await healthOf(net)) {
      expect(h.directoryRecords).to.equal(3)
      expect(h.swarmMembers).to.equal(3)
      expect(h.membership.members).to.equal(3)
    }
  })

  it('leaves every directory and ring unchanged after a 1,000-record directory flood, and new clients keep working', async () => {
    if (net == null) throw new Error('no testnet')
    const before = await healthOf(net)
    const result = await runOutsider(['--mode', 'dir-flood', '--target', net.nodes.map(tcpAddr).join(','), '--records', '1000', '--seconds', '3'])
    expect(result.gets, 'every node fetched the flooder\'s directory').to.be.at.least(3)
    // pushing strangers' records is refused outright
    expect(result.pushes).to.deep.equal({ REJECTED: 150 })
    const after = await healthOf(net)
    for (const [i, h] of after.entries()) {
      expect(h.directoryRecords, net.nodes[i].name).to.equal(before[i].directoryRecords)
      expect(h.swarmMembers, net.nodes[i].name).to.equal(3)
      expect(h.membership.members, net.nodes[i].name).to.equal(3)
    }
    // each victim read a few records past the tolerance per reply, never the thousand, and checked no signature of them
    let unadmitted = 0
    for (const node of net.nodes) {
      const metrics = await fetchMetrics(node.httpUrl)
      unadmitted += metricValue(metrics, 'ghostnode_directory_records_rejected_total', '{reason="unadmitted"}') ?? 0
      expect(metricValue(metrics, 'ghostnode_directory_records_rejected_total', '{reason="bad_signature"}'), node.name).to.equal(0)
    }
    expect(unadmitted).to.be.at.least(3 * 9)
    expect(unadmitted).to.be.at.most(result.gets * 9 + 150)

    client = await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[1])] })
    expect(client.records()).to.have.length(3)
    expect(decoder.decode(await client.echo(encoder.encode('still here')))).to.equal('still here')
    const key = MailboxKey.generate()
    const receipt = await client.store(key.publicKey, encoder.encode('after the flood'), { raw: true, ttlMs: 600_000 })
    expect(receipt.members.length).to.be.at.least(2)
  })

  it('ignores a document admitting an outsider that one authority of three (its key stolen) signed and pushed', async () => {
    if (net == null) throw new Error('no testnet')
    const result = await runOutsider(['--mode', 'forge-document', '--target', tcpAddr(net.nodes[0]), '--authority-dir', net.nodes[2].dataDir])
    expect(result.status).to.equal('REJECTED')
    const metrics = await fetchMetrics(net.nodes[0].httpUrl)
    expect(metricValue(metrics, 'ghostnode_membership_documents_rejected_total', '{reason="too_few_signatures"}')).to.equal(1)
    for (const h of await healthOf(net)) expect(h.membership.members).to.equal(3)
  })

  it('keeps voting and serving with one of its three authorities down', async () => {
    if (net == null) throw new Error('no testnet')
    const [first] = await healthOf(net)
    await net.kill(2)
    // two of three authorities still make k = 2: new documents keep coming
    await waitUntil('a membership period after the kill on the two live authorities', async (state) => {
      const periods = await Promise.all(net!.nodes.slice(0, 2).map(async n => (await getJson(`${n.httpUrl}/health`)).body?.membership?.period))
      state.last = `periods ${periods.join(', ')}`
      return periods.every(p => p > first.membership.period + 2) ? true : undefined
    }, { timeoutMs: 20_000 })
    client = await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[0])], hops: 2, exclude: [net.nodes[2].peerId] })
    expect(decoder.decode(await client.echo(encoder.encode('two of three')))).to.equal('two of three')
  })
})
