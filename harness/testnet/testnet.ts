import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { trackDir, untrackDir } from '../lib/cleanup.js'
import { startDelayProxy, type DelayProxy } from '../lib/delay-proxy.js'
import { CommandFailedError, NodeStartError } from '../lib/errors.js'
import { DEFAULT_STOP_DEADLINE_MS, describeExit, logTail, runGhostnode, startGhostnode, stopGhostnode, type GhostnodeProcess, type ProcessExit, type StopResult } from '../lib/ghostnode-process.js'
import { TestnetAbortedError, TestnetConfigError } from './errors.js'
import { createNetnsNetwork, RUN_ID_LENGTH, type NetnsNetwork } from './netns.js'
import { assertPortsFree, DEFAULT_BASE_PORT, freePorts, sharedHostPorts, type NodePorts } from './ports.js'
import { DEFAULT_READY_TIMEOUT_MS, getJson, waitForMembers, waitForPeers, waitForReady } from './ready.js'

export const DEFAULT_NODE_COUNT = 3
const MAX_NODES = 50

/**
 * Every testnet node starts at about the same time, so its first dial to a
 * peer often lands before that peer listens. Short bootstrap retries let the
 * mesh form in about a second instead of waiting on the production backoff.
 */
const TESTNET_NODE_SETTINGS = ['--set', 'discovery.bootstrapRetryMinMs=250', '--set', 'discovery.bootstrapRetryMaxMs=2000']

/** The first nodes (up to three) are the testnet's authorities, k = 2 of 3 (a majority). */
export const TESTNET_AUTHORITIES = 3

/**
 * A loopback (or namespace) testnet: private addresses are its addresses, the
 * per-prefix caps would admit two relays, and operators watching it want a new
 * relay to carry circuits within seconds, so periods and probation are short.
 */
export const TESTNET_NETWORK_SETTINGS = [
  '--set', 'network.allowPrivateAddresses=true',
  '--set', 'network.documentIntervalMs=2000',
  '--set', 'network.admission.probationMs=5000',
  '--set', 'network.admission.maxPer24=1000',
  '--set', 'network.admission.maxPer16=1000',
  '--set', 'network.admission.maxNewPerHour=1000'
]

export interface TestnetOptions {
  /** @default 3 */
  nodes?: number
  /** Called for every node that exits without kill() or stop() asking it to (unexpectedExit resolves for the first only). */
  onUnexpectedExit?: (name: string, exit: ProcessExit) => void
  /** Node data dirs are <baseDir>/node1..N. @default a fresh temp dir */
  baseDir?: string
  /**
   * First port. On loopback node i (0-based) uses base+3i (TCP), +1 (WS), +2
   * (HTTP); 0 takes ports the OS reports free. With netns every node uses
   * base, base+1, base+2 on its own address (0 means the default).
   * @default 7500
   */
  basePort?: number
  /** One Linux network namespace per node (root only). @default false */
  netns?: boolean
  /** tc netem delay (ms) on every node's link; needs netns. */
  latencyMs?: number
  /**
   * Loopback only: a user-space delay proxy (harness/lib/delay-proxy.ts) in
   * front of every node's TCP listener, holding each chunk this many ms each
   * way. Nodes announce, bootstrap to and name as authorities the proxies'
   * addresses, so every connection between nodes, and a client's to any node,
   * passes through exactly one proxy: one link's round trip is 2 × this.
   */
  proxyLatencyMs?: number
  /** Appended to every `ghostnode init` and `ghostnode start` (so a later --set wins). */
  extraArgs?: string[]
  /** Deadline for every node to be ready and connected to all others. @default 30000 */
  readyTimeoutMs?: number
  /** Per-node SIGTERM-to-SIGKILL deadline on stop. @default 12000 */
  stopDeadlineMs?: number
  /** Keep the data dirs (keys, logs) after stop. @default true when baseDir is given, else false */
  keepData?: boolean
  /** Aborting it while starting stops everything started so far. */
  signal?: AbortSignal
  /** Progress lines. */
  log?: (line: string) => void
}

