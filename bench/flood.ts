/**
 * Flood benchmark: what a flooding neighbour costs an honest client.
 *
 *   node dist/bench/flood.js [--json file] [--seconds n] [--rate cells/s] [--kind create|padding]
 *                            [--interval-ms n] [--max-inflight n] [--set key=value ...]
 *
 * One relay runs as its own process (`ghostnode start`, loopback, default
 * limits unless --set). An honest client in this process sends ECHO requests
 * through a 1-hop circuit at a fixed rate: after a discarded warm-up, alone for
 * n/4 s, then for n s (--seconds, default 20) while a flooder process sends
 * cells on its own link at --rate, then alone again for n/4 s. The baseline
 * pools the two quiet phases, so drift over the run (JIT, GC, a neighbour on a
 * shared machine) falls on both sides of the ratio. Everything runs in one
 * invocation against the same relay: read the ratio, not the absolute figures.
 * Latency counts from when a request was due (open loop).
 *
 * With the default limits a CREATE flooder falls to the low tier after ~10 s of
 * flooding and nears the ban threshold at ~20 s, so the default flood phase
 * covers both the neutral and the low tier.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { GhostClient } from '../src/client/mailbox-client.js'
import { DEFAULT_RATE_LIMIT_CONFIG } from '../src/ratelimit/config.js'
import { startFlooder, stopFlooder, type FlooderProcess } from '../harness/flood/flooder-process.js'
import { DEFAULT_HONEST_MAX_INFLIGHT, HonestLoad, percentile, type HonestLoadResult } from '../harness/flood/honest-load.js'
import { fetchMetrics, fetchPeers, metricValue } from '../harness/flood/node-http.js'
import { loopbackArgs, startGhostnode, stopGhostnode, type GhostnodeProcess } from '../harness/lib/ghostnode-process.js'
import type { FloodKind, FlooderStats } from '../harness/flood/flooder.js'

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    seconds: { type: 'string', default: '20' },
    rate: { type: 'string', default: '2000' },
    kind: { type: 'string', default: 'create' },
    'interval-ms': { type: 'string', default: '10' },
    'max-inflight': { type: 'string', default: String(DEFAULT_HONEST_MAX_INFLIGHT) },
    set: { type: 'string', multiple: true, default: [] }
  }
})
const SECONDS = Number(values.seconds)
const QUIET_SECONDS = SECONDS / 4
const RATE = Number(values.rate)
const KIND = values.kind as FloodKind
const INTERVAL_MS = Number(values['interval-ms'])
const MAX_INFLIGHT = Number(values['max-inflight'])
const SETTINGS = values.set ?? []
const TARGET_P99_RATIO = 2
const REQUEST_TIMEOUT_MS = 5_000
const WARMUP_SECONDS = 2
const RSS_SAMPLE_MS = 500
if (!(SECONDS > 0) || !(RATE > 0) || !(INTERVAL_MS > 0) || !(MAX_INFLIGHT >= 1) || (KIND !== 'create' && KIND !== 'padding')) {
  process.stderr.write('usage: node dist/bench/flood.js [--json file] [--seconds n>0] [--rate cells/s] [--kind create|padding] [--interval-ms n] [--max-inflight n] [--set key=value ...]\n')
  process.exit(2)
}

interface PhaseFigures { requests: number, ok: number, failed: number, errors: string[], p50_ms: number, p99_ms: number, max_ms: number }

function figures (r: HonestLoadResult): PhaseFigures {
  return {
    requests: r.ok + r.failed,
    ok: r.ok,
    failed: r.failed,
    errors: r.errors,
    p50_ms: round(percentile(r.latenciesMs, 50)),
    p99_ms: round(percentile(r.latenciesMs, 99)),
    max_ms: round(percentile(r.latenciesMs, 100))
  }
}

function round (x: number, digits = 2): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : x
}

interface PhaseRun { result: HonestLoadResult, rssMaxBytes: number, relayCpuShare: number }

/** Runs the honest load for `seconds`, sampling the relay's RSS and CPU use meanwhile. */
async function phase (client: GhostClient, relay: GhostnodeProcess, seconds: number): Promise<PhaseRun> {
  const load = new HonestLoad(client, { intervalMs: INTERVAL_MS, timeoutMs: REQUEST_TIMEOUT_MS, maxInflight: MAX_INFLIGHT })
  let rssMaxBytes = 0
  const cpuBefore = await relayCpuSeconds(relay)
  const started = performance.now()
  load.start()
  const end = Date.now() + seconds * 1000
  while (Date.now() < end) {
    await sleep(Math.min(RSS_SAMPLE_MS, end - Date.now()))
    const rss = metricValue(await fetchMetrics(relay.httpUrl), 'process_resident_memory_bytes') ?? 0
    rssMaxBytes = Math.max(rssMaxBytes, rss)
  }
  const relayCpuShare = (await relayCpuSeconds(relay) - cpuBefore) / ((performance.now() - started) / 1000)
  return { result: await load.stop(), rssMaxBytes, relayCpuShare }
}

