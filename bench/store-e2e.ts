/**
 * End-to-end swarm benchmark: STORE then RETRIEVE of one message through 3-hop
 * onion circuits on a 3-node testnet of `ghostnode start` processes (R = 3,
 * W = 2, every message on all three nodes).
 *
 * Each worker loops: new mailbox key, STORE a `--size`-byte message into it
 * (acknowledged after W = 2 durable copies), RETRIEVE it (signed; merged from
 * the swarm's members). A fresh mailbox per message keeps every page one
 * message long. Reported: completed store+retrieve pairs per second and
 * latency percentiles of the store, the retrieve and the pair, over the
 * measured window after a warm-up.
 *
 * The nodes' per-peer and per-mailbox rate limits would otherwise be what is
 * measured (one client's link carries every cell; default 500 cells/s), so the
 * testnet is started with raised limits (printed in the output, and listed
 * in the JSON report); `--default-limits` keeps the defaults.
 *
 *   node dist/bench/store-e2e.js [--seconds 10] [--concurrency 16] [--size 1024] [--clients N] [--warmup 2] [--json FILE]
 */
import { cpus } from 'node:os'
import { writeFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { waitForSwarmRings } from '../harness/testnet/ready.js'
import { startTestnet, type Testnet, type TestnetNode } from '../harness/testnet/testnet.js'
import { GhostClient } from '../src/client/mailbox-client.js'
import { ExitError } from '../src/onion/circuit-errors.js'
import { MailboxKey } from '../src/swarm/auth.js'

/** What the testnet nodes get on top of their defaults, unless --default-limits. */
const RAISED_LIMITS = [
  'rateLimit.limits.cells.ratePerSecond=1000000', 'rateLimit.limits.cells.burst=1000000',
  'rateLimit.limits.bytes.ratePerSecond=1000000000', 'rateLimit.limits.bytes.burst=1000000000',
  'rateLimit.limits.swarm.ratePerSecond=1000000', 'rateLimit.limits.swarm.burst=1000000',
  'rateLimit.limits.deposit.ratePerSecond=1000000', 'rateLimit.limits.deposit.burst=1000000'
]
/** Always: a complete directory (and so a complete ring) within a second of start. */
const ALWAYS = ['directory.fetchIntervalMs=1000']

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    size: { type: 'string', default: '1024' },
    clients: { type: 'string' },
    'default-limits': { type: 'boolean', default: false },
    json: { type: 'string' }
  }
})
const SECONDS = Number(values.seconds)
const WARMUP = Number(values.warmup)
const CONCURRENCY = Number(values.concurrency)
const SIZE = Number(values.size)
const CLIENTS = values.clients != null ? Number(values.clients) : Math.max(1, Math.ceil(CONCURRENCY / 32))
for (const [name, v, min] of [['seconds', SECONDS, 0.1], ['warmup', WARMUP, 0], ['concurrency', CONCURRENCY, 1], ['size', SIZE, 0], ['clients', CLIENTS, 1]] as const) {
  if (!Number.isFinite(v) || v < min) {
    process.stderr.write(`--${name} must be a number >= ${min}\n`)
    process.exit(2)
  }
}
const overrides = [...ALWAYS, ...(values['default-limits'] === true ? [] : RAISED_LIMITS)]

class Latencies {
  private readonly samples: number[] = []
  add (ms: number): void { this.samples.push(ms) }
  get count (): number { return this.samples.length }
  summary (): { count: number, p50_ms: number, p90_ms: number, p99_ms: number, max_ms: number, mean_ms: number } {
    const s = [...this.samples].sort((a, b) => a - b)
    const at = (p: number): number => s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil(p / 100 * s.length) - 1))]
    const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)
    return { count: s.length, p50_ms: at(50), p90_ms: at(90), p99_ms: at(99), max_ms: s.length === 0 ? NaN : s[s.length - 1], mean_ms: mean }
  }
}

function tcpAddr (node: TestnetNode): string {
  const addr = node.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (addr == null) throw new Error(`${node.name} reports no TCP address`)
  return addr
}

async function metricSum (net: Testnet, name: string): Promise<number> {
  let total = 0
  for (const n of net.nodes) {
    const text = await (await fetch(`${n.httpUrl}/metrics`)).text()
    for (const line of text.split('\n')) if (line.startsWith(name) && !line.startsWith('#')) total += Number(line.split(' ').pop())
  }
  return total
}

const fmt = (n: number, digits = 1): string => Number.isFinite(n) ? n.toFixed(digits) : 'n/a'

