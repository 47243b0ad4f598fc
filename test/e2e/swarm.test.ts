import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { isEd25519PublicKey } from '../../src/crypto/ed25519.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { ExitError } from '../../src/onion/circuit-errors.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { ExitService, ExitStatus, ExitStatusError, type ExitHandler } from '../../src/onion/exit.js'
import { MailboxKey, authMessage, deleteAllFields } from '../../src/swarm/auth.js'
import { SwarmOp } from '../../src/swarm/peer/protocol.js'
import { ReplayedRequestError } from '../../src/swarm/service-errors.js'
import { retrieveBody } from '../../src/swarm/exit/client-ops.js'
import { SwarmExitOp, decodeSwarmExitRequest, encodeSwarmExitRequest, signedFieldsOf } from '../../src/swarm/exit/exit-protocol.js'
import { SwarmStatus } from '../../src/swarm/status.js'
import { metric, stopAll } from '../helpers/nodes.js'
import { startNetwork, until } from '../helpers/network.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const MAILBOX_QUOTA_RECORDS = 3

async function exitStatus (work: Promise<unknown>): Promise<number> {
  const err = await work.then(() => undefined, (e: unknown) => e)
  expect(err, 'the request should have been refused').to.be.instanceOf(ExitError)
  return (err as ExitError).status
}

/** Re-signs a signed request body with `signer` (the wrong key) or corrupts its signature. */
function tamper (body: Uint8Array, how: { signer?: MailboxKey, flip?: boolean }): Uint8Array {
  const req = decodeSwarmExitRequest(body)
  if (req.op === SwarmExitOp.STORE) throw new Error('not signed')
  const signature = how.signer != null ? how.signer.sign(authMessage(signedFieldsOf(req))) : req.signature.slice()
  if (how.flip === true) signature[0] ^= 0x80
  return encodeSwarmExitRequest({ ...req, signature })
}

