import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { streamPair } from '@libp2p/utils'
import { install } from '@sinonjs/fake-timers'
import { expect } from 'chai'
import { MemoryBudget } from '../../../../src/memory/budget.js'
import { OwnerCheck } from '../../../../src/swarm/peer/owner-check.js'
import { SWARM_WIRE_VERSION, SwarmOp } from '../../../../src/swarm/peer/protocol.js'
import { SwarmServer, type SwarmPeerStanding } from '../../../../src/swarm/peer/server.js'
import type { LocalReplica } from '../../../../src/swarm/replica.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'

const log = defaultLogger().forComponent('test:swarm-server-memory')
const MiB = 1024 * 1024

/** A frame header announcing `length` bytes, and the start of a PUT request. */
function frameStart (length: number): Uint8Array {
  const out = new Uint8Array(4 + 7)
  new DataView(out.buffer).setUint32(0, length)
  out.set([SWARM_WIRE_VERSION, 1, 0, 0, 0, 1, SwarmOp.PUT], 4)
  return out
}

async function closed (stream: Stream, timeoutMs = 5_000): Promise<void> {
  if (stream.status !== 'open') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('stream still open')) }, timeoutMs)
    stream.addEventListener('close', () => { clearTimeout(timer); resolve() })
  })
}

describe('swarm/server: memory peers can make it hold', () => {
  let peer: PeerId
  let violations: string[]
  let shed: number
  const streams: Stream[] = []

  beforeEach(async () => {
    peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    violations = []
    shed = 0
  })
  afterEach(() => {
    for (const s of streams.splice(0)) s.abort(new Error('test over'))
  })

  async function serve (standing: SwarmPeerStanding, extra: Partial<ConstructorParameters<typeof SwarmServer>[0]> = {}): Promise<{ server: SwarmServer, out: Stream, inbound: Stream }> {
    const server = new SwarmServer({
      replica: { serve: async () => new Uint8Array(0) } as unknown as LocalReplica,
      log,
      authorize: () => standing,
      allow: () => true,
      owner: new OwnerCheck({ now: Date.now }),
      inSwarm: () => true,
      onViolation: (_p, v) => violations.push(v),
      onShed: () => { shed++ },
      ...extra
    })
    const [out, inbound] = await streamPair()
    streams.push(out, inbound)
    server.handle(inbound, { remotePeer: peer } as unknown as Connection)
    return { server, out, inbound }
  }

  it('reads no more than one small frame from a peer that is not a member here, without penalising it', async () => {
    const { inbound, out } = await serve('unknown')
    out.send(frameStart(64 * 1024))
    await closed(inbound)
    expect(violations).to.deep.equal([])
  })

  it('charges a member\'s partial frame to the budget, closes the stream the budget has no room for, and returns every byte', async () => {
    const budget = new MemoryBudget(1 * MiB)
    const { server, inbound, out } = await serve('member', { budget })
    budget.setPressureHandler(() => { for (const h of server.holders()) h.close() })
    out.send(frameStart(4 * MiB))
    for (let i = 0; i < 8; i++) out.send(new Uint8Array(256 * 1024))
    await closed(inbound)
    expect(budget.used, 'nothing stays charged once the stream is gone').to.equal(0)
    expect(violations).to.deep.equal([])
  })

  it('refuses to buffer past the budget when nothing can be shed', async () => {
    const budget = new MemoryBudget(1 * MiB)
    const { inbound, out } = await serve('member', { budget })
    out.send(frameStart(4 * MiB))
    for (let i = 0; i < 8; i++) out.send(new Uint8Array(256 * 1024))
    await closed(inbound)
    expect(shed).to.equal(1)
    expect(budget.used).to.equal(0)
  })

  it('closes a stream whose frame is not finished within the partial-frame timeout', async () => {
    const budget = new MemoryBudget(8 * MiB)
    const { server, inbound, out } = await serve('member', { budget, partialFrameTimeoutMs: 100 })
    const clock = install({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      out.send(frameStart(64 * 1024))
      out.send(new Uint8Array(1000))
      await clock.tickAsync(20)
      for (let i = 0; i < 10 && server.holders().length === 0; i++) await new Promise(resolve => setImmediate(resolve))
      expect(budget.used).to.be.greaterThan(1000)
      expect(server.holders()).to.have.length(1)
      expect(inbound.status, 'open before the timeout').to.equal('open')
      await clock.tickAsync(100)
      for (let i = 0; i < 10 && inbound.status === 'open'; i++) await new Promise(resolve => setImmediate(resolve))
    } finally {
      clock.uninstall()
    }
    expect(inbound.status).to.not.equal('open')
    expect(budget.used).to.equal(0)
    expect(server.holders()).to.have.length(0)
  })
})
