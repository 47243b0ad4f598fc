import { expect } from 'chai'
import { type Ghostnode } from '../../src/node.js'
import { startNode, stopAll, testConfig, waitFor } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

async function get (node: Ghostnode, path: string, method = 'GET'): Promise<Response> {
  const addr = node.httpAddress()
  if (addr == null) throw new Error('http not running')
  return fetch(`http://${addr.host}:${addr.port}${path}`, { method })
}

describe('metrics and health endpoints', function () {
  this.timeout(30_000)
  let dir: string
  let nodes: Ghostnode[] = []

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    await removeTempDir(dir)
  })

  it('binds to 127.0.0.1 by default', async () => {
    const node = await startNode(testConfig(dir, 'n', { http: { enabled: true } }))
    nodes.push(node)
    expect(node.httpAddress()?.host).to.equal('127.0.0.1')
  })

  it('serves Prometheus text with ghostnode, libp2p and process metrics', async () => {
    const node = await startNode(testConfig(dir, 'n', { http: { enabled: true } }), { libp2pMetrics: true })
    nodes.push(node)
    const res = await get(node, '/metrics')
    expect(res.status).to.equal(200)
    expect(res.headers.get('content-type')).to.match(/^text\/plain/)
    const text = await res.text()
    expect(text).to.match(/^ghostnode_node_info\{version="\d+\.\d+\.\d+"\} 1$/m)
    expect(text).to.match(/^ghostnode_node_connected_peers 0$/m)
    expect(text).to.match(/^libp2p_transport_manager_listeners \d+$/m)
    expect(text).to.match(/^process_cpu_user_seconds_total /m)
  })

  it('answers /health, /health/live and /health/ready for a node without bootstrap peers', async () => {
    const node = await startNode(testConfig(dir, 'n', { http: { enabled: true } }))
    nodes.push(node)
    const health: any = await (await get(node, '/health')).json()
    expect(health).to.include({ status: 'ok', ready: true, peerId: node.peerId.toString(), connectedPeers: 0 })
    expect(health.version).to.match(/^\d+\.\d+\.\d+/)
    expect(health.uptimeSeconds).to.be.a('number')
    expect((await get(node, '/health/live')).status).to.equal(200)
    expect((await get(node, '/health/ready')).status).to.equal(200)
  })

  it('is not ready until it reaches a bootstrap peer, then ready', async () => {
    const boot = await startNode(testConfig(dir, 'boot'))
    nodes.push(boot)
    // a bootstrap address on a port nobody listens on keeps the node unready
    const deadAddr = `/ip4/127.0.0.1/tcp/9/p2p/${boot.peerId.toString()}`
    const node = await startNode(testConfig(dir, 'n', { http: { enabled: true }, bootstrap: [deadAddr] }))
    nodes.push(node)
    expect((await get(node, '/health/live')).status).to.equal(200)
    const notReady = await get(node, '/health/ready')
    expect(notReady.status).to.equal(503)
    expect(await notReady.json()).to.deep.equal({ status: 'not-ready' })
    expect(((await (await get(node, '/health')).json()) as any).status).to.equal('degraded')

    await node.libp2p.dial(boot.getMultiaddrs()[0])
    await waitFor(nodes, () => node.libp2p.getPeers().length > 0, 10_000, 'a connection')
    expect((await get(node, '/health/ready')).status).to.equal(200)
    const peers: any = await (await get(node, '/peers')).json()
    expect(peers.peers).to.have.length(1)
    expect(peers.peers[0]).to.include({ peerId: boot.peerId.toString(), encryption: '/noise', muxer: '/yamux/1.0.0', direction: 'outbound' })
  })

  it('refuses other methods and unknown paths', async () => {
    const node = await startNode(testConfig(dir, 'n', { http: { enabled: true } }))
    nodes.push(node)
    expect((await get(node, '/health', 'POST')).status).to.equal(405)
    expect((await get(node, '/nope')).status).to.equal(404)
  })

  it('stops and starts idempotently', async () => {
    const node = await startNode(testConfig(dir, 'n', { http: { enabled: true } }))
    nodes.push(node)
    await node.start()
    expect(node.status).to.equal('running')
    await Promise.all([node.stop(), node.stop()])
    expect(node.status).to.equal('stopped')
    await node.stop()
    expect(node.isReady()).to.equal(false)
  })
})