async function relayCpuSeconds (relay: GhostnodeProcess): Promise<number> {
  return metricValue(await fetchMetrics(relay.httpUrl), 'process_cpu_seconds_total') ?? NaN
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-bench-flood-'))
  let relay: GhostnodeProcess | undefined
  let flooder: FlooderProcess | undefined
  let client: GhostClient | undefined
  const cleanup = async (): Promise<void> => {
    await client?.stop().catch(() => {})
    if (flooder != null) await stopFlooder(flooder)
    if (relay != null) await stopGhostnode(relay)
    await rm(dir, { recursive: true, force: true })
  }
  process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })
  try {
    relay = await startGhostnode({ name: 'relay', dataDir: join(dir, 'relay'), args: loopbackArgs(SETTINGS) })
    client = await GhostClient.create({ bootstrap: [relay.addr], hops: 1, retries: 0 })
    await phase(client, relay, WARMUP_SECONDS)

    const before = await phase(client, relay, QUIET_SECONDS)
    flooder = await startFlooder({ target: relay.addr, kind: KIND, rate: RATE })
    const flooderId = flooder.peerId
    const flooded = await phase(client, relay, SECONDS)
    const flooderRow = (await fetchPeers(relay.httpUrl)).find(p => p.peerId === flooderId)
    const metrics = await fetchMetrics(relay.httpUrl)
    const flood = await stopFlooder(flooder) as FlooderStats
    flooder = undefined
    const after = await phase(client, relay, QUIET_SECONDS)

    const base = figures(pool(before.result, after.result))
    const withFlood = figures(flooded.result)
    const allowance = KIND === 'create' ? limitOf('circuits', SETTINGS) : limitOf('cells', SETTINGS)
    const floodRate = flood.sent / (flood.elapsedMs / 1000)
    const throttledKind = KIND === 'create' ? 'circuits' : 'cells'
    const report = {
      meta: {
        node: process.version,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        date: new Date().toISOString(),
        flood_seconds: SECONDS,
        quiet_seconds_each: QUIET_SECONDS,
        warmup_seconds: WARMUP_SECONDS,
        honest_interval_ms: INTERVAL_MS,
        honest_max_inflight: MAX_INFLIGHT,
        hops: 1,
        flood_kind: KIND,
        flood_rate_requested: RATE,
        settings: SETTINGS
      },
      baseline: base,
      baseline_before: figures(before.result),
      baseline_after: figures(after.result),
      flood: withFlood,
      flooder: {
        sent: flood.sent,
        rate_per_s: round(floodRate, 0),
        allowance_per_s: allowance,
        times_allowance: round(floodRate / allowance, 0),
        destroyed: flood.destroyed,
        link_open_at_end: flood.linkOpen,
        cpu_share: round(flood.cpuMs / flood.elapsedMs),
        score_at_end: flooderRow == null ? null : round(flooderRow.score, 1),
        tier_at_end: flooderRow?.tier ?? '(not connected)'
      },
      relay: {
        throttled_total: metricValue(metrics, 'ghostnode_ratelimit_throttled_total', `{kind="${throttledKind}"}`) ?? 0,
        creates_admitted: metricValue(metrics, 'ghostnode_onion_creates_total', '{outcome="bad_layer"}') ?? 0,
        bans_total: metricValue(metrics, 'ghostnode_ratelimit_bans_total') ?? 0,
        rss_max_baseline_bytes: Math.max(before.rssMaxBytes, after.rssMaxBytes),
        rss_max_flood_bytes: flooded.rssMaxBytes,
        cpu_share_baseline: round((before.relayCpuShare + after.relayCpuShare) / 2),
        cpu_share_flood: round(flooded.relayCpuShare)
      },
      ratios: {
        p99_flood_vs_baseline: round(withFlood.p99_ms / base.p99_ms),
        p50_flood_vs_baseline: round(withFlood.p50_ms / base.p50_ms)
      }
    }
    print(report)
    if (values.json != null) await writeFile(values.json, JSON.stringify(report, null, 2) + '\n')
  } finally {
    await cleanup()
  }
}