export interface TestnetNode {
  name: string
  peerId: string
  /** What the node reports listening on (from /health), each ending in /p2p/<peerId>. */
  multiaddrs: string[]
  httpUrl: string
  pid: number
  dataDir: string
  logPath: string
  host: string
  ports: NodePorts
  /** The node's network namespace, with netns. */
  namespace?: string
  process: GhostnodeProcess
}

export interface Testnet {
  runId: string
  baseDir: string
  nodes: TestnetNode[]
  /** The namespaces' subnet and bridge, with netns. */
  network?: NetnsNetwork
  /**
   * The network flags every node of this testnet runs with (its authorities and
   * the testnet's admission settings): a node started by hand on one of its data
   * dirs needs them to be part of the same network.
   */
  networkArgs: string[]
  /** Resolves if a node exits on its own while the testnet runs (never during stop()). */
  unexpectedExit: Promise<{ name: string, exit: ProcessExit }>
  /**
   * Sends `signal` (default SIGKILL) to node `index` (0-based) and resolves with its exit.
   * That exit is expected: it does not resolve `unexpectedExit`.
   */
  kill: (index: number, signal?: NodeJS.Signals) => Promise<ProcessExit>
  /**
   * Starts node `index` again after kill(): same data dir (so the same identity and
   * stored data), ports and flags. Resolves once it is ready and connected to every
   * other running node; its new entry replaces the old one in `nodes`.
   */
  restart: (index: number, options?: { readyTimeoutMs?: number }) => Promise<TestnetNode>
  /** Stops every node (SIGTERM, deadline, SIGKILL), removes namespaces and temp data; idempotent. */
  stop: () => Promise<StopResult[]>
}

interface PlannedNode {
  name: string
  dataDir: string
  host: string
  ports: NodePorts
  wrap?: string[]
  namespace?: string
  /** The delay proxy in front of the TCP listener: the port other nodes and clients dial. */
  proxy?: DelayProxy
}

/** The TCP port others dial: the delay proxy's when there is one. */
function dialPort (n: PlannedNode): number {
  return n.proxy?.port ?? n.ports.tcp
}

function validate (options: TestnetOptions): number {
  const count = options.nodes ?? DEFAULT_NODE_COUNT
  if (!Number.isInteger(count) || count < 2 || count > MAX_NODES) throw new TestnetConfigError(`nodes must be an integer from 2 to ${MAX_NODES}, got ${count}`)
  const base = options.basePort ?? DEFAULT_BASE_PORT
  if (!Number.isInteger(base) || base < 0 || base + 3 * count > 65_535) throw new TestnetConfigError(`base port ${base} leaves no room for ${count} nodes`)
  if (options.proxyLatencyMs != null) {
    if (options.netns === true || options.latencyMs != null) throw new TestnetConfigError('the delay proxy is for loopback testnets; with --netns use --latency (netem)')
    if (!Number.isFinite(options.proxyLatencyMs) || options.proxyLatencyMs < 0 || options.proxyLatencyMs > 10_000) throw new TestnetConfigError(`proxy latency must be 0-10000 ms, got ${options.proxyLatencyMs}`)
  }
  if (options.latencyMs != null) {
    if (options.netns !== true) throw new TestnetConfigError('latency needs --netns (netem on loopback would slow every local connection)')
    if (!Number.isInteger(options.latencyMs) || options.latencyMs < 0 || options.latencyMs > 10_000) throw new TestnetConfigError(`latency must be 0-10000 ms, got ${options.latencyMs}`)
  }
  return count
}

