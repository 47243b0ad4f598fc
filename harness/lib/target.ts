import { getJson } from '../testnet/ready.js'
import { startTestnet, type Testnet } from '../testnet/testnet.js'
import { BenchSetupError } from './errors.js'
import type { BenchNode } from './workload.js'

/**
 * Node settings for a testnet the bench starts itself. The per-peer cell and
 * byte buckets default to 500 cells/s and 1 MiB/s (src/ratelimit/config.ts):
 * right for a relay facing many clients, but they would cap (and then destroy)
 * the one bench client's circuits long before the relay's own capacity. The
 * bench measures the data path, so it lifts them; `--default-limits` keeps them.
 */
export const BENCH_NODE_ARGS = [
  '--set', 'rateLimit.limits.cells.ratePerSecond=1000000',
  '--set', 'rateLimit.limits.cells.burst=1000000',
  '--set', 'rateLimit.limits.bytes.ratePerSecond=1000000000',
  '--set', 'rateLimit.limits.bytes.burst=1000000000',
  '--set', 'rateLimit.limits.circuits.ratePerSecond=1000',
  '--set', 'rateLimit.limits.circuits.burst=1000',
  '--set', 'rateLimit.limits.swarm.ratePerSecond=1000000',
  '--set', 'rateLimit.limits.swarm.burst=1000000',
  '--set', 'rateLimit.limits.deposit.ratePerSecond=1000000',
  '--set', 'rateLimit.limits.deposit.burst=1000000',
  '--set', 'directory.fetchIntervalMs=5000'
]

export type TargetMode = 'loopback' | 'netns' | 'urls'

export interface BenchTarget {
  mode: TargetMode
  nodes: BenchNode[]
  latencyMs?: number
  /** One-way delay of the user-space proxies in front of every node (loopback). */
  proxyLatencyMs?: number
  /** 'bench' = BENCH_NODE_ARGS applied, 'default' = node defaults, 'external' = whatever the operator configured. */
  nodeLimits: 'bench' | 'default' | 'external'
  /** Resolves with a message if a node the bench started dies during the run. */
  unexpectedExit: Promise<string>
  stop: () => Promise<void>
}

/** Which nodes a benchmark runs against, as its command line chose them. */
export interface TargetChoice {
  /** Nodes' HTTP URLs; none = start a local 3-node testnet. */
  urls?: string[]
  netns?: boolean
  /** tc netem delay on every link (needs netns). */
  latencyMs?: number
  /** Loopback testnet (and plain chain) behind user-space delay proxies (harness/lib/delay-proxy.ts), ms each way. */
  proxyLatencyMs?: number
  defaultLimits?: boolean
  /** Node data dirs (keys, logs) go here and are kept; default a temp dir removed on stop. */
  dir?: string
}

export interface TargetOptions extends TargetChoice {
  signal: AbortSignal
  log: (line: string) => void
}

async function fromUrls (urls: string[]): Promise<BenchNode[]> {
  return Promise.all(urls.map(async (raw, i): Promise<BenchNode> => {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      throw new BenchSetupError(`--nodes: "${raw}" is not a URL (expected e.g. http://127.0.0.1:7402)`)
    }
    const httpUrl = url.origin
    const res = await getJson(`${httpUrl}/health`)
    if (res.status !== 200 || typeof res.body?.peerId !== 'string') {
      throw new BenchSetupError(`${httpUrl}/health did not answer with a node's health (${res.error ?? `HTTP ${res.status}`})`)
    }
    return {
      name: `node${i + 1}`,
      httpUrl,
      peerId: res.body.peerId,
      multiaddrs: Array.isArray(res.body.addrs) ? res.body.addrs : [],
      host: url.hostname
    }
  }))
}

function fromTestnet (net: Testnet): BenchNode[] {
  return net.nodes.map((n, i) => ({
    name: n.name,
    httpUrl: n.httpUrl,
    peerId: n.peerId,
    multiaddrs: n.multiaddrs,
    pid: n.pid,
    host: n.host,
    ...(net.network != null ? { wrap: net.network.wrap(i) } : {})
  }))
}

/** The nodes given by URL, or a 3-node testnet started (and later stopped) here. */
export async function openTarget (options: TargetOptions): Promise<BenchTarget> {
  if (options.urls != null && options.urls.length > 0) {
    return {
      mode: 'urls',
      nodes: await fromUrls(options.urls),
      nodeLimits: 'external',
      unexpectedExit: new Promise(() => {}),
      stop: async () => {}
    }
  }
  const net = await startTestnet({
    nodes: 3,
    // loopback: ports the OS reports free, so a developer's own testnet on 7500+ is left alone
    basePort: options.netns === true ? undefined : 0,
    ...(options.netns === true ? { netns: true } : {}),
    ...(options.latencyMs != null ? { latencyMs: options.latencyMs } : {}),
    ...(options.proxyLatencyMs != null ? { proxyLatencyMs: options.proxyLatencyMs } : {}),
    extraArgs: options.defaultLimits === true ? [] : BENCH_NODE_ARGS,
    ...(options.dir != null ? { baseDir: options.dir } : {}),
    signal: options.signal,
    log: options.log
  })
  return {
    mode: options.netns === true ? 'netns' : 'loopback',
    nodes: fromTestnet(net),
    ...(options.latencyMs != null ? { latencyMs: options.latencyMs } : {}),
    ...(options.proxyLatencyMs != null ? { proxyLatencyMs: options.proxyLatencyMs } : {}),
    nodeLimits: options.defaultLimits === true ? 'default' : 'bench',
    unexpectedExit: net.unexpectedExit.then(({ name, exit }) => `${name} exited on its own (${exit.signal ?? `code ${String(exit.code)}`}); log in ${net.nodes.find(n => n.name === name)?.logPath ?? 'its data dir'}`),
    stop: async () => { await net.stop() }
  }
}
