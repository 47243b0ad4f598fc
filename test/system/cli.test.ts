import { spawn, type ChildProcess } from 'node:child_process'
import { envelopeOverhead } from '../../src/client/envelope.js'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { renderExampleConfig } from '../../src/cli/commands/config.js'
import { runCli } from '../../src/cli/program.js'
import { messageBytes } from '../../src/cli/commands/send.js'
import { protocolName } from '../../src/cli/commands/status.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { loadConfig } from '../../src/config/load.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Output } from '../../src/cli/output.js'

const BIN = fileURLToPath(new URL('../../../bin/ghostnode.js', import.meta.url))

function capture (): Output & { out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, line: (t) => out.push(t), error: (t) => err.push(t) }
}

/** Env without GHOSTNODE_* from the developer's shell, so tests see only what they set. */
function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GHOSTNODE_')))
  return { ...env, ...extra }
}

/** Spawns the real CLI and collects its output. */
function spawnCli (args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess, stdout: () => string, stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  return { child, stdout: () => stdout, stderr: () => stderr }
}

async function waitForOutput (read: () => string, pattern: RegExp, child: ChildProcess, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const m = read().match(pattern)
    if (m != null) return m
    if (child.exitCode != null) throw new Error(`process exited ${child.exitCode} before printing ${pattern}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  throw new Error(`no ${pattern} within ${timeoutMs} ms; got: ${read()}`)
}

/** A TCP port nothing listens on (bound once, then released). */
async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as { port: number }).port
  server.close()
  await once(server, 'close')
  return port
}

async function portIsFree (port: number): Promise<boolean> {
  const server = createServer()
  server.listen(port, '127.0.0.1')
  try {
    await once(server, 'listening')
    return true
  } catch {
    return false
  } finally {
    server.close()
  }
}

describe('ghostnode CLI', function () {
  this.timeout(60_000)
  let dir: string
  let child: ChildProcess | undefined
  const saved = { ...process.env }

  beforeEach(async () => {
    dir = await makeTempDir()
    for (const k of Object.keys(process.env)) if (k.startsWith('GHOSTNODE_')) delete process.env[k]
  })
  afterEach(async () => {
    if (child != null && child.exitCode == null && child.signalCode == null) {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
    child = undefined
    process.env = { ...saved }
    await removeTempDir(dir)
  })

  it('start prints peer id and addresses, serves /health, exits 0 on SIGTERM and releases its ports', async () => {
    const run = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0'], cleanEnv())
    child = run.child
    const [, peerId] = await waitForOutput(run.stdout, /peer id: (\S+)/, child)
    const [, port] = await waitForOutput(run.stdout, /http: http:\/\/127\.0\.0\.1:(\d+)/, child)
    const [, tcpPort] = await waitForOutput(run.stdout, /listening: \/ip4\/127\.0\.0\.1\/tcp\/(\d+)\/p2p\//, child)
    const health: any = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
    expect(health.peerId).to.equal(peerId)
    expect(health.status).to.equal('ok')

    const status = capture()
    expect(await runCli(['status', '--data-dir', dir, '--url', `http://127.0.0.1:${port}`], status)).to.equal(0)
    expect(status.out.join('\n')).to.contain(`peer id: ${peerId}`)
    expect(status.out.join('\n')).to.match(/status: ok \(ready\)\n( {2}warning: .*\n)*peers 0, circuits 0, stored messages 0, RSS \d+ MiB/)
    const peers = capture()
    expect(await runCli(['peers', '--data-dir', dir, '--url', `http://127.0.0.1:${port}`], peers)).to.equal(0)
    expect(peers.out[0]).to.equal('0 connection(s)')

    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    expect(code).to.equal(0)
    expect(run.stdout()).to.contain('stopped')
    expect(await portIsFree(Number(port))).to.equal(true)
    expect(await portIsFree(Number(tcpPort))).to.equal(true)
  })

  it('start-up failures exit with their own code and one line, no stack trace', async () => {
    const oneLine = (stderr: string): void => {
      expect(stderr.trim().split('\n'), stderr).to.have.length(1)
      expect(stderr, 'no stack trace').to.not.match(/\n\s+at /)
    }
    // a running node holds the data dir and a TCP port
    const run = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0'], cleanEnv())
    child = run.child
    const [, tcpPort] = await waitForOutput(run.stdout, /listening: \/ip4\/127\.0\.0\.1\/tcp\/(\d+)\/p2p\//, child)
    const [, httpPort] = await waitForOutput(run.stdout, /http: http:\/\/127\.0\.0\.1:(\d+)/, child)

    const cases: Array<{ what: string, args: string[], code: number, says: RegExp }> = [
      { what: 'listen port in use', args: ['--data-dir', join(dir, 'b'), '--listen', `/ip4/127.0.0.1/tcp/${tcpPort}`, '--no-http'], code: 3, says: new RegExp(`/ip4/127\\.0\\.0\\.1/tcp/${tcpPort} is already in use.*listen \\(--listen, GHOSTNODE_LISTEN\\)`) },
      { what: 'HTTP port in use', args: ['--data-dir', join(dir, 'c'), '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', httpPort], code: 3, says: new RegExp(`127\\.0\\.0\\.1:${httpPort} is already in use.*--http-port`) },
      { what: 'data dir held by the running node', args: ['--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-http'], code: 3, says: /data dir .* is in use by another running ghostnode/ },
      { what: 'data dir that is a file', args: ['--data-dir', join(dir, 'identity.key'), '--no-http'], code: 2, says: /data dir .*identity\.key is a file, not a directory/ },
      { what: 'data dir under a file', args: ['--data-dir', join(dir, 'identity.key', 'sub'), '--no-http'], code: 2, says: /cannot be created: a parent of it is a file/ }
    ]
    for (const c of cases) {
      const failed = spawnCli(['start', ...c.args], cleanEnv())
      const [code] = await once(failed.child, 'exit')
      expect(code, `${c.what}: ${failed.stderr()}`).to.equal(c.code)
      expect(failed.stderr(), c.what).to.match(c.says)
      oneLine(failed.stderr())
    }
    // the running node was not disturbed
    const health: any = await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json()
    expect(health.status).to.equal('ok')
  })

  it('start says so when node runs without the V8 flags a relay needs, and not when it has them', async () => {
    const bare = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-http'], cleanEnv())
    child = bare.child
    await waitForOutput(bare.stdout, /notice: node was started without --max-semi-space-size=4/, child)
    child.kill('SIGTERM')
    await once(child, 'exit')

    const flagged = spawn(process.execPath, ['--max-semi-space-size=4', BIN, 'start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--no-http'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    child = flagged
    let out = ''
    flagged.stdout?.on('data', (d: Buffer) => { out += d.toString() })
    await waitForOutput(() => out, /listening: /, flagged)
    flagged.kill('SIGTERM')
    await once(flagged, 'exit')
    expect(out).to.not.contain('notice:')
  })

  it('refuses Node.js older than 22 before loading anything, naming the version', async () => {
    // the system Node on the machine that runs the tests may be old; a version check runs first in bin/
    const fake = spawn(process.execPath, ['-e', `Object.defineProperty(process.versions, 'node', { value: '20.20.2' }); await import(${JSON.stringify(BIN)})`, '--input-type=module'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    fake.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    const [code] = await once(fake, 'exit')
    expect(code).to.equal(4)
    expect(stderr).to.match(/Node\.js 20\.20\.2 is too old; ghostnode needs Node\.js 22 or newer/)
    expect(stderr.trim().split('\n')).to.have.length(1)
  })

  it('status exits 1 and says why when the node is not ready (bootstrap peer down), 0 with a summary when it is', async () => {
    const deadPort = await freePort()
    const dead = `/ip4/127.0.0.1/tcp/${deadPort}/p2p/12D3KooWD5qmLvTztdaedzarPPsnm5Ujc1cmVrGTkm43deFyM2LL`
    const run = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0', '--bootstrap', dead], cleanEnv())
    child = run.child
    const [, port] = await waitForOutput(run.stdout, /http: http:\/\/127\.0\.0\.1:(\d+)/, child)
    const status = capture()
    expect(await runCli(['status', '--data-dir', dir, '--url', `http://127.0.0.1:${port}`], status)).to.equal(1)
    expect(status.out.join('\n')).to.match(/status: degraded \(not ready\)\n {2}not ready: no bootstrap peer reachable \(0 connected of 1 configured\)/)
    expect(status.out.join('\n')).to.match(/peers 0, circuits 0, stored messages 0, RSS \d+ MiB/)
    expect(status.err.join('\n')).to.contain('the node is not ready: no bootstrap peer reachable')
    const json = capture()
    expect(await runCli(['status', '--json', '--data-dir', dir, '--url', `http://127.0.0.1:${port}`], json)).to.equal(1)
    expect(JSON.parse(json.out[0]).reasons).to.have.length(1)
  })

  it('SIGHUP reloads the config file: applies live keys, names the rest, refuses a broken file, never stops the node', async () => {
    const file = join(dir, 'node.json')
    await writeFile(file, JSON.stringify({ rateLimit: { limits: { circuits: { burst: 5 } } } }))
    const run = spawnCli(['start', '--data-dir', dir, '--config', file, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0'], cleanEnv())
    child = run.child
    const [, port] = await waitForOutput(run.stdout, /http: http:\/\/127\.0\.0\.1:(\d+)/, child)

    await writeFile(file, JSON.stringify({ rateLimit: { limits: { circuits: { burst: 50 } } }, onion: { maxCircuits: 1234 } }))
    child.kill('SIGHUP')
    await waitForOutput(run.stdout, /SIGHUP: config reloaded \(.*node\.json\): applied rateLimit\.limits\.circuits\.burst; needs a restart: onion\.maxCircuits \(running values kept\)/, child)

    await writeFile(file, '{ "rateLimit": { "limits": { "circuits": { "burst": -1 } } } }')
    child.kill('SIGHUP')
    await waitForOutput(run.stdout, /WARN: SIGHUP: config refused, the running config stays: .*rateLimit\.limits\.circuits\.burst/, child)

    await writeFile(file, '{ not json')
    child.kill('SIGHUP')
    await waitForOutput(run.stdout, /WARN: SIGHUP: config refused, the running config stays: [^\n]*node\.json/, child)

    const health: any = await (await fetch(`http://127.0.0.1:${port}/health`)).json()
    expect(health.status).to.equal('ok')
    child.kill('SIGTERM')
    const [code] = await once(child, 'exit')
    expect(code).to.equal(0)
  })

  it('send and fetch refuse bad input up front with exit 2, naming the flag and the limit', async () => {
    const to = 'ab'.repeat(32)
    const cases: Array<{ args: string[], says: RegExp }> = [
      { args: ['send', '--to', 'not-a-key', 'hi'], says: /"--to" has invalid value "not-a-key".*64 characters/ },
      { args: ['send', '--to', to, ''], says: /"<message>".*is empty/ },
      { args: ['send', '--to', to, 'x'.repeat(DEFAULT_CONFIG.swarm.maxMessageBytes - envelopeOverhead(false) + 1)], says: new RegExp(`is too large: a mailbox message holds at most ${DEFAULT_CONFIG.swarm.maxMessageBytes - envelopeOverhead(false)} bytes once sealed \\(swarm\\.maxMessageBytes\\)`) },
      { args: ['send', '--raw', '--to', to, 'x'.repeat(DEFAULT_CONFIG.swarm.maxMessageBytes + 1)], says: new RegExp(`is too large: a mailbox message holds at most ${DEFAULT_CONFIG.swarm.maxMessageBytes} bytes \\(swarm\\.maxMessageBytes\\)`) },
      { args: ['send', '--raw', '--from', 'me.key', '--to', to, 'x'], says: /"--from".*cannot be used with --raw/ },
      { args: ['send', '--to', to, '--ttl', '5', 'hi'], says: /"--ttl" has invalid value "5".*between 10 and 1209600/ },
      { args: ['send', '--to', to, '--ttl', String(15 * 86_400), 'hi'], says: /between 10 and 1209600/ },
      { args: ['status', '--url', 'localhost:7402'], says: /"--url".*must be an http:\/\/ or https:\/\/ URL/ },
      { args: ['fetch'], says: /no mailbox key: pass --key <file>, or create .*mailbox\.key with "ghostnode keygen"/ }
    ]
    for (const c of cases) {
      const io = capture()
      expect(await runCli([...c.args, '--data-dir', dir], io), c.args.join(' ')).to.equal(2)
      expect(io.err.join('\n'), c.args.join(' ')).to.match(c.says)
    }
  })

  it('send - reads the message from standard input, bytes as they are', async () => {
    const bytes = Uint8Array.from([0, 1, 2, 255, 10])
    expect(await messageBytes('-', Readable.from([Buffer.from(bytes)]))).to.deep.equal(bytes)
    expect(new TextDecoder().decode(await messageBytes('-x'))).to.equal('-x')
  })

  it('a reader that closes early (| head -1) ends the CLI quietly, exit 0', async () => {
    const run = spawn(process.execPath, [BIN, 'config', '--defaults', '--data-dir', dir], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    run.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    run.stdout?.once('data', () => { run.stdout?.destroy() })
    const [code] = await once(run, 'exit')
    expect(stderr).to.not.match(/EPIPE|\n\s+at /)
    expect(code).to.equal(0)
  })

  it('id prints dialable addresses for a wildcard listen address, and peers readable protocol names', async () => {
    expect(await runCli(['init', '--data-dir', dir], capture())).to.equal(0)
    const io = capture()
    expect(await runCli(['id', '--data-dir', dir, '--listen', '/ip4/0.0.0.0/tcp/7400'], io)).to.equal(0)
    const text = io.out.join('\n')
    expect(text).to.not.contain('0.0.0.0')
    expect(text).to.match(/dial at: \/ip4\/127\.0\.0\.1\/tcp\/7400\/p2p\//)
    expect(protocolName('/noise')).to.equal('noise')
    expect(protocolName('/yamux/1.0.0')).to.equal('yamux/1.0.0')
  })

  it('ban and unban a connected peer through the loopback endpoint; bans, members; a browser-style request is refused', async () => {
    const run = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-port', '0'], cleanEnv())
    child = run.child
    const [, port] = await waitForOutput(run.stdout, /http: http:\/\/127\.0\.0\.1:(\d+)/, child)
    const [, addr] = await waitForOutput(run.stdout, /listening: (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/, child)
    const url = `http://127.0.0.1:${port}`
    // a second node, a peer of the first
    const other = spawnCli(['start', '--data-dir', join(dir, 'other'), '--listen', '/ip4/127.0.0.1/tcp/0', '--no-http', '--bootstrap', addr, '--set', 'discovery.bootstrapRetryMinMs=250'], cleanEnv())
    try {
      const [, otherId] = await waitForOutput(other.stdout, /peer id: (\S+)/, other.child)
      const peersOf = async (): Promise<string[]> => ((await (await fetch(`${url}/peers`)).json()) as { peers: Array<{ peerId: string }> }).peers.map(p => p.peerId)
      const deadline = Date.now() + 15_000
      while (!(await peersOf()).includes(otherId) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
      expect(await peersOf()).to.include(otherId)

      const ban = capture()
      expect(await runCli(['ban', otherId, '--for', '10m', '--url', url], ban), ban.err.join('\n')).to.equal(0)
      expect(ban.out[0]).to.match(new RegExp(`banned ${otherId} until \\d{4}-`))
      const bans = capture()
      expect(await runCli(['bans', '--url', url], bans)).to.equal(0)
      expect(bans.out.join('\n')).to.match(new RegExp(`1 banned peer\\(s\\)\\n${otherId} {2}score=[\\d.]+ reason=operator until=`))
      // hung up, and kept out while it keeps redialling its bootstrap peer
      await new Promise(resolve => setTimeout(resolve, 1500))
      expect(await peersOf()).to.not.include(otherId)

      // what a web page could send to 127.0.0.1 is refused: an Origin, or no admin header
      const fromPage = await fetch(`${url}/bans/${otherId}`, { method: 'DELETE', headers: { origin: 'https://evil.example', 'x-ghostnode-admin': '1' } })
      expect(fromPage.status).to.equal(403)
      const noHeader = await fetch(`${url}/bans/${otherId}`, { method: 'POST' })
      expect(noHeader.status).to.equal(403)
      expect((await (await fetch(`${url}/bans`)).json() as { bans: unknown[] }).bans).to.have.length(1)
      const bad = capture()
      expect(await runCli(['ban', 'not-a-peer', '--url', url], bad)).to.equal(1)
      expect(bad.err.join('\n')).to.match(/refused \(HTTP 400\): not a peer id/)

      const unban = capture()
      expect(await runCli(['unban', otherId, '--url', url], unban)).to.equal(0)
      expect(unban.out[0]).to.equal(`unbanned ${otherId}`)
      const none = capture()
      expect(await runCli(['bans', '--url', url], none)).to.equal(0)
      expect(none.out[0]).to.equal('0 banned peer(s)')

      const members = capture()
      expect(await runCli(['members', '--url', url], members)).to.equal(0)
      expect(members.out.join('\n')).to.match(/\d+ swarm member\(s\)\n\S+ \(this node\) {2}connected {2}(ready|pulling) {2}last seen /)
    } finally {
      other.child.kill('SIGKILL')
      await once(other.child, 'exit')
    }
  })

  it('refuses ban and unban while the endpoint is bound beyond loopback', async () => {
    const run = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-host', '0.0.0.0', '--http-port', '0'], cleanEnv())
    child = run.child
    const [, port] = await waitForOutput(run.stdout, /http: http:\/\/0\.0\.0\.0:(\d+)/, child)
    const io = capture()
    expect(await runCli(['ban', '12D3KooWD5qmLvTztdaedzarPPsnm5Ujc1cmVrGTkm43deFyM2LL', '--url', `http://127.0.0.1:${port}`], io)).to.equal(1)
    expect(io.err.join('\n')).to.match(/HTTP 403.*only while http\.host is a loopback address/)
  })

  it('with http.adminTokenFile, ban works on a non-loopback endpoint for the token holder only; a token file others can read stops the start', async () => {
    const tokenFile = join(dir, 'admin.token')
    await writeFile(tokenFile, 'b'.repeat(64) + '\n', { mode: 0o644 })
    const exposed = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-host', '0.0.0.0', '--http-port', '0', '--set', `http.adminTokenFile=${tokenFile}`], cleanEnv())
    const [code] = await once(exposed.child, 'exit')
    expect(code).to.equal(2)
    expect(exposed.stderr()).to.match(/http\.adminTokenFile .* has mode 644; run "chmod 600/)
    await chmod(tokenFile, 0o600)

    const run = spawnCli(['start', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--http-host', '0.0.0.0', '--http-port', '0', '--set', `http.adminTokenFile=${tokenFile}`], cleanEnv())
    child = run.child
    const [, port] = await waitForOutput(run.stdout, /http: http:\/\/0\.0\.0\.0:(\d+)/, child)
    const url = `http://127.0.0.1:${port}`
    const peer = '12D3KooWD5qmLvTztdaedzarPPsnm5Ujc1cmVrGTkm43deFyM2LL'
    const wrong = await fetch(`${url}/bans/${peer}`, { method: 'POST', headers: { 'x-ghostnode-admin': '1', authorization: `Bearer ${'c'.repeat(64)}` } })
    expect(wrong.status).to.equal(401)
    const io = capture()
    expect(await runCli(['ban', peer, '--url', url, '--data-dir', dir, '--set', `http.adminTokenFile=${tokenFile}`], io), io.err.join('\n')).to.equal(0)
    const bans = capture()
    expect(await runCli(['bans', '--url', url], bans)).to.equal(0)
    expect(bans.out[0]).to.equal('1 banned peer(s)')
  })

  it('exits 2 and names the key for a bad config file', async () => {
    const file = join(dir, 'bad.json')
    await writeFile(file, JSON.stringify({ connections: { max: -5 } }))
    const run = spawnCli(['start', '--data-dir', dir, '--config', file], cleanEnv())
    child = run.child
    const [code] = await once(child, 'exit')
    expect(code).to.equal(2)
    expect(run.stderr()).to.contain('connections.max').and.contain('-5')
  })

  it('exits 2 and names onion.maxQueuedBytes when it does not fit the memory bound', async () => {
    const err = capture()
    expect(await runCli(['start', '--data-dir', dir, '--set', 'memory.maxRssBytes=268435456', '--set', 'onion.maxQueuedBytes=134217728'], err)).to.equal(2)
    expect(err.err.join('\n')).to.contain('onion.maxQueuedBytes').and.contain('memory.maxRssBytes')
  })

  it('config refuses what start would: swarm.writeQuorum above swarm.replicas exits 2 naming the key', async () => {
    for (const command of ['config', 'start']) {
      const err = capture()
      expect(await runCli([command, '--data-dir', dir, '--set', 'swarm.writeQuorum=4'], err), command).to.equal(2)
      expect(err.err.join('\n'), command).to.contain('swarm.writeQuorum').and.contain('swarm.replicas')
    }
  })

  it('exits 2 for an unknown key and for a bad environment value', async () => {
    const file = join(dir, 'bad.json')
    await writeFile(file, JSON.stringify({ htp: {} }))
    const err = capture()
    expect(await runCli(['start', '--data-dir', dir, '--config', file], err)).to.equal(2)
    expect(err.err.join('\n')).to.contain('"htp"')
    process.env.GHOSTNODE_HTTP_PORT = 'abc'
    const env = capture()
    expect(await runCli(['id', '--data-dir', dir], env)).to.equal(2)
    expect(env.err.join('\n')).to.contain('http.port').and.contain('abc')
  })

  it('exits 2 for an unknown command or option', async () => {
    expect(await runCli(['frobnicate'], capture())).to.equal(2)
    expect(await runCli(['start', '--no-such-flag'], capture())).to.equal(2)
  })

  it('init writes the key (0600) and a commented config that start then reads; id prints the same peer id', async () => {
    const init = capture()
    expect(await runCli(['init', '--data-dir', dir, '--http-port', '0', '--listen', '/ip4/127.0.0.1/tcp/0'], init)).to.equal(0)
    const peerLine = init.out.find(l => l.startsWith('peer id: '))
    expect(peerLine).to.not.equal(undefined)
    expect((await stat(join(dir, 'identity.key'))).mode & 0o777).to.equal(0o600)
    const text = await readFile(join(dir, 'config.json'), 'utf8')
    expect(text).to.match(/^\/\/ ghostnode configuration/)
    expect(text).to.contain('"port": 0')

    const id = capture()
    expect(await runCli(['id', '--data-dir', dir, '--json'], id)).to.equal(0)
    const parsed = JSON.parse(id.out[0])
    expect(`peer id: ${String(parsed.peerId)}`).to.equal(peerLine)
    expect(parsed.addrs).to.deep.equal([`/ip4/127.0.0.1/tcp/0/p2p/${String(parsed.peerId)}`])

    const again = capture()
    expect(await runCli(['init', '--data-dir', dir], again)).to.equal(0)
    expect(again.out.join('\n')).to.contain('kept existing identity').and.contain('kept existing config')
  })

  it('id fails clearly when no identity exists', async () => {
    const out = capture()
    expect(await runCli(['id', '--data-dir', dir], out)).to.equal(1)
    expect(out.err.join('\n')).to.contain('ghostnode init')
  })

  it('status fails clearly when no node runs', async () => {
    const out = capture()
    expect(await runCli(['status', '--data-dir', dir, '--url', 'http://127.0.0.1:9'], out)).to.equal(1)
    expect(out.err.join('\n')).to.contain('no ghostnode answers')
  })

  it('prints help for every command', async () => {
    for (const cmd of ['init', 'start', 'id', 'status', 'peers', 'config']) {
      const out = capture()
      expect(await runCli([cmd, '--help'], out)).to.equal(0)
      expect(out.out.join('\n')).to.contain(`Usage: ghostnode ${cmd}`)
    }
  })
})

describe('config/ghostnode.example.json', () => {
  it('is current with the defaults (regenerate: npm run config:example)', async () => {
    const committed = await readFile(fileURLToPath(new URL('../../../config/ghostnode.example.json', import.meta.url)), 'utf8')
    expect(committed).to.equal(renderExampleConfig())
  })

  it('loads back to the defaults', async () => {
    const path = fileURLToPath(new URL('../../../config/ghostnode.example.json', import.meta.url))
    const { config } = loadConfig({ configFile: path, env: {} })
    expect({ ...config, dataDir: DEFAULT_CONFIG.dataDir }).to.deep.equal(DEFAULT_CONFIG)
  })

  it('ghostnode config prints the effective values', async () => {
    const out = capture()
    expect(await runCli(['config', '--set', 'http.port=1234', '--data-dir', '/tmp/ghostnode-nonexistent'], out)).to.equal(0)
    expect(out.out.join('\n')).to.contain('"port": 1234')
  })
})