async function planPorts (count: number, options: TestnetOptions, names: string[]): Promise<NodePorts[]> {
  if (options.netns === true) {
    const base = options.basePort === 0 || options.basePort == null ? DEFAULT_BASE_PORT : options.basePort
    return names.map(() => sharedHostPorts(base, 0))
  }
  if (options.basePort === 0) {
    const free = await freePorts(3 * count)
    return names.map((_, i) => ({ tcp: free[3 * i], ws: free[3 * i + 1], http: free[3 * i + 2] }))
  }
  const ports = names.map((_, i) => sharedHostPorts(options.basePort ?? DEFAULT_BASE_PORT, i))
  await assertPortsFree(names.map((name, i) => ({ name, ports: ports[i] })))
  return ports
}

/** `network.authorities` of a testnet: its first nodes' TCP addresses. */
export function testnetAuthorities (nodes: Array<{ host: string, tcp: number, peerId: string }>): string[] {
  return nodes.map(n => `/ip4/${n.host}/tcp/${n.tcp}/p2p/${n.peerId}`)
}

/** Arguments after `--data-dir`, shared by `init` and `start`: where the node listens and serves HTTP. */
function nodeArgs (n: PlannedNode): string[] {
  return [
    '--listen', `/ip4/${n.host}/tcp/${n.ports.tcp}`,
    '--listen', `/ip4/${n.host}/tcp/${n.ports.ws}/ws`,
    '--http-host', n.host,
    '--http-port', String(n.ports.http),
    ...TESTNET_NODE_SETTINGS
  ]
}

function logPathOf (n: PlannedNode): string {
  return join(n.dataDir, 'node.log')
}

function pidPathOf (dataDir: string): string {
  return join(dataDir, 'node.pid')
}

/** Stops the node and removes its pid file. */
async function stopAndForget (proc: GhostnodeProcess, deadlineMs: number): Promise<StopResult> {
  const result = await stopGhostnode(proc, 'SIGTERM', deadlineMs)
  await rm(pidPathOf(proc.dataDir), { force: true })
  return result
}

function httpUrl (n: PlannedNode): string {
  return `http://${n.host}:${n.ports.http}`
}

/**
 * Starts an N-node ghostnode testnet, each node its own process bootstrapped
 * to all the others, and resolves once every node is ready and connected to
 * every other node. On any failure it stops whatever it started and rethrows.
 */