function pool (a: HonestLoadResult, b: HonestLoadResult): HonestLoadResult {
  return { ok: a.ok + b.ok, failed: a.failed + b.failed, errors: [...a.errors, ...b.errors], latenciesMs: [...a.latenciesMs, ...b.latenciesMs] }
}

/** The neutral-tier rate of a limit kind, after any --set override. */
function limitOf (kind: 'circuits' | 'cells', settings: string[]): number {
  const key = `rateLimit.limits.${kind}.ratePerSecond=`
  const set = settings.find(s => s.startsWith(key))
  return set != null ? Number(set.slice(key.length)) : DEFAULT_RATE_LIMIT_CONFIG.limits[kind].ratePerSecond
}

function print (r: { meta: any, baseline: PhaseFigures, baseline_before: PhaseFigures, baseline_after: PhaseFigures, flood: PhaseFigures, flooder: any, relay: any, ratios: any }): void {
  const line = (name: string, f: PhaseFigures): string =>
    `${name.padEnd(13)} requests ${f.requests}  failed ${f.failed}  p50 ${f.p50_ms} ms  p99 ${f.p99_ms} ms  max ${f.max_ms} ms`
  const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MB`
  const pct = (share: number): string => `${(share * 100).toFixed(0)}%`
  const out = [
    `flood bench: 1 relay process on loopback${r.meta.settings.length > 0 ? ` (--set ${r.meta.settings.join(' ')})` : ' (default limits)'}, ` +
      `honest ECHO every ${r.meta.honest_interval_ms} ms (<= ${r.meta.honest_max_inflight} in flight) over a 1-hop circuit, ${r.meta.quiet_seconds_each} s quiet + ${r.meta.flood_seconds} s flood + ${r.meta.quiet_seconds_each} s quiet, ${r.meta.node}, ${r.meta.cores} cores`,
    line('before flood', r.baseline_before),
    line('with flooder', r.flood),
    line('after flood', r.baseline_after),
    line('baseline', r.baseline) + '  (before + after)',
    ...r.flood.errors.map((e: string) => `  failure: ${e}`),
    `flooder       ${r.meta.flood_kind} cells sent ${r.flooder.sent} (${r.flooder.rate_per_s}/s = ${r.flooder.times_allowance}x the ${r.flooder.allowance_per_s}/s allowance), ` +
      `DESTROYs back ${JSON.stringify(r.flooder.destroyed)}, score at end ${String(r.flooder.score_at_end)} (${String(r.flooder.tier_at_end)}), CPU ${pct(r.flooder.cpu_share)} of a core`,
    `relay         throttled ${r.relay.throttled_total}, CREATEs admitted ${r.relay.creates_admitted}, bans ${r.relay.bans_total}, ` +
      `RSS max ${mb(r.relay.rss_max_baseline_bytes)} baseline / ${mb(r.relay.rss_max_flood_bytes)} flood, ` +
      `CPU ${pct(r.relay.cpu_share_baseline)} baseline / ${pct(r.relay.cpu_share_flood)} flood of a core`,
    `p50 ratio (with flooder / baseline): ${r.ratios.p50_flood_vs_baseline}`,
    `p99 ratio (with flooder / baseline): ${r.ratios.p99_flood_vs_baseline}  (target <= ${TARGET_P99_RATIO}: ${r.ratios.p99_flood_vs_baseline <= TARGET_P99_RATIO ? 'met' : 'NOT met'})`
  ]
  process.stdout.write(out.join('\n') + '\n')
}

main().then(() => { process.exit(0) }, (err: Error) => {
  process.stderr.write(`bench flood failed: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
