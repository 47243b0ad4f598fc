import { expect } from 'chai'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { GhostClient, type FetchedMessage } from '../../src/client/mailbox-client.js'
import { sealEnvelope } from '../../src/client/envelope.js'
import { EnvelopeContentError, EnvelopeOpenError } from '../../src/client/envelope-errors.js'
import { ExitError } from '../../src/onion/circuit-errors.js'
import { ExitService } from '../../src/onion/exit.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { subscribeBody } from '../../src/swarm/exit/client-ops.js'
import { SwarmStatus } from '../../src/swarm/status.js'
import { DEFAULT_MAX_SUBSCRIPTIONS_PER_CIRCUIT } from '../../src/swarm/subscriptions.js'
import { stopAll } from '../helpers/nodes.js'
import { startNetwork, until } from '../helpers/network.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()
const text = (m: FetchedMessage): string => decoder.decode(m.content)

/** Every replica's stored bytes for the mailbox, straight from each node's store. */
async function storedData (nodes: Ghostnode[], mailbox: Uint8Array): Promise<Uint8Array[]> {
  const out: Uint8Array[] = []
  for (const n of nodes) {
    if (n.health().status === 'stopped') continue
    const page = await n.swarm.store.retrieve(mailbox, 0, { maxBytes: 1024 * 1024 })
    out.push(...page.records.map(r => r.data))
  }
  return out
}

function contains (haystack: Uint8Array, needle: Uint8Array): boolean {
  return Buffer.from(haystack).includes(Buffer.from(needle))
}

/** Collects what a subscription yields until `count` messages came or it is aborted. */
function follow (client: GhostClient, key: MailboxKey, options: { since?: number } = {}): { messages: FetchedMessage[], stop: () => void, retries: Error[] } {
  const stopper = new AbortController()
  const messages: FetchedMessage[] = []
  const retries: Error[] = []
  void (async () => {
    for await (const m of client.subscribe(key, { ...options, waitMs: 5_000, signal: stopper.signal, onRetry: (err) => { retries.push(err) } })) messages.push(m)
  })()
  return { messages, stop: () => { stopper.abort() }, retries }
}

