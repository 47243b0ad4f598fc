import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { tcp } from '@libp2p/tcp'
import { expect } from 'chai'
import { createLibp2p, type Libp2p } from 'libp2p'
import { runCli } from '../../src/cli/program.js'
import { CircuitDestroyedError } from '../../src/onion/circuit-errors.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { CELL_SIZE, CellCommand, DestroyReason } from '../../src/wire/onion-format.js'
import { encodeCell } from '../../src/onion/cell.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { LINK_PROTOCOL } from '../../src/onion/link.js'
import { resolveRateLimitConfig, type RateLimitConfigInput } from '../../src/ratelimit/resolve-config.js'
import { FakeClock } from '../helpers/fake-clock.js'
import { startNetwork, until } from '../helpers/network.js'
import { metric, startNode, stopAll } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Output } from '../../src/cli/output.js'
import type { Ghostnode, PeerConnectionInfo } from '../../src/node.js'
import type { Stream } from '@libp2p/interface'

/** Not a cell: command byte 0xff is unknown, so the decoder rejects the first 1024 bytes. */
const GARBAGE = new Uint8Array(CELL_SIZE).fill(0xff)
const encoder = new TextEncoder()

function httpUrl (node: Ghostnode): string {
  const addr = node.httpAddress()
  if (addr == null) throw new Error('the node serves no HTTP')
  return `http://${addr.host}:${addr.port}`
}

async function peersOverHttp (node: Ghostnode): Promise<PeerConnectionInfo[]> {
  const res = await fetch(`${httpUrl(node)}/peers`)
  expect(res.status).to.equal(200)
  return ((await res.json()) as { peers: PeerConnectionInfo[] }).peers
}

async function peersCli (node: Ghostnode, dir: string): Promise<string[]> {
  const out: string[] = []
  const output: Output = { line: (t) => out.push(t), error: (t) => out.push(t) }
  expect(await runCli(['peers', '--data-dir', dir, '--url', httpUrl(node)], output)).to.equal(0)
  return out
}

/** A bare libp2p peer (TCP + Noise + yamux, listening on loopback) that speaks raw bytes. */
async function rawPeer (): Promise<Libp2p> {
  return createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
}

/** Opens a link stream to `node` and writes bytes that are not a cell; resolves once the node has closed it. */
async function sendGarbageCell (from: Libp2p, node: Ghostnode): Promise<Stream> {
  const stream = await from.dialProtocol(node.getMultiaddrs()[0], LINK_PROTOCOL)
  stream.send(GARBAGE)
  await until(() => stream.status !== 'open', 10_000, 'the node to close the link stream')
  return stream
}

