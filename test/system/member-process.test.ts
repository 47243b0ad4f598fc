import { readFile } from 'node:fs/promises'
import { expect } from 'chai'
import { runMember } from '../../harness/attacks/outsider-process.js'
import { fetchMetrics, metricValue } from '../../harness/flood/node-http.js'
import { getJson, waitUntil } from '../../harness/testnet/ready.js'
import { startTestnet, type Testnet, type TestnetNode } from '../../harness/testnet/testnet.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { DEFAULT_MAX_QUEUED_BYTES, DEFAULT_MAX_RSS_BYTES } from '../../src/config/defaults.js'
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

async function rssOf (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1]
  return kb === undefined ? 0 : Number(kb) * 1024
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

  it('reads nothing, deletes nothing, watches nothing, pushes no altered record and stores no more than the mailbox\'s deposit budget without the owner\'s signature', async () => {
    if (net == null || client == null) throw new Error('no testnet')
    const victim = MailboxKey.generate()
    const secrets = Array.from({ length: 8 }, (_, i) => `secret ${i}`)
    for (const s of secrets) await client.store(victim.publicKey, encoder.encode(s), { raw: true, ttlMs: 600_000 })
    const rogue = net.nodes[3]
    await net.kill(3)
    const targets = net.nodes.slice(0, 3).map(tcpAddr)
    const result = await runMember(['--identity-dir', rogue.dataDir, '--target', targets.join(','), '--mailbox', Buffer.from(victim.publicKey).toString('hex'), '--puts', '300'], 90_000)
    let accepted = 0
    for (const r of result.results) {
      expect(r.get, `GET on ${r.target}`).to.equal(SwarmStatus.BAD_SIGNATURE)
      expect(r.deleteAll, `DELETE_ALL on ${r.target}`).to.equal(SwarmStatus.BAD_SIGNATURE)
      expect(r.watch, `WATCH on ${r.target}`).to.equal(SwarmStatus.BAD_SIGNATURE)
      // outside the mailbox's swarm a push is refused unread; inside, its hash is checked
      expect([SwarmPeerStatus.UNAUTHORIZED, SwarmStatus.INVALID_RECORD], `PUSH on ${r.target}`).to.include(r.push)
      const ok = r.puts[String(SwarmPeerStatus.OK)] ?? 0
      // the mailbox's budget there: the burst plus what refilled while the PUTs went on (the client's 8 stores spent some)
      const bound = DEFAULT_DEPOSIT_BURST + Math.ceil(DEFAULT_DEPOSITS_PER_SECOND * (r.putSeconds + 1))
      expect(ok, `PUTs accepted by ${r.target} in ${r.putSeconds} s`).to.be.at.most(bound)
      // the rest refused: over the mailbox's budget, or over the stream's in-flight bound (256)
      const refused = (r.puts[String(SwarmPeerStatus.RATE_LIMITED)] ?? 0) + (r.puts[String(SwarmPeerStatus.BUSY)] ?? 0)
      expect(refused, `PUTs refused by ${r.target}: ${JSON.stringify(r.puts)}`).to.equal(300 - ok)
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
    await client.store(owner.publicKey, encoder.encode('before'), { raw: true, ttlMs: 600_000 })
    const signedAt = Date.now()
    expect(await client.deleteAll(owner, { timestamp: signedAt })).to.equal(1)
    await new Promise(resolve => setTimeout(resolve, 5))
    await client.store(owner.publicKey, encoder.encode('after'), { raw: true, ttlMs: 600_000 })
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

  for (const fresh of [false, true]) {
    it(`40 connections pinning maximal partial swarm frames (${fresh ? 'fresh identities' : 'the member\'s own key'}) keep RSS under memory.maxRssBytes, and an honest client is served`, async () => {
      if (net == null || client == null) throw new Error('no testnet')
      const target = net.nodes[0]
      const mailbox = MailboxKey.generate()
      const shedBefore = metricValue(await fetchMetrics(target.httpUrl), 'ghostnode_memory_shed_total', '{action="stream_closed"}') ?? 0
      const baseline = await rssOf(target.pid)
      let peak = baseline
      let honest = 0
      let failed = 0
      let attacking = true
      let peakQueued = 0
      const sampler = (async () => {
        while (attacking) {
          peak = Math.max(peak, await rssOf(target.pid))
          peakQueued = Math.max(peakQueued, metricValue(await fetchMetrics(target.httpUrl), 'ghostnode_onion_queued_bytes') ?? 0)
          await new Promise(resolve => setTimeout(resolve, 200))
        }
      })()
      const load = (async () => {
        while (attacking) {
          try {
            await client!.store(mailbox.publicKey, encoder.encode(`during ${honest}`), { raw: true, ttlMs: 600_000 })
            honest++
          } catch {
            failed++
          }
          await new Promise(resolve => setTimeout(resolve, 300))
        }
      })()
      let result: Record<string, any>
      try {
        result = await runMember(['--identity-dir', net.nodes[3].dataDir, '--target', tcpAddr(target), '--pin-frames', '40', '--seconds', '15', ...(fresh ? ['--fresh'] : [])], 90_000)
      } finally {
        attacking = false
        await Promise.all([sampler, load])
      }
      const shed = (metricValue(await fetchMetrics(target.httpUrl), 'ghostnode_memory_shed_total', '{action="stream_closed"}') ?? 0) - shedBefore
      console.log(`      ${result.opened} streams opened (${result.refused} refused), ${(result.sentBytes / 2 ** 20).toFixed(0)} MiB sent, ${result.closedByTarget} closed by the node (${shed} by the memory budget); budget peak ${(peakQueued / 2 ** 20).toFixed(1)} MiB; RSS ${(baseline / 2 ** 20).toFixed(0)} MiB before, peak ${(peak / 2 ** 20).toFixed(0)} MiB; honest stores ${honest} ok, ${failed} failed`)
      expect(peak, 'RSS peak').to.be.below(DEFAULT_MAX_RSS_BYTES)
      expect(result.closedByTarget, 'streams the node closed (budget, frame cap or partial-frame timeout)').to.equal(result.opened)
      // a member's partial frames are charged to the 64 MiB budget (onion.maxQueuedBytes), which closes the
      // biggest holders past it; a stranger's never get past the 4 KiB read from strangers
      expect(peakQueued, 'memory charged to the budget').to.be.at.most(DEFAULT_MAX_QUEUED_BYTES)
      if (!fresh) expect(peakQueued, 'a member\'s partial frames are charged').to.be.greaterThan(4 * 2 ** 20)
      if (fresh) expect(shed).to.equal(0)
      expect(honest, 'honest stores during the attack').to.be.at.least(1)
      expect(failed).to.equal(0)
      expect((await client.retrieve(mailbox)).messages.length).to.equal(honest)
    })
  }
})
