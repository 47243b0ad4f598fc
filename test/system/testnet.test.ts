import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { existsSync } from 'node:fs'
import { promisify } from 'node:util'
import { expect } from 'chai'
import { trackedPids } from '../../harness/lib/cleanup.js'
import { NetemUnavailableError, TestnetConfigError } from '../../harness/testnet/errors.js'
import { assertNetnsAvailable, ip, listNamespaces, netemAvailable, partitionHosts } from '../../harness/testnet/netns.js'
import { pidAlive, runGhostnode } from '../../harness/lib/ghostnode-process.js'
import { portIsFree } from '../../harness/testnet/ports.js'
import { connectedPeerIds, getJson, waitUntil } from '../../harness/testnet/ready.js'
import { startTestnet, type Testnet } from '../../harness/testnet/testnet.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

const execFileAsync = promisify(execFile)

/** Every node answers ready and lists a connection to each of the others. */
async function expectMesh (net: Testnet): Promise<void> {
  expect(net.nodes).to.have.length(3)
  expect(new Set(net.nodes.map(n => n.peerId)).size).to.equal(3)
  for (const node of net.nodes) {
    expect((await getJson(`${node.httpUrl}/health/ready`)).status).to.equal(200)
    const health = await getJson(`${node.httpUrl}/health`)
    expect(health.body.peerId).to.equal(node.peerId)
    expect(node.multiaddrs).to.include(`/ip4/${node.host}/tcp/${node.ports.tcp}/p2p/${node.peerId}`)
    const others = net.nodes.filter(n => n !== node).map(n => n.peerId)
    expect([...await connectedPeerIds(node.httpUrl)]).to.include.members(others)
  }
}

/** stop() ends every process cleanly (exit 0 after SIGTERM, no SIGKILL) and leaves none behind. */
async function expectCleanStop (net: Testnet): Promise<void> {
  const pids = net.nodes.map(n => n.pid)
  const results = await net.stop()
  expect(results.map(r => r.pid)).to.have.members(pids)
  for (const r of results) {
    expect(r.forced, `${r.name} needed SIGKILL`).to.equal(false)
    expect(r.exit.code, `${r.name} exit code`).to.equal(0)
  }
  for (const pid of pids) expect(pidAlive(pid), `pid ${pid} still exists`).to.equal(false)
  expect(trackedPids()).to.deep.equal([])
}

describe('testnet launcher on loopback', function () {
  this.timeout(30_000)
  let net: Testnet | undefined

  // Tests that need the running 3-node testnet (e.g. messages over 3-hop
  // circuits) go in this block and use `net`; each gets a fresh testnet.
  beforeEach(async () => {
    net = await startTestnet({ nodes: 3, basePort: 0 })
  })
  afterEach(async () => {
    await net?.stop()
    net = undefined
  })

  it('runs three ready nodes, each connected to the other two', async () => {
    if (net == null) throw new Error('no testnet')
    await expectMesh(net)
    for (const node of net.nodes) {
      expect(node.host).to.equal('127.0.0.1')
      for (const port of Object.values(node.ports)) expect([7400, 7401, 7402], 'a default port').to.not.include(port)
    }
  })

  it('answers ghostnode status --url for one of its nodes', async () => {
    if (net == null) throw new Error('no testnet')
    const node = net.nodes[1]
    const { stdout } = await runGhostnode(['status', '--data-dir', node.dataDir, '--url', node.httpUrl])
    expect(stdout).to.contain(`peer id: ${node.peerId}`)
    expect(stdout).to.contain('status: ok (ready)')
    expect(stdout).to.contain('peers 2,')
  })

  it('carries messages through 3-hop circuits across its three processes', async () => {
    if (net == null) throw new Error('no testnet')
    // the directories fill within a few seconds of start
    for (const node of net.nodes) {
      await waitUntil('a full directory', async () => (await getJson(`${node.httpUrl}/health`)).body.directoryRecords >= 3 ? true : undefined, { timeoutMs: 20_000 })
    }
    const client = await GhostClient.create({ bootstrap: [net.nodes[0].multiaddrs[0]] })
    try {
      expect(client.records()).to.have.length(3)
      const circuit = await client.buildCircuit()
      expect(new Set(circuit.path.map(p => p.toString()))).to.deep.equal(new Set(net.nodes.map(n => n.peerId)))
      for (let i = 0; i < 20; i++) {
        const payload = new TextEncoder().encode(`message ${i} ` + 'x'.repeat(i * 300))
        expect(await client.echo(payload)).to.deep.equal(payload)
      }
    } finally {
      await client.stop()
    }
  })

  it('kills a node and restarts it with the same identity, data dir and ports', async () => {
    if (net == null) throw new Error('no testnet')
    const before = net.nodes[1]
    let unexpected: string | undefined
    void net.unexpectedExit.then(({ name }) => { unexpected = name })
    const exit = await net.kill(1)
    expect(exit.signal).to.equal('SIGKILL')
    expect(pidAlive(before.pid)).to.equal(false)
    let refused: unknown
    await net.restart(0).catch((err: unknown) => { refused = err })
    expect(refused, 'restart of a running node').to.be.instanceOf(TestnetConfigError)

    const after = await net.restart(1)
    expect(net.nodes[1]).to.equal(after)
    expect(after.peerId).to.equal(before.peerId)
    expect(after.dataDir).to.equal(before.dataDir)
    expect(after.ports).to.deep.equal(before.ports)
    expect(after.pid).to.not.equal(before.pid)
    expect([...await connectedPeerIds(after.httpUrl)]).to.include.members([net.nodes[0].peerId, net.nodes[2].peerId])
    expect(unexpected, 'a killed node reported as an unexpected exit').to.equal(undefined)
    await expectCleanStop(net)
  })

  it('stops every node process and releases every port', async () => {
    if (net == null) throw new Error('no testnet')
    const ports = net.nodes.flatMap(n => [n.ports.tcp, n.ports.ws, n.ports.http])
    await expectCleanStop(net)
    for (const port of ports) expect(await portIsFree(port), `port ${port} still bound`).to.equal(true)
  })
})

