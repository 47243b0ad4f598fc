import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import { type CandidateRecord } from '../../../src/membership/admission.js'
import { Authority } from '../../../src/membership/authority.js'
import { sha256 } from '../../../src/membership/document.js'
import { TestAuthority } from '../../helpers/membership.js'

const INTERVAL = 60_000

async function record (i: number): Promise<CandidateRecord> {
  const key = await generateKeyPair('Ed25519')
  return { peerId: peerIdFromPrivateKey(key).toString(), key: key.publicKey.raw, recordHash: sha256(key.publicKey.raw), capabilities: 7, addrs: [multiaddr(`/ip4/10.0.${i >> 8}.${i & 255}/tcp/4001`)] }
}

const settle = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

describe('membership/authority probes', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'gn-authority-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  async function authority (probe: (peer: string) => Promise<boolean>, now: () => number): Promise<{ a: Authority, running: () => number, peak: () => number }> {
    const auth = await TestAuthority.create(1)
    let running = 0
    let peak = 0
    const wrapped = async (peer: string): Promise<boolean> => {
      running++
      peak = Math.max(peak, running)
      try { return await probe(peer) } finally { running-- }
    }
    const a = new Authority({
      selfId: auth.ids[0],
      privateKey: auth.keys[0],
      trust: auth.trust(),
      authorityIds: auth.ids,
      dataDir: dir,
      intervalMs: INTERVAL,
      graceMs: 0,
      policy: { address: { allowPrivate: true }, probationMs: 0, maxPer24: 100, maxPer16: 1000, maxNewPerHour: 1000, dropAfterMs: INTERVAL * 3, allowlistOnly: false },
      maxPeers: 1000,
      selfRecord: () => ({ peerId: auth.ids[0], key: auth.keys[0].publicKey.raw, recordHash: sha256(auth.keys[0].publicKey.raw), capabilities: 7, addrs: [multiaddr('/ip4/10.1.0.1/tcp/4001')] }),
      probeAddrs: async (peer, addrs) => await wrapped(peer) ? addrs : [],
      probePeer: wrapped,
      sync: async () => undefined,
      publish: () => {},
      now,
      log: logger('test:authority')
    })
    await a.load()
    return { a, running: () => running, peak: () => peak }
  }

  it('probes every due peer within one tick, a few at a time, and each once per period; slow candidates never hold back members', async () => {
    const order: string[] = []
    const everProbed = new Set<string>()
    let now = 1_800_000_000_000
    /** Probes of these peers hang until released: candidates whose dials wait out their timeouts. */
    const hanging = new Set<string>()
    const held: Array<() => void> = []
    const { a, peak } = await authority(async (peer) => {
      order.push(peer)
      everProbed.add(peer)
      if (hanging.has(peer)) await new Promise<void>(resolve => { held.push(resolve) })
      else await settle(2)
      return true
    }, () => now)
    const records = await Promise.all(Array.from({ length: 40 }, async (_, i) => record(i)))
    for (const r of records) a.observe(r)
    await a.tick()
    await settle(400)
    expect(new Set(order).size).to.equal(40)
    expect(order).to.have.length(40)
    expect(peak()).to.be.within(2, 4)

    // the next period's vote admits them (the probes of that period run alongside)
    now += INTERVAL + 1
    await a.tick()
    await settle(400)
    // then a flood of new candidates whose probes hang: the members have slots of their own
    now += INTERVAL + 1
    const flood = await Promise.all(Array.from({ length: 60 }, async (_, i) => record(300 + i)))
    for (const r of flood) {
      hanging.add(r.peerId)
      a.observe(r)
    }
    order.length = 0
    await a.tick()
    await settle(400)
    const members = new Set(records.map(r => r.peerId))
    expect(order.filter(p => members.has(p)), 'every member probed while candidates hang').to.have.length(40)
    expect(order.filter(p => !members.has(p)), 'four candidate probes at a time').to.have.length(4)
    expect(peak()).to.be.at.most(8)
    // a period later, the candidates' probes still hanging: the members fall due and are probed again
    now += INTERVAL + 1
    order.length = 0
    await a.tick()
    await settle(400)
    expect(order.filter(p => members.has(p)), 'members due again, probed while the candidate slots are full').to.have.length(40)
    expect(order.filter(p => !members.has(p))).to.deep.equal([])
    // the candidates' probes end: the rest of them follow
    for (let i = 0; i < 100 && everProbed.size < 100; i++) {
      for (const release of held.splice(0)) release()
      await settle(20)
    }
    for (const release of held.splice(0)) release()
    expect(everProbed.size).to.equal(100)

    // probed this period: another tick starts nothing
    await settle(50)
    order.length = 0
    await a.tick()
    await settle(50)
    expect(order).to.deep.equal([])
  })

  it('probes a changed record (new addresses) 5 s after the last probe of its peer, not a period later, and no sooner', async () => {
    const order: string[] = []
    let now = 1_800_000_000_000
    const { a } = await authority(async (peer) => { order.push(peer); return true }, () => now)
    const first = await record(1)
    a.observe(first)
    await a.tick()
    await settle(30)
    expect(order).to.deep.equal([first.peerId])
    const moved: CandidateRecord = { ...first, recordHash: sha256(Uint8Array.of(1, 2, 3)), addrs: [multiaddr('/ip4/10.9.9.9/tcp/4001')] }
    a.observe(moved)
    now += 4_000
    await a.tick()
    await settle(30)
    expect(order, 'too soon after the last probe').to.have.length(1)
    now += 1_001
    await a.tick()
    await settle(30)
    expect(order).to.deep.equal([first.peerId, first.peerId])
    // tested now: the same record waits for the next period
    now += 6_000
    await a.tick()
    await settle(30)
    expect(order).to.have.length(2)
  })

  it('retries a candidate that did not answer after 5 s, then 10 s, 20 s, up to a period, and not at all once it answers', async () => {
    const times: number[] = []
    const t0 = 1_800_000_000_000
    let now = t0
    let answer = false
    const { a } = await authority(async () => { times.push(now - t0); return answer }, () => now)
    a.observe(await record(1))
    const runFor = async (ms: number): Promise<void> => {
      for (let t = 0; t < ms; t += 1_000) {
        now += 1_000
        await a.tick()
        await settle(2)
      }
    }
    await a.tick()
    await settle(10)
    await runFor(50_000)
    expect(times).to.deep.equal([0, 5_000, 15_000, 35_000])
    answer = true
    await runFor(40_000)
    expect(times.slice(4)).to.deep.equal([75_000])
    await runFor(60_000)
    // answering: probed once a period from then on
    expect(times.slice(5)).to.deep.equal([135_000])
  })

  it('starts no probe after stop', async () => {
    const order: string[] = []
    const now = 1_800_000_000_000
    const { a, running } = await authority(async (peer) => {
      order.push(peer)
      await settle(5)
      if (order.length % 3 === 0) throw new Error('refused')
      return order.length % 2 === 0
    }, () => now)
    for (let i = 0; i < 30; i++) a.observe(await record(i))
    await a.tick()
    await settle(20)
    a.stop()
    const started = order.length
    await settle(100)
    expect(started).to.be.greaterThan(0).and.lessThan(30)
    expect(order).to.have.length(started)
    expect(running()).to.equal(0)
  })

  it('a failing probe does not stall the pass', async () => {
    let calls = 0
    const now = 1_800_000_000_000
    const { a } = await authority(async () => {
      calls++
      await settle(1)
      if (calls % 3 === 0) throw new Error('refused')
      return calls % 2 === 0
    }, () => now)
    for (let i = 0; i < 30; i++) a.observe(await record(i))
    await a.tick()
    await settle(300)
    expect(calls).to.equal(30)
  })
})
