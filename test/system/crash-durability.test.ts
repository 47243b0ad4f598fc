import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import { expect } from 'chai'
import { readMailbox } from '../../harness/lib/mailbox-check.js'
import { freePorts } from '../../harness/testnet/ports.js'
import { getJson } from '../../harness/testnet/ready.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { startGhostnode, stopGhostnode, type GhostnodeProcess } from '../../harness/lib/ghostnode-process.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

const KILLS = 20
const LANES = 4
const encoder = new TextEncoder()

describe('swarm store durability across SIGKILL of a ghostnode process', function () {
  this.timeout(90_000)
  let dir: string
  let node: GhostnodeProcess | undefined
  let client: GhostClient | undefined

  beforeEach(async () => {
    dir = await makeTempDir()
  })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    if (node != null) await stopGhostnode(node, 'SIGKILL')
    node = undefined
    await removeTempDir(dir)
  })

  it(`serves every acknowledged STORE after ${KILLS} SIGKILLs in the middle of write bursts`, async () => {
    const [tcp, http] = await freePorts(2)
    const dataDir = join(dir, 'node')
    const args = [
      '--listen', `/ip4/127.0.0.1/tcp/${tcp}`,
      '--http-host', '127.0.0.1',
      '--http-port', String(http),
      '--set', 'swarm.replicas=1',
      '--set', 'directory.minServeIntervalMs=0'
    ]
    const key = MailboxKey.generate()
    const acknowledged: string[] = []
    let sent = 0
    let peerId: string | undefined

    const start = async (): Promise<GhostClient> => {
      node = await startGhostnode({ dataDir, args })
      if (peerId != null) expect(node.peerId).to.equal(peerId)
      peerId = node.peerId
      // a fresh client each time: the previous one avoids the killed relay for a minute
      client = await GhostClient.create({ bootstrap: [node.addr], hops: 1, retries: 0, requestTimeoutMs: 5_000 })
      await client.circuit()
      return client
    }

    let c = await start()
    for (let round = 0; round < KILLS; round++) {
      const victim = node as GhostnodeProcess
      let killed = false
      const roundSent = { n: 0 }
      const roundAcked: string[] = []
      const lane = async (l: number): Promise<void> => {
        for (let seq = 0; !killed; seq++) {
          const text = `crash-${round}-${l}-${seq}`
          sent++
          roundSent.n++
          try {
            await c.store(key.publicKey, encoder.encode(text), { raw: true, ttlMs: 600_000 })
          } catch {
            return
          }
          roundAcked.push(text)
        }
      }
      const lanes = Array.from({ length: LANES }, async (_, l) => lane(l))
      const delayMs = randomInt(5, 51)
      await new Promise(resolve => setTimeout(resolve, delayMs))
      process.kill(victim.pid, 'SIGKILL')
      const exit = await victim.exited
      killed = true
      expect(exit.signal).to.equal('SIGKILL')
      await Promise.all(lanes)
      // a STORE whose ack arrived after the kill was acknowledged before it (the process is gone)
      acknowledged.push(...roundAcked)
      await c.stop()
      client = undefined

      c = await start()
      const health = await getJson(`${(node as GhostnodeProcess).httpUrl}/health`)
      expect(health.body?.status, JSON.stringify(health.body)).to.equal('ok')
      expect(health.body?.swarmRecords).to.be.at.least(acknowledged.length)
      const found = await readMailbox(c, key)
      const missing = acknowledged.filter(t => !found.has(t))
      console.log(`      kill ${round + 1} after ${delayMs} ms: this burst sent ${roundSent.n}, acknowledged ${roundAcked.length}; ` +
        `in total sent ${sent}, acknowledged ${acknowledged.length}, found ${found.size} (acknowledged and found ${acknowledged.length - missing.length})`)
      expect(missing, `acknowledged but missing after kill ${round + 1}`).to.deep.equal([])
    }
    expect(acknowledged.length, 'stores acknowledged over all bursts').to.be.greaterThan(0)
  })
})