async function main (): Promise<void> {
  const log = (s: string): void => { process.stdout.write(s + '\n') }
  log(`store-e2e: 3-node testnet (child processes), R=3 W=2, ${SIZE}-byte messages, concurrency ${CONCURRENCY}, ${CLIENTS} client(s), ${WARMUP}s warm-up + ${SECONDS}s measured`)
  log(`node overrides: ${overrides.map(o => `--set ${o}`).join(' ')}`)
  if (values['default-limits'] !== true) log('(per-peer cell/byte/swarm and per-mailbox deposit limits are raised: with the defaults the benchmark measures the rate limiter)')
  const net = await startTestnet({ nodes: 3, basePort: 0, extraArgs: overrides.flatMap(o => ['--set', o]) })
  const clients: GhostClient[] = []
  try {
    await waitForSwarmRings(net.nodes.map(n => n.httpUrl), 3, { timeoutMs: 20_000 })
    for (let i = 0; i < CLIENTS; i++) {
      const client = await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[i % net.nodes.length])], requestTimeoutMs: 30_000 })
      await client.echo(Uint8Array.of(1))
      clients.push(client)
    }

    const store = new Latencies()
    const retrieve = new Latencies()
    const pair = new Latencies()
    const errors = new Map<string, number>()
    let measuring = false
    let stop = false
    let pairs = 0
    const data = randomBytes(SIZE)
    const worker = async (w: number): Promise<void> => {
      const client = clients[w % clients.length]
      while (!stop) {
        const key = MailboxKey.generate()
        const t0 = performance.now()
        try {
          await client.store(key.publicKey, data, { raw: true, ttlMs: 600_000 })
          const t1 = performance.now()
          const page = await client.retrieve(key)
          const t2 = performance.now()
          if (page.messages.length !== 1) throw new Error(`retrieved ${page.messages.length} messages, expected 1`)
          if (measuring && !stop) {
            store.add(t1 - t0)
            retrieve.add(t2 - t1)
            pair.add(t2 - t0)
            pairs++
          }
        } catch (err) {
          const name = err instanceof ExitError ? `exit status ${err.status}` : (err as Error).name
          if (measuring) errors.set(name, (errors.get(name) ?? 0) + 1)
        }
      }
    }
    const cpu0 = await metricSum(net, 'process_cpu_seconds_total')
    const running = Array.from({ length: CONCURRENCY }, async (_, w) => worker(w))
    await new Promise(resolve => setTimeout(resolve, WARMUP * 1000))
    measuring = true
    const started = performance.now()
    const cpuStart = await metricSum(net, 'process_cpu_seconds_total')
    await new Promise(resolve => setTimeout(resolve, SECONDS * 1000))
    const elapsed = (performance.now() - started) / 1000
    const cpuEnd = await metricSum(net, 'process_cpu_seconds_total')
    measuring = false
    stop = true
    await Promise.all(running)
    const msgPerSec = pairs / elapsed
    const report = {
      meta: { node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(), seconds: SECONDS, warmup: WARMUP, concurrency: CONCURRENCY, clients: CLIENTS, size_bytes: SIZE, replicas: 3, write_quorum: 2, node_overrides: overrides },
      pairs,
      msg_per_s: msgPerSec,
      store: store.summary(),
      retrieve: retrieve.summary(),
      store_retrieve: pair.summary(),
      errors: Object.fromEntries(errors),
      nodes_cpu_s_per_msg: pairs > 0 ? (cpuEnd - cpuStart) / pairs : NaN,
      nodes_cpu_s_before_warmup: cpu0
    }
    const s = report.store
    const r = report.retrieve
    const p = report.store_retrieve
    log('')
    log(`store+retrieve: ${fmt(msgPerSec)} msg/s (${pairs} pairs in ${fmt(elapsed, 2)} s)`)
    log(`  store     p50 ${fmt(s.p50_ms)} ms  p90 ${fmt(s.p90_ms)} ms  p99 ${fmt(s.p99_ms)} ms  max ${fmt(s.max_ms)} ms`)
    log(`  retrieve  p50 ${fmt(r.p50_ms)} ms  p90 ${fmt(r.p90_ms)} ms  p99 ${fmt(r.p99_ms)} ms  max ${fmt(r.max_ms)} ms`)
    log(`  pair      p50 ${fmt(p.p50_ms)} ms  p90 ${fmt(p.p90_ms)} ms  p99 ${fmt(p.p99_ms)} ms  max ${fmt(p.max_ms)} ms`)
    log(`  node CPU (3 processes together): ${fmt(report.nodes_cpu_s_per_msg * 1e6, 0)} µs per store+retrieve`)
    log(`  errors: ${errors.size === 0 ? 'none' : [...errors].map(([k, v]) => `${k} x${v}`).join(', ')}`)
    if (values.json != null) {
      await writeFile(values.json, JSON.stringify(report, null, 2) + '\n')
      log(`report: ${values.json}`)
    }
  } finally {
    for (const c of clients) await c.stop().catch(() => {})
    await net.stop()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`store-e2e: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