describe('rate limiting wired into the node', function () {
  this.timeout(30_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let client: GhostClient | undefined
  let peers: Libp2p[] = []
  let clock: FakeClock

  beforeEach(async () => {
    dir = await makeTempDir()
    // frozen unless a test moves it: buckets do not refill behind the test's back
    clock = new FakeClock(Date.now())
  })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    await Promise.all(peers.map(async p => p.stop()))
    peers = []
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  async function startRelay (rateLimit: RateLimitConfigInput): Promise<Ghostnode> {
    nodes = await startNetwork(dir, 1, () => ({
      rateLimit: resolveRateLimitConfig(rateLimit),
      http: { enabled: true, host: '127.0.0.1', port: 0 }
    }), clock.now)
    return nodes[0]
  }

  async function newRawPeer (): Promise<Libp2p> {
    const peer = await rawPeer()
    peers.push(peer)
    return peer
  }

  it('refuses a CREATE over the circuit budget with DESTROY RESOURCE_LIMIT and penalises the sender', async () => {
    // 10 creations, then nothing (the clock is frozen); low tier gets 1
    const node = await startRelay({ limits: { circuits: { ratePerSecond: 0.001, burst: 10 } } })
    client = await GhostClient.create({ bootstrap: [node.getMultiaddrs()[0].toString()], hops: 1 })
    const clientId = client.libp2p.peerId.toString()
    const path = client.records()
    const built = []
    for (let i = 0; i < 10; i++) built.push(await client.buildCircuit({ path }))

    const refused = await client.buildCircuit({ path }).then(() => undefined, (err: Error) => err)
    expect(refused).to.be.instanceOf(CircuitDestroyedError)
    expect((refused as CircuitDestroyedError).reason).to.equal(DestroyReason.RESOURCE_LIMIT)
    expect(node.limiter.reputation.score(clientId)).to.equal(48)
    expect(await metric(node, 'ghostnode_ratelimit_throttled_total', '{kind="circuits"}')).to.equal(1)
    expect(await metric(node, 'ghostnode_onion_creates_total', '{outcome="limit"}')).to.equal(1)
    expect(await metric(node, 'ghostnode_reputation_violations_total', '{violation="bucket_overflow"}')).to.equal(1)
    // shedding the extra CREATE leaves the circuits within budget working
    const res = await built[0].request(Uint8Array.of(1, ...encoder.encode('still here')))
    expect(res.status).to.equal(0)
    expect(node.limiter.isBanned(clientId)).to.equal(false)
  })

  it('lists each connection\'s score and tier on /peers and in `ghostnode peers`, down to the low tier', async () => {
    // no recovery with time, so the scores below are exact
    const node = await startRelay({ limits: { circuits: { ratePerSecond: 0.001, burst: 10 } }, reputation: { recoveryPointsPerMinute: 0 } })
    client = await GhostClient.create({ bootstrap: [node.getMultiaddrs()[0].toString()], hops: 1 })
    const clientId = client.libp2p.peerId.toString()
    const path = client.records()
    const row = async (): Promise<PeerConnectionInfo | undefined> => (await peersOverHttp(node)).find(p => p.peerId === clientId)
    expect(await row()).to.include({ score: 50, tier: 'neutral', bannedUntil: null })

    for (let i = 0; i < 10; i++) await client.buildCircuit({ path })
    const over = async (): Promise<void> => {
      const err = await client!.buildCircuit({ path }).then(() => undefined, (e: Error) => e)
      expect((err as CircuitDestroyedError).reason).to.equal(DestroyReason.RESOURCE_LIMIT)
    }
    await over()
    expect(await row()).to.include({ score: 48, tier: 'neutral' })
    const neutralLines = await peersCli(node, dir)
    expect(neutralLines[0]).to.equal('1 connection(s)')
    expect(neutralLines[1]).to.contain(clientId).and.contain('score=48.0 tier=neutral').and.not.contain('banned-until')

    // overflow penalties have a 1 s cooldown: step past it each time, 2 points each, 50 -> 30
    for (let i = 0; i < 9; i++) {
      clock.advance(1_000)
      await over()
    }
    expect(await row()).to.include({ score: 30, tier: 'low', bannedUntil: null })
    const lowLines = await peersCli(node, dir)
    expect(lowLines[1]).to.contain('score=30.0 tier=low')
    expect(await metric(node, 'ghostnode_reputation_peers', '{tier="low"}')).to.equal(1)
    const json: string[] = []
    expect(await runCli(['peers', '--json', '--url', httpUrl(node), '--data-dir', dir], { line: (t) => json.push(t), error: (t) => json.push(t) })).to.equal(0)
    expect(JSON.parse(json[0]).peers.find((p: PeerConnectionInfo) => p.peerId === clientId)).to.include({ score: 30, tier: 'low' })
  })

  it('closes a link that carries garbage and penalises the sender', async () => {
    const node = await startRelay({})
    const attacker = await newRawPeer()
    const stream = await sendGarbageCell(attacker, node)
    expect(stream.status).to.be.oneOf(['reset', 'aborted', 'closed'])
    const id = attacker.peerId.toString()
    expect(node.limiter.reputation.score(id)).to.equal(40) // malformed_cell costs 10
    expect(await metric(node, 'ghostnode_reputation_violations_total', '{violation="malformed_cell"}')).to.equal(1)
    expect(node.libp2p.services.links.all().filter(l => l.remotePeer.equals(attacker.peerId))).to.have.length(0)
    // one malformed cell is not a ban: the connection itself stays
    expect(node.limiter.isBanned(id)).to.equal(false)
    expect(node.libp2p.getConnections(attacker.peerId)).to.have.length.greaterThan(0)
  })

  it('closes a link that carries no circuit and no cell for the idle timeout, and only then', async () => {
    const node = await startRelay({})
    const peer = await newRawPeer()
    const stream = await peer.dialProtocol(node.getMultiaddrs()[0], LINK_PROTOCOL)
    stream.send(encodeCell({ circId: 0, cmd: CellCommand.PADDING }))
    const links = (): number => node.libp2p.services.links.all().filter(l => l.remotePeer.equals(peer.peerId)).length
    await until(() => links() === 1, 5_000, 'the link to open')
    node.relay.sweepIdle()
    clock.advance(DEFAULT_CONFIG.onion.circuitIdleTimeoutMs - 1_000)
    node.relay.sweepIdle()
    expect(links(), 'kept within the idle timeout').to.equal(1)
    clock.advance(2_000)
    node.relay.sweepIdle()
    await until(() => links() === 0, 5_000, 'the idle link to close')
    expect(await metric(node, 'ghostnode_onion_links_closed_total', '{reason="idle"}')).to.equal(1)
    // a close for idleness costs the peer nothing
    expect(node.limiter.reputation.score(peer.peerId.toString())).to.equal(50)
  })

  it('disconnects a banned peer and refuses its connections both ways until the ban expires', async () => {
    const banDurationMs = 60_000
    // one malformed cell (-10) takes a fresh peer from 50 to the ban threshold
    const node = await startRelay({ reputation: { banThresholdScore: 40, scoreAfterBan: 45, banDurationMs } })
    const attacker = await newRawPeer()
    const id = attacker.peerId.toString()
    await sendGarbageCell(attacker, node)
    expect(node.limiter.isBanned(id)).to.equal(true)
    await until(() => node.libp2p.getConnections(attacker.peerId).length === 0 && attacker.getConnections(node.peerId).length === 0, 10_000, 'the banned peer to be disconnected')
    expect(await metric(node, 'ghostnode_ratelimit_bans_total')).to.equal(1)
    const row = (await peersOverHttp(node)).find(p => p.peerId === id)
    expect(row).to.equal(undefined)

    // its dials are refused by the gater, and the node does not dial it either
    await expectRefused(attacker, node)
    const outbound = await node.libp2p.dial(attacker.getMultiaddrs()[0]).then(() => 'connected', (err: Error) => err.name)
    expect(outbound).to.not.equal('connected')

    clock.advance(banDurationMs) // a ban ends at bannedUntil
    expect(node.limiter.isBanned(id)).to.equal(false)
    await attacker.dial(node.getMultiaddrs()[0])
    await until(() => node.libp2p.getConnections(attacker.peerId).length > 0, 10_000, 'the node to accept the peer again')
    // back on probation at scoreAfterBan
    expect(node.limiter.reputation.score(id)).to.equal(45)
  })

  it('keeps scores and bans across a restart from the same data dir', async () => {
    const node = await startRelay({ limits: { circuits: { ratePerSecond: 0.001, burst: 1 } }, reputation: { banThresholdScore: 40, scoreAfterBan: 45 } })
    client = await GhostClient.create({ bootstrap: [node.getMultiaddrs()[0].toString()], hops: 1 })
    const clientId = client.libp2p.peerId.toString()
    // the client goes one circuit over its budget (-2) ...
    expect(await client.echo(encoder.encode('hi'))).to.deep.equal(encoder.encode('hi'))
    const over = await client.buildCircuit({ path: client.records() }).then(() => undefined, (e: Error) => e)
    expect((over as CircuitDestroyedError).reason).to.equal(DestroyReason.RESOURCE_LIMIT)
    expect(node.limiter.reputation.score(clientId)).to.equal(48)
    // ... the attacker is banned
    const attacker = await newRawPeer()
    const attackerId = attacker.peerId.toString()
    await sendGarbageCell(attacker, node)
    expect(node.limiter.isBanned(attackerId)).to.equal(true)
    const bannedUntil = node.limiter.reputation.bannedUntil(attackerId)
    await client.stop()
    client = undefined

    await node.stop()
    nodes = [await startNode(node.config, { now: clock.now })]
    const restarted = nodes[0]
    expect(restarted.peerId.equals(node.peerId)).to.equal(true)
    expect(restarted.limiter.reputation.score(clientId)).to.equal(48)
    expect(restarted.limiter.reputation.score(attackerId)).to.equal(40)
    expect(restarted.limiter.reputation.bannedUntil(attackerId)).to.equal(bannedUntil)
    await expectRefused(attacker, restarted)
  })
})

/**
 * `from` cannot get a connection to `node`: the node's connection gater turns
 * it away before libp2p opens one (the dialer may see its half of the upgrade
 * finish, then the close).
 */
async function expectRefused (from: Libp2p, node: Ghostnode): Promise<void> {
  let opened = 0
  const onOpen = (evt: CustomEvent<{ remotePeer: { equals: (other: unknown) => boolean } }>): void => {
    if (evt.detail.remotePeer.equals(from.peerId)) opened++
  }
  node.libp2p.addEventListener('connection:open', onOpen)
  try {
    const outcome = await from.dial(node.getMultiaddrs()[0], { signal: AbortSignal.timeout(5_000) }).then(() => 'connected', (err: Error) => err.name)
    if (outcome === 'connected') {
      await until(() => from.getConnections(node.peerId).length === 0, 5_000, 'the refused connection to close')
    }
  } finally {
    node.libp2p.removeEventListener('connection:open', onOpen)
  }
  expect(opened).to.equal(0)
  expect(node.libp2p.getConnections(from.peerId)).to.have.length(0)
}