export async function startTestnet (options: TestnetOptions = {}): Promise<Testnet> {
  const count = validate(options)
  const log = options.log ?? (() => {})
  const runId = randomBytes(Math.ceil(RUN_ID_LENGTH / 2)).toString('hex').slice(0, RUN_ID_LENGTH)
  const ownDir = options.baseDir == null
  const baseDir = options.baseDir ?? await mkdtemp(join(tmpdir(), 'ghostnode-testnet-'))
  const keepData = options.keepData ?? !ownDir
  if (!keepData) trackDir(baseDir)
  const procs: GhostnodeProcess[] = []
  const proxies: DelayProxy[] = []
  let network: NetnsNetwork | undefined
  let stopping = false
  let stopped: Promise<StopResult[]> | undefined
  // ends the other nodes' readiness polls as soon as one of them fails
  const waits = new AbortController()
  const waitSignal = options.signal != null ? AbortSignal.any([options.signal, waits.signal]) : waits.signal
  // processes killed on purpose (kill()): their exit is not "unexpected"
  const killed = new Set<GhostnodeProcess>()
  let reportExit: (exit: { name: string, exit: ProcessExit }) => void = () => {}
  const unexpectedExit = new Promise<{ name: string, exit: ProcessExit }>((resolve) => { reportExit = resolve })
  const watch = (p: GhostnodeProcess): void => {
    void p.exited.then((exit) => {
      if (stopping || killed.has(p)) return
      reportExit({ name: p.name, exit })
      options.onUnexpectedExit?.(p.name, exit)
    })
  }

  const stop = async (): Promise<StopResult[]> => {
    stopping = true
    stopped ??= (async () => {
      const deadline = options.stopDeadlineMs ?? DEFAULT_STOP_DEADLINE_MS
      const settled = await Promise.allSettled(procs.map(async p => stopAndForget(p, deadline)))
      const errors = settled.flatMap(s => s.status === 'rejected' ? [(s.reason as Error).message] : [])
      await network?.teardown().catch((err: Error) => { errors.push(err.message) })
      await Promise.all(proxies.map(async p => p.stop()))
      if (!keepData) {
        await rm(baseDir, { recursive: true, force: true })
        untrackDir(baseDir)
      }
      if (errors.length > 0) throw new Error(`testnet stop: ${errors.join('; ')}`)
      return settled.flatMap(s => s.status === 'fulfilled' ? [s.value] : [])
    })()
    return stopped
  }

  try {
    const names = Array.from({ length: count }, (_, i) => `node${i + 1}`)
    if (options.netns === true) {
      log(`creating ${count} network namespaces (run ${runId})`)
      network = await createNetnsNetwork({ runId, count, ...(options.latencyMs != null ? { latencyMs: options.latencyMs } : {}) })
    }
    const ports = await planPorts(count, options, names)
    const planned: PlannedNode[] = names.map((name, i) => {
      const host = network?.hosts[i]
      return {
        name,
        dataDir: join(baseDir, name),
        host: host?.address ?? '127.0.0.1',
        ports: ports[i],
        ...(host != null ? { wrap: network?.wrap(i), namespace: host.namespace } : {})
      }
    })

    // init first, so every peer id is known before any node needs a bootstrap list
    const peerIds = await Promise.all(planned.map(async (n) => {
      await mkdir(n.dataDir, { recursive: true, mode: 0o700 })
      const { stdout } = await runGhostnode(['init', '--force', '--data-dir', n.dataDir, ...nodeArgs(n), ...(options.extraArgs ?? [])])
      const peerId = /^peer id: (\S+)$/m.exec(stdout)?.[1]
      if (peerId == null) throw new CommandFailedError(`ghostnode init for ${n.name}`, `printed no "peer id:" line: ${stdout}`)
      return peerId
    }))
    planned.forEach((n, i) => { log(`${n.name}: initialised ${peerIds[i]} in ${n.dataDir}`) })
    if (options.signal?.aborted === true) throw new TestnetAbortedError()

    if (options.proxyLatencyMs != null) {
      for (const n of planned) {
        n.proxy = await startDelayProxy({ targetHost: n.host, targetPort: n.ports.tcp, delayMs: options.proxyLatencyMs, listenHost: n.host })
        proxies.push(n.proxy)
      }
      log(`delay proxies (${options.proxyLatencyMs} ms each way): ${planned.map(n => `${n.name} :${dialPort(n)} → :${n.ports.tcp}`).join(', ')}`)
    }
    const authorities = testnetAuthorities(planned.slice(0, TESTNET_AUTHORITIES).map((m, j) => ({ host: m.host, tcp: dialPort(m), peerId: peerIds[j] })))
    const networkArgs = ['--set', `network.authorities=${authorities.join(',')}`, ...TESTNET_NETWORK_SETTINGS]

    const launch = async (i: number): Promise<GhostnodeProcess> => {
      const n = planned[i]
      const bootstrap = planned.flatMap((m, j) => j === i ? [] : ['--bootstrap', `/ip4/${m.host}/tcp/${dialPort(m)}/p2p/${peerIds[j]}`])
      // behind a proxy the node names the proxy as its address, so nobody dials it directly
      const announce = n.proxy != null ? ['--announce', `/ip4/${n.host}/tcp/${n.proxy.port}`] : []
      const proc = await startGhostnode({
        name: n.name,
        dataDir: n.dataDir,
        args: [...nodeArgs(n), ...announce, ...bootstrap, ...networkArgs, ...(options.extraArgs ?? [])],
        logPath: logPathOf(n),
        detached: true,
        waitForAddresses: false, // waitUp() asks its HTTP endpoint instead
        ...(n.wrap != null ? { wrap: n.wrap } : {})
      })
      // for `kill $(cat DIR/node*/node.pid)` when the launcher itself was SIGKILLed
      await writeFile(pidPathOf(n.dataDir), `${proc.pid}\n`)
      log(`${n.name}: started pid ${proc.pid}, log ${logPathOf(n)}`)
      return proc
    }

    /** Ready, and connected to every node in `peersOf` (by index). */
    const waitUp = async (i: number, proc: GhostnodeProcess, peersOf: number[], deadline: number, signal: AbortSignal): Promise<void> => {
      const n = planned[i]
      const waitOptions = {
        timeoutMs: Math.max(0, deadline - Date.now()),
        signal,
        failFast: async () => {
          if (proc.exit != null) throw new NodeStartError(n.name, `exited (${describeExit(proc.exit)}) before it was up; log ${logPathOf(n)}`, await logTail(logPathOf(n)))
        }
      }
      await waitForReady(httpUrl(n), waitOptions)
      await waitForPeers(httpUrl(n), peersOf.map(j => peerIds[j]), { ...waitOptions, timeoutMs: Math.max(0, deadline - Date.now()) })
      // ready for clients: the network admitted every node and this one holds their records
      await waitForMembers(httpUrl(n), planned.length, { ...waitOptions, timeoutMs: Math.max(0, deadline - Date.now()) })
    }

    const describe = async (i: number, proc: GhostnodeProcess): Promise<TestnetNode> => {
      const n = planned[i]
      const health = await getJson(`${httpUrl(n)}/health`)
      return {
        name: n.name,
        peerId: peerIds[i],
        multiaddrs: Array.isArray(health.body?.addrs) ? health.body.addrs : [],
        httpUrl: httpUrl(n),
        pid: proc.pid,
        dataDir: n.dataDir,
        logPath: logPathOf(n),
        host: n.host,
        ports: n.ports,
        ...(n.namespace != null ? { namespace: n.namespace } : {}),
        process: proc
      }
    }

    for (let i = 0; i < count; i++) procs.push(await launch(i))

    const deadline = Date.now() + (options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS)
    const all = planned.map((_, i) => i)
    await Promise.all(planned.map(async (_, i) => waitUp(i, procs[i], all.filter(j => j !== i), deadline, waitSignal)))

    const nodes = await Promise.all(planned.map(async (_, i) => describe(i, procs[i])))
    for (const p of procs) watch(p)

    const checkIndex = (index: number): void => {
      if (!Number.isInteger(index) || index < 0 || index >= count) throw new TestnetConfigError(`no node ${index} (0-${count - 1})`)
      if (stopping) throw new TestnetConfigError('the testnet is stopping')
    }

    const kill = async (index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<ProcessExit> => {
      checkIndex(index)
      const proc = procs[index]
      killed.add(proc)
      if (proc.exit == null) process.kill(proc.pid, signal)
      return proc.exited
    }

    const restart = async (index: number, restartOptions: { readyTimeoutMs?: number } = {}): Promise<TestnetNode> => {
      checkIndex(index)
      const old = procs[index]
      if (old.exit == null) throw new TestnetConfigError(`${old.name} is still running (pid ${old.pid}); kill() it first`)
      await rm(pidPathOf(old.dataDir), { force: true }) // it has exited
      const proc = await launch(index)
      procs[index] = proc
      watch(proc)
      const running = all.filter(j => j !== index && procs[j].exit == null)
      await waitUp(index, proc, running, Date.now() + (restartOptions.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS), options.signal ?? new AbortController().signal)
      nodes[index] = await describe(index, proc)
      return nodes[index]
    }

    return { runId, baseDir, nodes, ...(network != null ? { network } : {}), networkArgs, unexpectedExit, kill, restart, stop }
  } catch (err) {
    waits.abort()
    await stop().catch(() => {})
    // a temp dir with no node log in it holds nothing worth keeping
    if (ownDir && procs.length === 0) {
      await rm(baseDir, { recursive: true, force: true })
      untrackDir(baseDir)
    }
    throw err
  }
}