describe('testnet launcher behind delay proxies (loopback)', function () {
  this.timeout(60_000)

  it('puts a proxy in front of every node, which the nodes announce and dial, so a circuit build takes at least its path round trip', async () => {
    const net = await startTestnet({ nodes: 3, basePort: 0, proxyLatencyMs: 15 })
    let client: GhostClient | undefined
    try {
      const direct = new Set(net.nodes.map(n => n.ports.tcp))
      for (const node of net.nodes) {
        const tcp = node.multiaddrs.filter(a => !a.includes('/ws'))
        expect(tcp, `${node.name} announces`).to.have.length(1)
        const port = Number(tcp[0].split('/')[4])
        expect(direct.has(port), `${node.name} announces its own listener, not its proxy`).to.equal(false)
        // and the others reach it only through proxies: no connection of theirs goes to a direct port
        for (const peer of (await getJson(`${node.httpUrl}/peers`)).body?.peers ?? []) {
          const remote = String(peer.addr ?? '')
          if (remote.includes('/tcp/')) expect(direct.has(Number(remote.split('/')[4])), `${node.name} holds a direct connection ${remote}`).to.equal(false)
        }
      }
      client = await GhostClient.create({ bootstrap: [net.nodes[0].multiaddrs.find(a => !a.includes('/ws')) as string] })
      await waitUntil('the client to know all three relays', async () => {
        if ((client?.records().length ?? 0) === 3) return true
        // a relay refuses a directory request asked again too soon: the next poll asks again
        await client?.refreshDirectory().catch(() => {})
        return undefined
      }, { timeoutMs: 20_000 })
      const circuit = await client.buildCircuit()
      // client -> guard -> middle -> exit and back: 6 x 15 ms at the least
      expect(circuit.buildMs).to.be.at.least(90)
      expect(await client.echo(new TextEncoder().encode('through the proxies'))).to.deep.equal(new TextEncoder().encode('through the proxies'))
    } finally {
      await client?.stop()
      await net.stop()
    }
  })

  it('refuses a delay proxy together with network namespaces', async () => {
    let err: unknown
    try {
      await startTestnet({ nodes: 3, netns: true, proxyLatencyMs: 10 })
    } catch (e) {
      err = e
    }
    expect(err).to.be.instanceOf(TestnetConfigError)
  })
})

