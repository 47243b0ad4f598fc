import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { expect } from 'chai'
import { startFlooder, stopFlooder, type FlooderProcess } from '../../harness/flood/flooder-process.js'
import { HonestLoad } from '../../harness/flood/honest-load.js'
import { fetchMetrics, fetchPeers, metricValue, type PeerRow } from '../../harness/flood/node-http.js'
import { loopbackArgs, startGhostnode, stopGhostnode, type GhostnodeProcess } from '../../harness/lib/ghostnode-process.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

/** Neutral-tier CREATE allowance of one neighbour in this test (low tier: ×0.1). */
const CIRCUITS_PER_SECOND = 5
const CIRCUIT_BURST = 10
/** 400× the allowance; the test checks the flooder really sent ≥ 50×. */
const FLOOD_CELLS_PER_SECOND = 2_000
const MIN_FLOOD_FACTOR = 50
const DEMOTION_DEADLINE_MS = 5_000
const RSS_BOUND_BYTES = 300 * 1024 * 1024
const POLL_MS = 100
const encoder = new TextEncoder()

async function pollUntil<T> (what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(POLL_MS)
  }
}

async function metric (relay: GhostnodeProcess, name: string, labels = ''): Promise<number> {
  return metricValue(await fetchMetrics(relay.httpUrl), name, labels) ?? NaN
}

describe('a flooding neighbour, relay and flooder in their own processes', function () {
  this.timeout(40_000)
  let dir: string
  let relay: GhostnodeProcess | undefined
  let flooder: FlooderProcess | undefined
  let client: GhostClient | undefined
  let load: HonestLoad | undefined

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await load?.stop()
    load = undefined
    await client?.stop()
    client = undefined
    if (flooder != null) await stopFlooder(flooder)
    flooder = undefined
    if (relay != null) await stopGhostnode(relay)
    relay = undefined
    await removeTempDir(dir)
  })

  for (const pushRecord of [false, true]) {
  it(`throttles a CREATE flood${pushRecord ? ' from a peer that pushed a self-signed relay record (it buys no relay budget)' : ''}, demotes the flooder to the low tier within 5 s, and keeps serving an honest client`, async () => {
    relay = await startGhostnode({
      name: 'relay',
      dataDir: join(dir, 'relay'),
      args: loopbackArgs([
        `rateLimit.limits.circuits.ratePerSecond=${CIRCUITS_PER_SECOND}`,
        `rateLimit.limits.circuits.burst=${CIRCUIT_BURST}`,
        // 2 points per overflow at most every 300 ms: 50 -> 30 (low) in ~3 s, banned at 10 after ~6 s
        'rateLimit.reputation.penaltyCooldownsMs.bucket_overflow=300'
      ])
    })
    // retries 0: a failed request must surface, not be retried on a new circuit
    client = await GhostClient.create({ bootstrap: [relay.addr], hops: 1, retries: 0 })
    const honestId = client.libp2p.peerId.toString()
    expect(await client.echo(encoder.encode('before the flood'))).to.deep.equal(encoder.encode('before the flood'))
    const throttledBefore = await metric(relay, 'ghostnode_ratelimit_throttled_total', '{kind="circuits"}')
    expect(throttledBefore).to.equal(0)

    load = new HonestLoad(client, { intervalMs: 50, timeoutMs: 3_000 })
    load.start()
    flooder = await startFlooder({ target: relay.addr, kind: 'create', rate: FLOOD_CELLS_PER_SECOND, pushRecord })
    const floodStarted = Date.now()
    const flooderId = flooder.peerId

    const demoted = await pollUntil('the flooder to fall to the low tier on /peers', DEMOTION_DEADLINE_MS, async () => {
      const row = (await fetchPeers(relay!.httpUrl)).find(p => p.peerId === flooderId)
      return row?.tier === 'low' ? row : undefined
    })
    const demotedAfterMs = Date.now() - floodStarted
    expect(demoted.score).to.be.at.most(30)
    expect(demoted.bannedUntil).to.equal(null)

    // the low tier keeps it throttled; the honest client keeps going meanwhile
    await sleep(1_000)
    const metrics = await fetchMetrics(relay.httpUrl)
    const peers = await fetchPeers(relay.httpUrl)
    const honestResults = await load.stop()
    load = undefined
    const flood = await stopFlooder(flooder)
    flooder = undefined

    // the flooder really sent at >= 50x its allowance, and the relay refused nearly all of it
    expect(flood).to.not.equal(undefined)
    const floodRate = flood!.sent / (flood!.elapsedMs / 1000)
    expect(floodRate).to.be.at.least(MIN_FLOOD_FACTOR * CIRCUITS_PER_SECOND)
    expect(flood!.destroyed.RESOURCE_LIMIT ?? 0).to.be.greaterThan(0)
    const throttled = metricValue(metrics, 'ghostnode_ratelimit_throttled_total', '{kind="circuits"}') ?? 0
    expect(throttled).to.be.greaterThan(throttledBefore)
    // CREATEs that got past the bucket to the onion-layer crypto (the flooder's layers are random, so
    // each fails there): at most the burst plus the neutral rate over the whole flood
    const admitted = metricValue(metrics, 'ghostnode_onion_creates_total', '{outcome="bad_layer"}') ?? 0
    const floodSeconds = (Date.now() - floodStarted) / 1000
    expect(admitted).to.be.at.most(CIRCUIT_BURST + CIRCUITS_PER_SECOND * floodSeconds)
    expect(throttled).to.be.greaterThan(20 * admitted)
    expect(metricValue(metrics, 'ghostnode_reputation_peers', '{tier="low"}')).to.equal(1)

    // the honest client: every request answered correctly, its own score untouched
    expect(honestResults.failed, honestResults.errors.join('; ')).to.equal(0)
    expect(honestResults.ok).to.be.at.least(Math.floor((demotedAfterMs + 1_000) / 50 / 2))
    const honest = peers.find((p: PeerRow) => p.peerId === honestId)
    expect(honest).to.include({ tier: 'neutral', bannedUntil: null })
    expect(honest!.score).to.be.at.least(50)

    const rss = metricValue(metrics, 'process_resident_memory_bytes')
    expect(rss).to.be.a('number').and.be.below(RSS_BOUND_BYTES)

    // and the relay still shuts down cleanly
    await client.stop()
    client = undefined
    expect((await stopGhostnode(relay)).exit.code).to.equal(0)
    relay = undefined
  })
  }
})
