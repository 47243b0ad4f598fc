/**
 * Slowloris + flood benchmark: the relay's memory and an honest client's
 * service while peers that never read, half-open connections and a CREATE
 * flood attack it.
 *
 *   node dist/bench/slowloris.js [--seconds n] [--identities n] [--links n] [--circuits n]
 *        [--body-bytes n] [--cells-per-second n] [--partials-per-second n] [--half-open n]
 *        [--flood-rate n] [--interval-ms n] [--set key=value ...] [--json file]
 *
 * One relay runs as `ghostnode start` (loopback, default memory settings
 * unless --set; the connection bucket is opened up because every attacker
 * shares 127.0.0.1). Its RSS is read from /proc every 200 ms. Phases: the idle
 * relay alone (RSS baseline), a discarded warm-up, the honest client alone for
 * n/4 s, the attack for n s (default 60) with the honest client going on, the
 * honest client alone again for n/4 s. The latency baseline pools both quiet
 * phases of the same run; read the ratio, not the absolute figures.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { GhostClient } from '../src/client/mailbox-client.js'
import { percentile, type HonestLoadResult } from '../harness/flood/honest-load.js'
import { metricValue } from '../harness/flood/node-http.js'
import { loopbackArgs, startGhostnode, stopGhostnode, type GhostnodeProcess } from '../harness/lib/ghostnode-process.js'
import { ATTACK_OPTIONS } from '../harness/slowloris/defaults.js'
import { RssSampler } from '../harness/slowloris/rss-sampler.js'
import { LOOPBACK_CONNECTION_SETTINGS, runAttack, runPhase, type PhaseOptions } from '../harness/slowloris/scenario.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    ...ATTACK_OPTIONS,
    'flood-rate': { type: 'string', default: '2000' },
    'interval-ms': { type: 'string', default: '15' },
    set: { type: 'string', multiple: true, default: [] },
    json: { type: 'string' }
  }
})
const num = (name: keyof typeof values): number => Number(values[name])
const SECONDS = num('seconds')
const SETTINGS = values.set ?? []
if (!(SECONDS > 0) || !(num('identities') >= 1) || !(num('interval-ms') > 0)) {
  process.stderr.write('usage: node dist/bench/slowloris.js [--seconds n>0] [--identities n>=1] [--links n] [--circuits n] [--body-bytes n] [--cells-per-second n] [--partials-per-second n] [--half-open n] [--flood-rate n] [--interval-ms n] [--set key=value ...] [--json file]\n')
  process.exit(2)
}
const PHASE: PhaseOptions = { honestIntervalMs: num('interval-ms'), honestTimeoutMs: 5_000, rssSampleMs: 200, metricsSampleMs: 1_000 }
const IDLE_MS = 3_000
const WARMUP_MS = 2_000
const MiB = 1024 * 1024

interface Latency { requests: number, ok: number, failed: number, success: number, p50_ms: number, p99_ms: number, max_ms: number, errors: string[] }

function latency (r: HonestLoadResult): Latency {
  const requests = r.ok + r.failed
  return {
    requests,
    ok: r.ok,
    failed: r.failed,
    success: round(requests === 0 ? NaN : r.ok / requests, 4),
    p50_ms: round(percentile(r.latenciesMs, 50)),
    p99_ms: round(percentile(r.latenciesMs, 99)),
    max_ms: round(percentile(r.latenciesMs, 100)),
    errors: r.errors
  }
}

function round (x: number, digits = 2): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : x
}

function pool (a: HonestLoadResult, b: HonestLoadResult): HonestLoadResult {
  return { ok: a.ok + b.ok, failed: a.failed + b.failed, errors: [...a.errors, ...b.errors], latenciesMs: [...a.latenciesMs, ...b.latenciesMs] }
}

async function idleRss (relay: GhostnodeProcess): Promise<number[]> {
  const sampler = new RssSampler(relay.pid, PHASE.rssSampleMs)
  sampler.start()
  await sleep(IDLE_MS)
  sampler.stop()
  return sampler.samples.map(s => s.rssBytes)
}

async function main (): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-bench-slowloris-'))
  let relay: GhostnodeProcess | undefined
  let client: GhostClient | undefined
  const cleanup = async (): Promise<void> => {
    await client?.stop().catch(() => {})
    if (relay != null) await stopGhostnode(relay)
    await rm(dir, { recursive: true, force: true })
  }
  process.once('SIGINT', () => { void cleanup().finally(() => process.exit(130)) })
  try {
    relay = await startGhostnode({ name: 'relay', dataDir: join(dir, 'relay'), args: loopbackArgs([...LOOPBACK_CONNECTION_SETTINGS, ...SETTINGS]) })
    const idle = await idleRss(relay)
    client = await GhostClient.create({ bootstrap: [relay.addr], hops: 1, retries: 0 })
    await runPhase(relay, client, PHASE, WARMUP_MS)
    const before = await runPhase(relay, client, PHASE, SECONDS * 250)
    const attack = await runAttack(relay, client, {
      ...PHASE,
      durationMs: SECONDS * 1000,
      floodRate: num('flood-rate'),
      attacker: {
        identities: num('identities'),
        links: num('links'),
        circuits: num('circuits'),
        bodyBytes: num('body-bytes'),
        cellsPerSecond: num('cells-per-second'),
        partialsPerSecond: num('partials-per-second'),
        halfOpen: num('half-open'),
        readyTimeoutMs: 60_000
      }
    })
    const after = await runPhase(relay, client, PHASE, SECONDS * 250)
    // a labelled counter nobody has incremented has no series yet: that is a zero
    const m = (name: string, labels = ''): number => metricValue(attack.metrics, name, labels) ?? 0
    const quiet = latency(pool(before.honest, after.honest))
    const underAttack = latency(attack.honest)
    const bound = m('ghostnode_memory_max_rss_bytes')
    const report = {
      meta: {
        node: process.version,
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        date: new Date().toISOString(),
        attack_seconds: SECONDS,
        quiet_seconds_each: SECONDS / 4,
        honest_interval_ms: PHASE.honestIntervalMs,
        settings: SETTINGS,
        attack: { identities: num('identities'), links: num('links'), circuits: num('circuits'), body_bytes: num('body-bytes'), cells_per_second: num('cells-per-second'), partials_per_second: num('partials-per-second'), half_open: num('half-open'), flood_rate: num('flood-rate') }
      },
      rss: {
        bound_bytes: bound,
        idle_p50_bytes: percentile(idle, 50),
        before_max_bytes: Math.max(...before.rssBytes),
        attack_p50_bytes: percentile(attack.rssBytes, 50),
        attack_max_bytes: Math.max(...attack.rssBytes),
        after_max_bytes: Math.max(...after.rssBytes),
        after_last_bytes: after.rssBytes[after.rssBytes.length - 1],
        samples_during_attack: attack.rssBytes.length
      },
      queued_peak_bytes: attack.queuedPeakBytes,
      honest: { quiet, under_attack: underAttack, p50_ratio: round(underAttack.p50_ms / quiet.p50_ms), p99_ratio: round(underAttack.p99_ms / quiet.p99_ms) },
      shed: {
        links_closed_memory: m('ghostnode_onion_links_closed_total', '{reason="memory"}'),
        links_closed_stall: m('ghostnode_onion_links_closed_total', '{reason="stall"}'),
        destroys_resource_limit: m('ghostnode_onion_destroys_total', '{reason="resource_limit"}'),
        destroys_timeout: m('ghostnode_onion_destroys_total', '{reason="timeout"}'),
        cells_shed: m('ghostnode_onion_cells_shed_total'),
        reassembly_expired: m('ghostnode_onion_reassembly_expired_total'),
        pressure_episodes: m('ghostnode_memory_pressure_episodes_total'),
        memory: Object.fromEntries(['link_closed', 'circuit_closed', 'create_refused', 'link_refused', 'connection_refused'].map(a => [a, m('ghostnode_memory_shed_total', `{action="${a}"}`)])),
        throttled: Object.fromEntries(['connection', 'cells', 'bytes', 'circuits'].map(k => [k, m('ghostnode_ratelimit_throttled_total', `{kind="${k}"}`)])),
        bans: m('ghostnode_ratelimit_bans_total')
      },
      attacker: attack.attacker,
      flooder: attack.flooder == null ? undefined : { sent: attack.flooder.sent, destroyed: attack.flooder.destroyed, link_open_at_end: attack.flooder.linkOpen },
      live_failures: before.liveFailures + attack.liveFailures + after.liveFailures
    }
    print(report)
    if (values.json != null) await writeFile(values.json, JSON.stringify(report, null, 2) + '\n')
  } finally {
    await cleanup()
  }
}

function print (r: any): void {
  const mb = (b: number): string => `${(b / MiB).toFixed(0)} MiB`
  const lat = (name: string, l: Latency): string =>
    `${name.padEnd(20)} ${String(l.requests).padStart(6)} ${String(l.failed).padStart(6)} ${(l.success * 100).toFixed(2).padStart(8)}% ${String(l.p50_ms).padStart(9)} ${String(l.p99_ms).padStart(9)} ${String(l.max_ms).padStart(9)}`
  const a = r.attacker?.readers
  const out = [
    `slowloris bench: 1 relay process on loopback${r.meta.settings.length > 0 ? ` (--set ${r.meta.settings.join(' ')})` : ' (default memory settings)'}, ${r.meta.node}, ${r.meta.cores} cores`,
    `attack ${r.meta.attack_seconds} s: ${r.meta.attack.identities} identities × ${r.meta.attack.links} links × ${r.meta.attack.circuits} circuits that never read ` +
      `(${r.meta.attack.body_bytes}-byte ECHOs, ${r.meta.attack.cells_per_second} cells/s and ${r.meta.attack.partials_per_second} parked partials/s each), ` +
      `${r.meta.attack.half_open} half-open TCP connections, CREATE flood at ${r.meta.attack.flood_rate}/s; honest ECHO every ${r.meta.honest_interval_ms} ms`,
    '',
    'relay RSS                 value',
    `  idle (p50)            ${mb(r.rss.idle_p50_bytes).padStart(8)}`,
    `  honest only (max)     ${mb(r.rss.before_max_bytes).padStart(8)}`,
    `  under attack (p50)    ${mb(r.rss.attack_p50_bytes).padStart(8)}`,
    `  under attack (max)    ${mb(r.rss.attack_max_bytes).padStart(8)}   (${r.rss.samples_during_attack} samples)`,
    `  after attack (max)    ${mb(r.rss.after_max_bytes).padStart(8)}   (last ${mb(r.rss.after_last_bytes)}: freed pages stay with the process for reuse)`,
    `  bound                 ${mb(r.rss.bound_bytes).padStart(8)}   max/bound ${(r.rss.attack_max_bytes / r.rss.bound_bytes).toFixed(2)}`,
    `  queued bytes (peak)   ${mb(r.queued_peak_bytes).padStart(8)}`,
    '',
    `honest client        requests failed  success    p50 ms    p99 ms    max ms`,
    lat('quiet (before+after)', r.honest.quiet),
    lat('under attack', r.honest.under_attack),
    `  latency ratio under attack / quiet: p50 ${r.honest.p50_ratio}, p99 ${r.honest.p99_ratio}`,
    ...r.honest.under_attack.errors.map((e: string) => `  failure: ${e}`),
    '',
    'shed by the relay',
    `  links closed: memory ${r.shed.links_closed_memory}, stall ${r.shed.links_closed_stall}; circuits destroyed: resource_limit ${r.shed.destroys_resource_limit}, timeout ${r.shed.destroys_timeout}; ` +
      `cells shed ${r.shed.cells_shed}; partials expired ${r.shed.reassembly_expired}`,
    `  memory watchdog: pressure episodes ${r.shed.pressure_episodes}, ${Object.entries(r.shed.memory).map(([k, v]) => `${k} ${String(v)}`).join(', ')}`,
    `  rate limiter: throttled ${Object.entries(r.shed.throttled).map(([k, v]) => `${k} ${String(v)}`).join(', ')}; bans ${r.shed.bans}`,
    `  attacker: links opened ${a?.linksOpened}, closed by the relay ${a?.linksClosed}, refused ${a?.linkOpenFailures}; circuits ${a?.circuitsBuilt} (failed ${a?.buildsFailed}); ` +
      `cells sent ${a?.cellsSent}; half-open ${JSON.stringify(r.attacker?.halfOpen)}`,
    `  flooder: CREATEs sent ${r.flooder?.sent}, DESTROYs back ${JSON.stringify(r.flooder?.destroyed)}`,
    `  /health/live failures: ${r.live_failures}`
  ]
  process.stdout.write(out.join('\n') + '\n')
}

main().then(() => { process.exit(0) }, (err: Error) => {
  process.stderr.write(`bench slowloris failed: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