describe('sealed messages and live delivery through the swarm (4 nodes, R = 3)', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let sender: GhostClient
  let owner: GhostClient

  before(async () => {
    dir = await makeTempDir()
    nodes = await startNetwork(dir, 4, () => ({ swarm: { ...DEFAULT_CONFIG.swarm } }))
    await until(() => nodes.every(n => n.swarm.membership.ring.size === 4 && n.swarm.sync.ready), 15_000, 'every ring to hold 4 ready members')
    sender = await GhostClient.create({ bootstrap: [nodes[0].getMultiaddrs()[0].toString()] })
    owner = await GhostClient.create({ bootstrap: [nodes[1].getMultiaddrs()[0].toString()] })
  })
  after(async () => {
    await sender?.stop()
    await owner?.stop()
    await stopAll(nodes)
    await removeTempDir(dir)
  })

  it('seals by default: no replica holds the plaintext, the owner opens it and sees the verified sender', async () => {
    const key = MailboxKey.generate()
    const me = MailboxKey.generate()
    const plain = encoder.encode('meet at the usual place, 9pm')
    const receipt = await sender.store(key.publicKey, plain, { ttlMs: 600_000, from: me })
    expect(receipt.members.length).to.be.at.least(2)
    const copies = await storedData(nodes, key.publicKey)
    expect(copies.length).to.be.at.least(2)
    for (const data of copies) {
      expect(contains(data, plain), 'a replica holds the plaintext').to.equal(false)
      // padded to a size class: the length of the text is not what is stored
      expect(data.byteLength).to.equal(256)
    }
    const page = await owner.fetch(key)
    expect(page.messages).to.have.length(1)
    expect(page.messages[0].kind).to.equal('sealed')
    expect(text(page.messages[0])).to.equal('meet at the usual place, 9pm')
    expect(Buffer.from(page.messages[0].sender!).equals(me.publicKey)).to.equal(true)
  })

  it('reports what it cannot open: sealed to another mailbox, tampered, or a forged sender signature', async () => {
    const key = MailboxKey.generate()
    const other = MailboxKey.generate()
    const impostor = MailboxKey.generate()
    // sealed to `other` but deposited in `key`'s mailbox
    await sender.store(key.publicKey, sealEnvelope(other.publicKey, encoder.encode('not yours')), { raw: true })
    // one ciphertext bit flipped
    const tampered = sealEnvelope(key.publicKey, encoder.encode('changed on the way'))
    tampered[60] ^= 1
    await sender.store(key.publicKey, tampered, { raw: true })
    // a "signed" envelope whose signature is the impostor's over other bytes: it claims to be from `other`
    const forged = sealEnvelope(key.publicKey, encoder.encode('trust me'), { from: { publicKey: other.publicKey, sign: (m: Uint8Array) => impostor.sign(m) } as unknown as MailboxKey })
    await sender.store(key.publicKey, forged, { raw: true })
    await sender.store(key.publicKey, encoder.encode('plain bytes, sent raw'), { raw: true })
    const page = await owner.fetch(key)
    expect(page.messages).to.have.length(4)
    const unopenable = page.messages.filter(m => m.kind === 'unopenable')
    expect(unopenable).to.have.length(3)
    expect(unopenable.filter(m => m.error instanceof EnvelopeOpenError)).to.have.length(2)
    expect(unopenable.filter(m => m.error instanceof EnvelopeContentError)).to.have.length(1)
    expect(unopenable.every(m => m.content === undefined && m.sender === undefined)).to.equal(true)
    const raw = page.messages.filter(m => m.kind === 'raw')
    expect(raw.map(text)).to.deep.equal(['plain bytes, sent raw'])
  })

  it('stores the same text sent twice as two messages, and the same sealed bytes twice as one', async () => {
    const key = MailboxKey.generate()
    await sender.store(key.publicKey, encoder.encode('hello'))
    await sender.store(key.publicKey, encoder.encode('hello'))
    const sealed = sealEnvelope(key.publicKey, encoder.encode('resent'))
    expect((await sender.store(key.publicKey, sealed, { raw: true })).stored).to.equal(true)
    // what a retry of one store resends: the same sealed bytes, kept once
    expect((await sender.store(key.publicKey, sealed, { raw: true })).stored).to.equal(false)
    const page = await owner.fetch(key)
    expect(page.messages.map(text).sort()).to.deep.equal(['hello', 'hello', 'resent'])
  })

  it('delivers live: what is there first, then each new message once, as it is stored', async () => {
    const key = MailboxKey.generate()
    await sender.store(key.publicKey, encoder.encode('waiting already'))
    const sub = follow(owner, key)
    await until(() => sub.messages.length === 1, 10_000, 'the stored message')
    for (let i = 0; i < 5; i++) {
      await sender.store(key.publicKey, encoder.encode(`live ${i}`))
      await until(() => sub.messages.length === 2 + i, 10_000, `live message ${i}`)
    }
    // one more exchange round: nothing arrives twice
    await sender.store(key.publicKey, encoder.encode('last'))
    await until(() => sub.messages.length === 7, 10_000, 'the last message')
    sub.stop()
    expect(sub.messages.map(text)).to.deep.equal(['waiting already', 'live 0', 'live 1', 'live 2', 'live 3', 'live 4', 'last'])
    expect(sub.retries).to.deep.equal([])
  })

  it('bounds the subscriptions one circuit may hold open, answering the rest SUBSCRIPTION_LIMIT', async () => {
    // a subscription the client gave up on is held by the exit until its wait ends
    await until(() => nodes.every(n => n.swarm.subscriptions.size === 0), 10_000, 'earlier subscriptions to end')
    const keys = Array.from({ length: DEFAULT_MAX_SUBSCRIPTIONS_PER_CIRCUIT + 2 }, () => MailboxKey.generate())
    const results = await Promise.all(keys.map(async k =>
      owner.request(ExitService.SWARM, subscribeBody(k, { since: Date.now(), waitMs: 1_500 }), { timeoutMs: 10_000 }).then(() => 0, (err: ExitError) => err.status)))
    expect(results.filter(s => s === 0)).to.have.length(DEFAULT_MAX_SUBSCRIPTIONS_PER_CIRCUIT)
    expect(results.filter(s => s === SwarmStatus.SUBSCRIPTION_LIMIT)).to.have.length(2)
    // each ended at its deadline and gave its memory back
    await until(() => nodes.every(n => n.swarm.subscriptions.size === 0), 10_000, 'subscriptions to end')
  })

  it('resumes through a new circuit when a relay on it dies, losing and repeating nothing', async () => {
    const key = MailboxKey.generate()
    const sub = follow(owner, key)
    await sender.store(key.publicKey, encoder.encode('before the failure'))
    await until(() => sub.messages.length === 1, 10_000, 'the first message')
    const circuit = await owner.circuit()
    const victim = nodes.find(n => n.peerId.equals(circuit.path[circuit.path.length - 1]))!
    await victim.stop()
    await sender.store(key.publicKey, encoder.encode('after the failure'))
    await until(() => sub.messages.length === 2, 30_000, 'the message stored after the exit died')
    await sender.store(key.publicKey, encoder.encode('and one more'))
    await until(() => sub.messages.length === 3, 15_000, 'the next message')
    sub.stop()
    expect(sub.messages.map(text)).to.deep.equal(['before the failure', 'after the failure', 'and one more'])
    // the subscription moved to a circuit around the dead relay
    const now = await owner.circuit()
    expect(now).to.not.equal(circuit)
    expect(now.path.some(p => p.equals(victim.peerId))).to.equal(false)
  })
})