describe('swarm mailboxes through onion circuits (3 nodes, R = 3)', function () {
  this.timeout(30_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let sender: GhostClient
  let owner: GhostClient
  let clockOffset = 0
  const now = (): number => Date.now() + clockOffset

  before(async () => {
    dir = await makeTempDir()
    nodes = await startNetwork(dir, 3, () => ({ swarm: { ...DEFAULT_CONFIG.swarm, mailboxQuotaRecords: MAILBOX_QUOTA_RECORDS } }), now)
    await until(() => nodes.every(n => n.swarm.membership.ring.size === 3 && n.swarm.sync.ready), 10_000, 'every ring to hold 3 ready members')
    const bootstrap = [nodes[0].getMultiaddrs()[0].toString()]
    sender = await GhostClient.create({ bootstrap })
    owner = await GhostClient.create({ bootstrap: [nodes[1].getMultiaddrs()[0].toString()] })
  })
  after(async () => {
    await sender?.stop()
    await owner?.stop()
    await stopAll(nodes)
    await removeTempDir(dir)
  })

  const holders = async (mailbox: Uint8Array, hash: Uint8Array): Promise<number> =>
    (await Promise.all(nodes.map(async n => n.swarm.store.has(mailbox, hash)))).filter(Boolean).length

  it('delivers a message sent through one 3-hop circuit to its owner through another, and keeps it on all three nodes', async () => {
    const key = MailboxKey.generate()
    const receipt = await sender.store(key.publicKey, encoder.encode('hello, offline friend'), { raw: true, ttlMs: 600_000 })
    expect(receipt.stored).to.equal(true)
    // acknowledged after W = 2 (majority of 3) durable copies, and those members are named
    expect(receipt.members.length).to.be.at.least(2)
    for (const m of receipt.members) expect(nodes.map(n => n.peerId.toString())).to.include(m)
    await until(async () => await holders(key.publicKey, receipt.hash) === 3, 5_000, 'the third copy')

    const senderCircuit = await sender.circuit()
    const page = await owner.retrieve(key)
    const ownerCircuit = await owner.circuit()
    expect(ownerCircuit.path.map(String)).to.have.length(3)
    expect(ownerCircuit).to.not.equal(senderCircuit)
    expect(page.messages.map(m => decoder.decode(m.data))).to.deep.equal(['hello, offline friend'])
    expect(hex(page.messages[0].hash)).to.equal(hex(receipt.hash))
    expect(page.cursor).to.equal(undefined)
  })

  it('refuses retrieve and delete signed by a wrong key, with a bad signature, or 61 s old', async () => {
    const key = MailboxKey.generate()
    const thief = MailboxKey.generate()
    const { hash } = await sender.store(key.publicKey, encoder.encode('secret'), { raw: true, ttlMs: 600_000 })
    const swarm = async (body: Uint8Array): Promise<Uint8Array> => owner.request(ExitService.SWARM, body)

    expect(await exitStatus(swarm(tamper(retrieveBody(key), { signer: thief })))).to.equal(SwarmStatus.BAD_SIGNATURE)
    expect(await exitStatus(swarm(tamper(retrieveBody(key), { flip: true })))).to.equal(SwarmStatus.BAD_SIGNATURE)
    expect(await exitStatus(owner.retrieve(key, { timestamp: Date.now() - 61_000 }))).to.equal(SwarmStatus.STALE_TIMESTAMP)
    // the thief's own, correctly signed request reads the thief's (empty) mailbox, never the victim's
    expect((await owner.retrieve(thief)).messages).to.deep.equal([])

    expect(await exitStatus(owner.delete(key, [hash], { timestamp: Date.now() - 61_000 }))).to.equal(SwarmStatus.STALE_TIMESTAMP)
    const deleteAsThief = encodeSwarmExitRequest({ op: SwarmExitOp.DELETE, mailbox: key.publicKey, namespace: 0, timestamp: Date.now(), hashes: [hash], signature: new Uint8Array(64) })
    expect(await exitStatus(swarm(tamper(deleteAsThief, { signer: thief })))).to.equal(SwarmStatus.BAD_SIGNATURE)
    expect(await exitStatus(owner.deleteAll(key, { timestamp: Date.now() - 61_000 }))).to.equal(SwarmStatus.STALE_TIMESTAMP)
    // nothing was deleted
    expect(await holders(key.publicKey, hash)).to.be.at.least(2)
    expect((await owner.retrieve(key)).messages).to.have.length(1)
    const refused = await Promise.all(nodes.map(async n => metric(n, 'ghostnode_swarm_requests_total', '{op="retrieve",outcome="unauthorized"}')))
    expect(refused.reduce((a, b) => a + b, 0)).to.equal(3)
  })

  it('refuses an oversized message, a TTL out of bounds and a full mailbox, each with its own status, storing nothing', async () => {
    const key = MailboxKey.generate()
    const limits = DEFAULT_CONFIG.swarm
    expect(await exitStatus(sender.store(key.publicKey, new Uint8Array(limits.maxMessageBytes + 1), { raw: true }))).to.equal(SwarmStatus.MESSAGE_TOO_LARGE)
    expect(await exitStatus(sender.store(key.publicKey, Uint8Array.of(1), { raw: true, ttlMs: limits.minTtlMs - 1 }))).to.equal(SwarmStatus.TTL_OUT_OF_BOUNDS)
    expect(await exitStatus(sender.store(key.publicKey, Uint8Array.of(1), { raw: true, ttlMs: limits.maxTtlMs + 1 }))).to.equal(SwarmStatus.TTL_OUT_OF_BOUNDS)
    // a TTL whose expiry would overflow is a TTL out of bounds too, not a malformed record
    expect(await exitStatus(sender.store(key.publicKey, Uint8Array.of(1), { raw: true, ttlMs: Number.MAX_SAFE_INTEGER }))).to.equal(SwarmStatus.TTL_OUT_OF_BOUNDS)
    for (const n of nodes) expect((await n.swarm.store.usage(key.publicKey)).records).to.equal(0)
    // 32 bytes that are no Ed25519 key: nobody could ever sign a read or delete of that mailbox
    let notAKey: Uint8Array
    do notAKey = randomBytes(32)
    while (isEd25519PublicKey(notAKey))
    expect(await exitStatus(sender.store(notAKey, Uint8Array.of(1), { raw: true }))).to.equal(ExitStatus.BAD_REQUEST)
    for (const n of nodes) expect((await n.swarm.store.usage(notAKey)).records).to.equal(0)

    const hashes: Uint8Array[] = []
    for (let i = 0; i < MAILBOX_QUOTA_RECORDS; i++) hashes.push((await sender.store(key.publicKey, Uint8Array.of(i), { raw: true })).hash)
    await until(async () => (await Promise.all(hashes.map(async h => holders(key.publicKey, h)))).every(n => n === 3), 5_000, 'all copies')
    const full = await exitStatus(sender.store(key.publicKey, Uint8Array.of(99), { raw: true }))
    expect(full).to.equal(SwarmStatus.MAILBOX_FULL)
    for (const n of nodes) expect((await n.swarm.store.usage(key.publicKey)).records).to.equal(MAILBOX_QUOTA_RECORDS)
    const quota = await Promise.all(nodes.map(async n => metric(n, 'ghostnode_swarm_quota_rejections_total', '{kind="mailbox_records"}')))
    expect(quota.reduce((a, b) => a + b, 0)).to.be.at.least(2)
  })

  it('stores a duplicate once and only extends its expiry', async () => {
    const key = MailboxKey.generate()
    const first = await sender.store(key.publicKey, encoder.encode('same'), { raw: true, ttlMs: 60_000 })
    await until(async () => await holders(key.publicKey, first.hash) === 3, 5_000, 'all copies')
    const second = await sender.store(key.publicKey, encoder.encode('same'), { raw: true, ttlMs: 120_000 })
    expect(second.stored).to.equal(false)
    expect(hex(second.hash)).to.equal(hex(first.hash))
    expect(second.expiry).to.be.greaterThan(first.expiry)
    for (const n of nodes) expect((await n.swarm.store.usage(key.publicKey)).records).to.equal(1)
    expect((await owner.retrieve(key)).messages).to.have.length(1)
  })

  it('deletes a message from every member when its owner asks', async () => {
    const key = MailboxKey.generate()
    const a = await sender.store(key.publicKey, encoder.encode('a'), { raw: true })
    const b = await sender.store(key.publicKey, encoder.encode('b'), { raw: true })
    await until(async () => await holders(key.publicKey, a.hash) === 3 && await holders(key.publicKey, b.hash) === 3, 5_000, 'all copies')
    expect(await owner.delete(key, [a.hash])).to.equal(1)
    expect(await holders(key.publicKey, a.hash)).to.equal(0)
    expect((await owner.retrieve(key)).messages.map(m => decoder.decode(m.data))).to.deep.equal(['b'])
    expect(await owner.deleteAll(key)).to.equal(1)
    expect(await holders(key.publicKey, b.hash)).to.equal(0)
  })

  it('a replayed DELETE_ALL spares messages stored after it, at the exit and at every replica', async () => {
    const key = MailboxKey.generate()
    await sender.store(key.publicKey, encoder.encode('before'), { raw: true })
    const signedAt = now()
    expect(await owner.deleteAll(key, { timestamp: signedAt })).to.equal(1)
    await until(() => now() > signedAt, 1_000, 'the clock to move on')
    const later = await sender.store(key.publicKey, encoder.encode('after'), { raw: true })
    await until(async () => await holders(key.publicKey, later.hash) === 3, 5_000, 'all copies of the later message')
    // the same signed bytes again (Ed25519 is deterministic), through the same circuit: the exit answers
    // as the first time (1) and executes nothing
    const duplicates = async (): Promise<number> => (await Promise.all(nodes.map(async n => metric(n, 'ghostnode_swarm_requests_total', '{op="delete_all",outcome="duplicate"}')))).reduce((a, b) => a + b, 0)
    const before = await duplicates()
    expect(await owner.deleteAll(key, { timestamp: signedAt })).to.equal(1)
    expect(await duplicates()).to.equal(before + 1)
    // a member replaying the owner's signature to every replica: each refuses it as a replay, and even
    // its own replica (no check on the local path) removes only what was stored by the signed time: nothing
    const auth = { timestamp: signedAt, signature: key.sign(authMessage(deleteAllFields(key.publicKey, undefined, signedAt))) }
    for (const n of nodes) expect(await n.swarm.coordinator.deleteAll(key.publicKey, undefined, auth)).to.equal(0)
    const replayed = await nodes[0].swarm.peers.delete(nodes[1].peerId.toString(), { op: SwarmOp.DELETE_ALL, mailbox: key.publicKey, auth }).catch(e => e)
    expect(replayed).to.be.instanceOf(ReplayedRequestError)
    expect(await holders(key.publicKey, later.hash)).to.equal(3)
    expect((await owner.retrieve(key)).messages.map(m => decoder.decode(m.data))).to.deep.equal(['after'])
  })

  it('answers a signed cursor whose timestamp is past 2^53 with INVALID_CURSOR', async () => {
    const key = MailboxKey.generate()
    await sender.store(key.publicKey, encoder.encode('x'), { raw: true })
    const cursor = new Uint8Array(41).fill(0xff)
    cursor[0] = 1
    expect(await exitStatus(owner.retrieve(key, { cursor }))).to.equal(SwarmStatus.INVALID_CURSOR)
  })

  it('pages a mailbox by cursor within the byte budget', async () => {
    const key = MailboxKey.generate()
    const bodies = [1, 2, 3].map(i => new Uint8Array(2_000).fill(i))
    for (const body of bodies) await sender.store(key.publicKey, body, { raw: true })
    const seen: number[] = []
    let cursor: Uint8Array | undefined
    let pages = 0
    do {
      const page = await owner.retrieve(key, { maxBytes: 2_100, ...(cursor != null ? { cursor } : {}) })
      seen.push(...page.messages.map(m => m.data[0]))
      cursor = page.cursor
      pages++
    } while (cursor != null && pages < 10)
    expect(seen).to.deep.equal([1, 2, 3])
    expect(pages).to.equal(3)
  })

  it('hides and sweeps expired messages', async () => {
    const key = MailboxKey.generate()
    const { hash } = await sender.store(key.publicKey, encoder.encode('short-lived'), { raw: true, ttlMs: 10_000 })
    await until(async () => await holders(key.publicKey, hash) === 3, 5_000, 'all copies')
    clockOffset += 11_000
    expect((await owner.retrieve(key)).messages).to.deep.equal([])
    for (const n of nodes) await n.swarm.store.sweepExpired()
    for (const n of nodes) expect((await n.swarm.store.usage(key.publicKey)).records).to.equal(0)
    expect((await Promise.all(nodes.map(async n => metric(n, 'ghostnode_swarm_swept_total')))).every(v => v >= 1)).to.equal(true)
  })

  it('refuses a deposit flood into one mailbox once the mailbox budget is spent', async () => {
    const key = MailboxKey.generate()
    // default budget per mailbox: a burst of 50 deposits, then 5/s; one client's circuit reaches one exit
    const statuses = await Promise.all(Array.from({ length: 70 }, async (_, i) =>
      sender.store(key.publicKey, Uint8Array.of(i), { raw: true, ttlMs: 60_000 }).then(() => ExitStatus.OK as number, (e: ExitError) => e.status)))
    const count = (status: number): number => statuses.filter(s => s === status).length
    expect(count(ExitStatus.OK)).to.equal(MAILBOX_QUOTA_RECORDS)
    expect(count(ExitStatus.RATE_LIMITED)).to.be.at.least(10)
    expect(count(ExitStatus.OK) + count(SwarmStatus.MAILBOX_FULL) + count(ExitStatus.RATE_LIMITED)).to.equal(70)
  })

  it('retries a swarm request the swarm answers SWARM_UNAVAILABLE, then reports it once the retry window ends', async () => {
    const originals = nodes.map(n => n.exits.handler(ExitService.SWARM) as ExitHandler)
    let refusals = 2
    let seen = 0
    const unavailableFirst = (i: number): ExitHandler => async (body, context) => {
      seen++
      if (refusals > 0) {
        refusals--
        throw new ExitStatusError(SwarmStatus.SWARM_UNAVAILABLE, 'swarm members are still pulling this mailbox; retry shortly')
      }
      return originals[i](body, context)
    }
    nodes.forEach((n, i) => { n.exits.register(ExitService.SWARM, 'swarm', unavailableFirst(i)) })
    try {
      const key = MailboxKey.generate()
      const receipt = await sender.store(key.publicKey, encoder.encode('after two refusals'), { raw: true, ttlMs: 60_000 })
      expect(receipt.members.length).to.be.at.least(2)
      expect(seen, 'two refusals, then the stored attempt').to.equal(3)
      // a signed read is signed afresh per attempt and still accepted
      refusals = 2
      const page = await owner.retrieve(key)
      expect(page.messages.map(m => decoder.decode(m.data))).to.deep.equal(['after two refusals'])

      const impatient = await GhostClient.create({ bootstrap: [nodes[2].getMultiaddrs()[0].toString()], swarmUnavailableRetryMs: 0 })
      try {
        refusals = 1
        expect(await exitStatus(impatient.retrieve(key))).to.equal(SwarmStatus.SWARM_UNAVAILABLE)
      } finally {
        await impatient.stop()
      }
    } finally {
      nodes.forEach((n, i) => { n.exits.register(ExitService.SWARM, 'swarm', originals[i]) })
    }
  })
})
