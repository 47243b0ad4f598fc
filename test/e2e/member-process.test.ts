import { expect } from 'chai'
import { runMember } from '../../bench/attacks/outsider-process.js'
import { getJson, waitUntil } from '../../bench/testnet/ready.js'
import { startTestnet, type Testnet, type TestnetNode } from '../../bench/testnet/testnet.js'
import { GhostClient } from '../../src/onion/client.js'
import { DEFAULT_DEPOSIT_BURST, DEFAULT_DEPOSITS_PER_SECOND } from '../../src/ratelimit/config.js'
import { MailboxKey, authMessage, deleteAllFields } from '../../src/swarm/auth.js'
import { SwarmPeerStatus, SwarmStatus } from '../../src/swarm/status.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

function tcpAddr (node: TestnetNode): string {
  const addr = node.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (addr == null) throw new Error(`${node.name} reports no TCP address`)
  return addr
}

/**
 * A member the authorities admitted with every flag turns attacker (its
 * operator, or whoever stole its key) and speaks the swarm protocol from its
 * own process to the other members: admission made it a member, and that must
 * not be all that stands between a mailbox and loss (issue 13).
 */
describe('least privilege on a 4-node process testnet, attacked by a rogue member process', function () {
  this.timeout(120_000)
  let net: Testnet | undefined
  let client: GhostClient | undefined

  before(async () => {
    net = await startTestnet({ nodes: 4, basePort: 0, extraArgs: ['--set', 'directory.fetchIntervalMs=1000'] })
    // node4 through probation: a SWARM member of every node's ring
    await waitUntil('node4 to be a swarm member everywhere', async () => {
      const health = await Promise.all(net!.nodes.map(async n => (await getJson(`${n.httpUrl}/health`)).body))
      return health.every(h => h.swarmMembers === 4) ? true : undefined
    }, { timeoutMs: 60_000 })
    client = await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[0])] })
  })
  after(async () => {
    await client?.stop()
    await net?.stop()
  })

  it('reads nothing, deletes nothing and pushes no more than the mailbox\'s deposit budget without the owner\'s signature', async () => {
    if (net == null || client == null) throw new Error('no testnet')
    const victim = MailboxKey.generate()
    const secrets = Array.from({ length: 8 }, (_, i) => `secret ${i}`)
    for (const s of secrets) await client.store(victim.publicKey, encoder.encode(s), { ttlMs: 600_000 })
    const rogue = net.nodes[3]
    await net.kill(3)
    const targets = net.nodes.slice(0, 3).map(tcpAddr)
    const result = await runMember(['--identity-dir', rogue.dataDir, '--target', targets.join(','), '--mailbox', Buffer.from(victim.publicKey).toString('hex'), '--puts', '300'], 90_000)
    let accepted = 0
    for (const r of result.results) {
      expect(r.get, `GET on ${r.target}`).to.equal(SwarmStatus.BAD_SIGNATURE)
      expect(r.deleteAll, `DELETE_ALL on ${r.target}`).to.equal(SwarmStatus.BAD_SIGNATURE)
      const ok = r.puts[String(SwarmPeerStatus.OK)] ?? 0
      // the mailbox's budget there: the burst plus what refilled while the PUTs went on (the client's 8 stores spent some)
      const bound = DEFAULT_DEPOSIT_BURST + Math.ceil(DEFAULT_DEPOSITS_PER_SECOND * (r.putSeconds + 1))
      expect(ok, `PUTs accepted by ${r.target} in ${r.putSeconds} s`).to.be.at.most(bound)
      expect(r.puts[String(SwarmPeerStatus.RATE_LIMITED)], `PUTs refused by ${r.target}`).to.be.at.least(300 - bound)
      accepted += ok
      console.log(`      ${r.target.split('/p2p/')[0]}: 300 PUTs in ${r.putSeconds} s, ${ok} accepted (bound ${bound})`)
    }
    // the owner still reads every one of its messages, and the injected records are no more than were accepted
    const messages: string[] = []
    let cursor: Uint8Array | undefined
    do {
      const page = await client.retrieve(victim, cursor !== undefined ? { cursor } : {})
      messages.push(...page.messages.map(m => decoder.decode(m.data)))
      cursor = page.cursor
    } while (cursor !== undefined)
    for (const s of secrets) expect(messages).to.include(s)
    expect(messages.length - secrets.length).to.be.at.most(accepted)
  })

  it('a replayed DELETE_ALL is refused by the replicas that ran it and spares the message stored after it', async () => {
    if (net == null || client == null) throw new Error('no testnet')
    const owner = MailboxKey.generate()
    await client.store(owner.publicKey, encoder.encode('before'), { ttlMs: 600_000 })
    const signedAt = Date.now()
    expect(await client.deleteAll(owner, { timestamp: signedAt })).to.equal(1)
    await new Promise(resolve => setTimeout(resolve, 5))
    await client.store(owner.publicKey, encoder.encode('after'), { ttlMs: 600_000 })
    // the signed bytes an exit that carried the delete would hold (Ed25519 signatures are deterministic)
    const signature = owner.sign(authMessage(deleteAllFields(owner.publicKey, undefined, signedAt)))
    const targets = net.nodes.slice(0, 3).map(tcpAddr)
    const result = await runMember(['--identity-dir', net.nodes[3].dataDir, '--target', targets.join(','), '--mailbox', Buffer.from(owner.publicKey).toString('hex'),
      '--puts', '0', '--replay-delete-all', `${signedAt}:${Buffer.from(signature).toString('hex')}`], 60_000)
    const replays = result.results.map((r: any) => r.replay)
    // every live replica of the mailbox ran the original, and refuses the replay; a node outside its swarm holds nothing to delete
    expect(replays.filter((s: unknown) => s === SwarmStatus.REPLAYED).length, `replay statuses ${JSON.stringify(replays)}`).to.be.at.least(2)
    for (const s of replays) expect([SwarmStatus.REPLAYED, SwarmPeerStatus.OK]).to.include(s)
    expect((await client.retrieve(owner)).messages.map(m => decoder.decode(m.data))).to.deep.equal(['after'])
  })
})
