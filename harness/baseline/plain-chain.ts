import { spawn, type ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { trackPid, untrackPid } from '../lib/cleanup.js'
import { childEnv } from '../lib/ghostnode-process.js'
import { startDelayProxy, type DelayProxy } from '../lib/delay-proxy.js'
import { BenchSetupError } from '../lib/errors.js'
import { RELAY_NODE_FLAGS } from '../../src/runtime-flags.js'

const RELAY_SCRIPT = fileURLToPath(new URL('./plain-relay.js', import.meta.url))
const READY_TIMEOUT_MS = 15_000
const STOP_DEADLINE_MS = 5_000

export interface PlainHost {
  /** Address the relay listens on and the others reach it at. */
  address: string
  /** e.g. ['ip', 'netns', 'exec', NS] to run it beside a namespaced node. */
  wrap?: string[]
}

export interface PlainRelayProcess {
  name: string
  pid: number
  peerId: string
  multiaddr: string
  /** The relay's GC time so far (it reports its own, observed with perf_hooks). */
  gcSeconds: () => Promise<number>
}

export interface PlainChain {
  /** First relay (A) the client dials; A → B → C, C echoes. */
  entry: string
  relays: PlainRelayProcess[]
  stop: () => Promise<void>
}

interface Spawned { child: ChildProcess, exited: Promise<void>, info: PlainRelayProcess }

async function spawnRelay (name: string, host: PlainHost, port: number, next: string | undefined, framesPerWrite: number | undefined, signal: AbortSignal): Promise<Spawned> {
  const argv = [...(host.wrap ?? []), process.execPath, ...RELAY_NODE_FLAGS, RELAY_SCRIPT, '--listen', `/ip4/${host.address}/tcp/${port}`, ...(next != null ? ['--next', next] : []), ...(framesPerWrite != null ? ['--frames-per-write', String(framesPerWrite)] : [])]
  const child = spawn(argv[0], argv.slice(1), { env: childEnv(), stdio: ['pipe', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }); child.once('error', () => { resolve() }) })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (err) => { reject(new BenchSetupError(`${name}: cannot start the plain relay: ${err.message}`, { cause: err })) })
  })
  const pid = child.pid as number
  trackPid(pid)
  void exited.then(() => { untrackPid(pid) })
  let stderr = ''
  child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2_000) })
  const lines = createInterface({ input: child.stdout! })
  try {
    const first = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new BenchSetupError(`${name}: plain relay not listening within ${READY_TIMEOUT_MS} ms: ${stderr.trim()}`)) }, READY_TIMEOUT_MS)
      const abort = (): void => { reject(new BenchSetupError(`${name}: aborted`)) }
      signal.addEventListener('abort', abort, { once: true })
      lines.once('line', (l) => { clearTimeout(timer); signal.removeEventListener('abort', abort); resolve(l) })
      void exited.then(() => { clearTimeout(timer); reject(new BenchSetupError(`${name}: plain relay exited: ${stderr.trim()}`)) })
    })
    const { peerId, addrs } = JSON.parse(first) as { peerId: string, addrs: string[] }
    const own = addrs.find(a => a.startsWith(`/ip4/${host.address}/tcp/`)) ?? addrs[0]
    if (own == null) throw new BenchSetupError(`${name}: plain relay reports no address`)
    const ma = own.includes('/p2p/') ? own : `${own}/p2p/${peerId}`
    // later lines answer `gc` requests, in order
    const waiting: Array<{ resolve: (s: number) => void, reject: (err: Error) => void }> = []
    lines.on('line', (l) => {
      const gc = (JSON.parse(l) as { gc_seconds?: number }).gc_seconds
      if (typeof gc === 'number') waiting.shift()?.resolve(gc)
    })
    void exited.then(() => {
      lines.close()
      for (const w of waiting.splice(0)) w.reject(new BenchSetupError(`${name}: plain relay exited`))
    })
    const gcSeconds = async (): Promise<number> => new Promise((resolve, reject) => {
      if (child.exitCode != null || child.signalCode != null) {
        reject(new BenchSetupError(`${name}: plain relay exited`))
        return
      }
      waiting.push({ resolve, reject })
      child.stdin?.write('gc\n')
    })
    return { child, exited, info: { name, pid, peerId, multiaddr: ma, gcSeconds } }
  } catch (err) {
    lines.close()
    await stopRelay({ child, exited })
    throw err
  }
}

async function stopRelay ({ child, exited }: { child: ChildProcess, exited: Promise<void> }): Promise<void> {
  if (child.exitCode != null || child.signalCode != null) return
  child.kill('SIGTERM')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, STOP_DEADLINE_MS)
  await exited
  clearTimeout(timer)
}

/**
 * Starts three plain relays C (echo), B → C, A → B, one process each, on the
 * given hosts (loopback, or the testnet's namespaces so they share its
 * network). `port` 0 lets the OS pick (loopback); with namespaces each host has
 * its own address and the same fixed port. Stops whatever it started on failure.
 */
export async function startPlainChain (hosts: PlainHost[], port: number, signal: AbortSignal, framesPerWrite?: number, delayMs?: number): Promise<PlainChain> {
  if (hosts.length !== 3) throw new BenchSetupError(`the plain chain needs 3 hosts, got ${hosts.length}`)
  const started: Spawned[] = []
  const proxies: DelayProxy[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(started.map(stopRelay))
    await Promise.all(proxies.map(async p => p.stop()))
  }
  try {
    const names = ['plain-a', 'plain-b', 'plain-c']
    let next: string | undefined
    for (let i = 2; i >= 0; i--) {
      const relay = await spawnRelay(names[i], hosts[i], port, next, framesPerWrite, signal)
      started.push(relay)
      if (delayMs != null) {
        // the same delay proxy the testnet's nodes sit behind: whoever dials this relay goes through it
        const [, , host, , tcpPort] = relay.info.multiaddr.split('/')
        const proxy = await startDelayProxy({ targetHost: host, targetPort: Number(tcpPort), delayMs, listenHost: host })
        proxies.push(proxy)
        relay.info.multiaddr = `/ip4/${host}/tcp/${proxy.port}/p2p/${relay.info.peerId}`
      }
      next = relay.info.multiaddr
    }
    const relays = started.map(s => s.info).reverse()
    return { entry: relays[0].multiaddr, relays, stop }
  } catch (err) {
    await stop()
    throw err
  }
}