describe('npm run testnet: a node that dies, and one node stopped, killed or restarted on request', function () {
  this.timeout(120_000)

  it('reports a death and keeps the others serving; stop, kill and restart one node through --dir; exits 1 at the end', async () => {
    const dir = await makeTempDir()
    const cli = fileURLToPath(new URL('../../harness/testnet/cli.js', import.meta.url))
    const launcher = spawn(process.execPath, [cli, '--nodes', '3', '--base-port', '0', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    launcher.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
    launcher.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    const control = async (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => {
      return await execFileAsync(process.execPath, [cli, ...args, '--dir', dir]).then(r => ({ code: 0, stdout: r.stdout, stderr: r.stderr }), (err: { code: number, stdout: string, stderr: string }) => err)
    }
    try {
      await waitUntil('the testnet to be up', async () => stdout.includes('3 nodes ready') ? true : undefined, { timeoutMs: 60_000 })
      const status = await control('status')
      expect(status.stdout).to.match(/node1 running, pid \d+/)
      const url = (name: string, text: string): string => new RegExp(`${name} running, pid \\d+, (http://\\S+)`).exec(text)?.[1] ?? ''
      const node1 = url('node1', status.stdout)

      // stop and restart one node on request
      expect((await control('stop', 'node2')).stdout).to.match(/node2 stopped \(code 0\)/)
      expect((await control('status')).stdout).to.match(/node2 exited \(code 0\)/)
      expect((await getJson(`${node1}/health`)).status).to.equal(200)
      expect((await control('restart', 'node2')).stdout).to.match(/node2 running again, pid \d+/)
      const restarted = url('node2', (await control('status')).stdout)
      await waitUntil('node2 to be ready again', async () => (await getJson(`${restarted}/health/ready`).catch(() => ({ status: 0 }))).status === 200 ? true : undefined, { timeoutMs: 30_000 })

      // a node that dies on its own is reported; the launcher and the others go on
      const pid3 = Number(/node3 running, pid (\d+)/.exec((await control('status')).stdout)?.[1])
      process.kill(pid3, 'SIGKILL')
      await waitUntil('the launcher to report node3', async () => stderr.includes('node3 exited on its own') ? true : undefined, { timeoutMs: 10_000 })
      expect(stderr).to.contain('The other nodes keep running; restart it with: npm run testnet -- restart node3')
      expect(launcher.exitCode).to.equal(null)
      expect((await getJson(`${node1}/health`)).status).to.equal(200)
      expect((await control('kill', 'node9')).stderr).to.contain('no node "node9"')
      expect((await control('restart', 'node3')).stdout).to.match(/node3 running again/)

      launcher.kill('SIGINT')
      const [code] = await once(launcher, 'exit')
      expect(code, 'a node died during the run').to.equal(1)
      expect(stderr).to.contain('nodes that exited on their own during the run: node3')
      expect((await control('status')).stderr).to.match(/no testnet runs in/)
    } finally {
      if (launcher.exitCode == null) launcher.kill('SIGKILL')
      await removeTempDir(dir)
    }
  })
})

describe('testnet launcher whose own process dies', function () {
  this.timeout(30_000)

  it('takes its node processes with it', async () => {
    // a launcher that throws after start-up, as a bug in a benchmark would
    const script = `const m = await import(${JSON.stringify(new URL('../../harness/testnet/testnet.js', import.meta.url).href)});
      const net = await m.startTestnet({ nodes: 3, basePort: 0 });
      console.log(JSON.stringify({ pids: net.nodes.map(n => n.pid), dir: net.baseDir }));
      throw new Error('launcher bug')`
    const result = await execFileAsync(process.execPath, ['--input-type=module', '-e', script]).then(() => undefined, (err: { code: number, stdout: string }) => err)
    expect(result?.code, 'the launcher process should have failed').to.equal(1)
    const { pids, dir } = JSON.parse(result?.stdout ?? '{}') as { pids: number[], dir: string }
    expect(pids).to.have.length(3)
    // SIGKILL is delivered asynchronously: the launcher may be gone a moment before its nodes
    await waitUntil('the nodes to die', async () => pids.every(pid => !pidAlive(pid)) ? true : undefined, { timeoutMs: 5_000 })
      .catch(() => { throw new Error(`node pids ${pids.filter(pidAlive).join(', ')} outlived their launcher`) })
    expect(existsSync(dir), `temp dir ${dir} left behind`).to.equal(false)
  })
})

describe('testnet launcher in network namespaces', function () {
  this.timeout(40_000)
  let net: Testnet | undefined
  let netem = false

  before(async function () {
    try {
      await assertNetnsAvailable()
    } catch {
      this.skip() // needs Linux, root and iproute2
    }
    netem = await netemAvailable(`t${process.pid.toString(16).slice(-5)}`)
  })
  afterEach(async () => {
    await net?.stop()
    net = undefined
  })

  it('runs each node in its own namespace, reachable over the bridge, and removes everything on stop', async () => {
    net = await startTestnet({ nodes: 3, netns: true })
    const network = net.network
    if (network == null) throw new Error('no network')
    await expectMesh(net)
    for (const [i, node] of net.nodes.entries()) {
      expect(node.namespace).to.equal(`gn-${net.runId}-${i + 1}`)
      expect((await ip('netns', 'identify', String(node.pid))).trim()).to.equal(node.namespace)
      expect(node.httpUrl).to.equal(`http://${network.hosts[i].address}:${node.ports.http}`)
      // the nodes reach each other on their namespace addresses, never loopback
      const peers = (await getJson(`${node.httpUrl}/peers`)).body.peers as Array<{ addr: string }>
      for (const p of peers) expect(p.addr).to.match(new RegExp(`^/ip4/${network.subnet.split('.').slice(0, 3).join('\\.')}\\.\\d+/`))
    }
    const runId = net.runId
    await expectCleanStop(net)
    expect(await listNamespaces(`gn-${runId}-`)).to.deep.equal([])
    const links = await ip('-o', 'link', 'show')
    expect(links, 'bridge or veth left behind').to.not.contain(network.bridge).and.not.contain(`gnv-${runId}-`)
  })

  it('cuts one namespace off from the others both ways, keeps it reachable from the root namespace, and heals', async () => {
    net = await startTestnet({ nodes: 3, netns: true })
    const network = net.network
    if (network == null) throw new Error('no network')
    const [n1, n2, n3] = net.nodes
    /** Whether a TCP connection from `from` (a namespace, or the root one) to `to`'s TCP port opens within 1 s. */
    const reaches = async (from: string | undefined, to: typeof n1): Promise<boolean> => {
      const script = `const s = require('node:net').connect(${to.ports.tcp}, '${to.host}'); s.setTimeout(1000);` +
        "s.on('connect', () => process.exit(0)); s.on('timeout', () => process.exit(3)); s.on('error', () => process.exit(4))"
      const argv = [...(from != null ? ['ip', 'netns', 'exec', from] : []), process.execPath, '-e', script]
      return execFileAsync(argv[0], argv.slice(1)).then(() => true, () => false)
    }
    const cut = await partitionHosts(network, [2])
    try {
      expect(await reaches(n1.namespace, n3), 'node1 → node3').to.equal(false)
      expect(await reaches(n3.namespace, n2), 'node3 → node2').to.equal(false)
      expect(await reaches(n1.namespace, n2), 'node1 → node2').to.equal(true)
      expect(await reaches(undefined, n3), 'root namespace → node3').to.equal(true)
    } finally {
      await cut.heal()
    }
    expect(await reaches(n1.namespace, n3), 'node1 → node3 after healing').to.equal(true)
    expect(await reaches(n3.namespace, n2), 'node3 → node2 after healing').to.equal(true)
    for (const h of network.hosts) expect(await ip('-n', h.namespace, 'route', 'show'), h.namespace).to.not.contain('blackhole')
  })

  it('puts a netem delay on every node link', async function () {
    if (!netem) this.skip() // this kernel has no sch_netem; the next test covers the refusal
    net = await startTestnet({ nodes: 3, netns: true, latencyMs: 20 })
    await expectMesh(net)
    for (const node of net.nodes) {
      const { stdout: qdisc } = await execFileAsync('tc', ['-n', String(node.namespace), 'qdisc', 'show', 'dev', 'eth0'])
      expect(qdisc).to.match(/netem .*delay 20(\.0)?ms/)
    }
  })

  it('refuses --latency without netem and leaves no namespace behind', async function () {
    if (netem) this.skip() // netem works here; the previous test covers it
    const before = await listNamespaces('gn-')
    let error: unknown
    try {
      net = await startTestnet({ nodes: 3, netns: true, latencyMs: 20 })
    } catch (err) {
      error = err
    }
    expect(error).to.be.instanceOf(NetemUnavailableError)
    expect(await listNamespaces('gn-')).to.have.members(before)
    expect(trackedPids()).to.deep.equal([])
  })
})
