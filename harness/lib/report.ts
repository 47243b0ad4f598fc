import { mkdir, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { E2EResult, WorkloadResult } from './e2e-run.js'
import type { NodeCounters } from './node-counters.js'

const int = (v: number): string => Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a'
const ms = (v: number): string => Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : 'n/a'
const fixed = (v: number, d = 1): string => Number.isFinite(v) ? v.toFixed(d) : 'n/a'
const pct = (v: number): string => Number.isFinite(v) ? `${(100 * v).toFixed(1)} %` : 'n/a'

function errorsText (w: WorkloadResult): string {
  const types = Object.entries(w.errors.by_type)
  return types.length === 0 ? '0' : `${w.errors.total} (${types.map(([k, v]) => `${k} ${v}`).join(', ')})`
}

function buildText (w: WorkloadResult): string | undefined {
  type Builds = { median: number, p95: number, samples: number } | undefined
  const b = w.details.circuit_build_ms as Builds
  const cold = w.details.circuit_build_cold_ms as Builds
  if (b == null) return undefined
  const text = `${ms(b.median)} ms median, ${ms(b.p95)} ms p95 over ${b.samples} builds after the load (idle)`
  return cold == null ? text : `${text}; before any load ${ms(cold.median)} ms median, ${ms(cold.p95)} ms p95`
}

/** The console summary: one block per workload, then the onion/plain ratio. */
export function formatSummary (r: E2EResult): string {
  const lines: string[] = []
  for (const w of Object.values(r.workloads)) {
    lines.push(`${w.name}: ${int(w.ops_per_s)} msg/s (${int(w.ops)} in ${fixed(w.duration_s)} s), latency p50 ${ms(w.latency.p50_ms)} / p95 ${ms(w.latency.p95_ms)} / p99 ${ms(w.latency.p99_ms)} ms, errors ${errorsText(w)}`)
    const build = buildText(w)
    if (build != null) lines.push(`  circuit build: ${build}`)
    lines.push(`  cpu%: ${w.resources.map(u => `${u.name} ${fixed(u.cpu_percent, 0)}`).join(', ')}; cpu µs/msg: ${w.resources.map(u => `${u.name} ${fixed(u.cpu_us_per_msg ?? Number.NaN, 0)}`).join(', ')} (total ${fixed(w.cpu_us_per_msg_total, 0)})`)
    lines.push(`  write syscalls/msg: ${w.resources.map(u => `${u.name} ${fixed(u.write_syscalls_per_msg ?? Number.NaN, 2)}`).join(', ')}; gc share: ${w.resources.filter(u => u.gc_share != null).map(u => `${u.name} ${pct(u.gc_share as number)}`).join(', ') || 'n/a'}`)
    lines.push(`  rss MB max: ${w.resources.map(u => `${u.name} ${fixed(u.rss_mb_max, 0)}`).join(', ')}`)
  }
  const c = r.comparison
  if (c != null) {
    lines.push(`onion/plain throughput ratio: ${fixed(c.ratio_msg_per_s, 2)} (onion ${int(c.onion_msg_per_s)} msg/s vs plain ${int(c.plain_msg_per_s)} msg/s; target ≥ ${c.target_ratio}: ${c.target_met ? 'met' : 'NOT met'})`)
    if (c.ratio_vs_unbatched != null) lines.push(`onion / unbatched plain: ${fixed(c.ratio_vs_unbatched, 2)} (unbatched plain ${int(c.plain_unbatched_msg_per_s ?? Number.NaN)} msg/s)`)
    lines.push(`latency p50 onion ${ms(c.onion_p50_ms)} ms vs plain ${ms(c.plain_p50_ms)} ms; p99 onion ${ms(c.onion_p99_ms)} ms vs plain ${ms(c.plain_p99_ms)} ms (ratio ${fixed(c.p99_ratio, 2)}; target ≤ 1.5)`)
    lines.push(`median relay, onion vs plain: cpu ${fixed(c.onion_relay_cpu_us_per_msg, 0)} vs ${fixed(c.plain_relay_cpu_us_per_msg, 0)} µs/msg (ratio ${fixed(c.relay_cpu_per_msg_ratio, 2)}; target ≤ 1.5)` +
      (c.relay_write_syscalls_per_msg_ratio != null ? `; write syscalls ${fixed(c.onion_relay_write_syscalls_per_msg ?? Number.NaN, 2)} vs ${fixed(c.plain_relay_write_syscalls_per_msg ?? Number.NaN, 2)} /msg (ratio ${fixed(c.relay_write_syscalls_per_msg_ratio, 2)})` : '') +
      (c.onion_relay_gc_share != null || c.plain_relay_gc_share != null ? `; gc share ${c.onion_relay_gc_share != null ? pct(c.onion_relay_gc_share) : 'n/a'} vs ${c.plain_relay_gc_share != null ? pct(c.plain_relay_gc_share) : 'n/a'}` : ''))
  }
  const l = r.latency
  if (l != null) {
    lines.push(`with delay proxies (${l.one_way_ms} ms each way; path round trip ${ms(l.path_rtt_ms)} ms, measured ${ms(l.measured_path_rtt_ms)} ms):`)
    lines.push(`  circuit build median ${ms(l.build_median_ms)} ms = ${fixed(l.build_over_path_rtt, 2)} × path RTT (${fixed(l.build_over_measured_path_rtt, 2)} × measured); target ≤ ${ms(l.build_target_ms)} ms: ${l.build_target_met ? 'met' : 'NOT met'}`)
    lines.push(`  echo p50 ${ms(l.echo_p50_ms)} ms = ${fixed(l.echo_p50_over_path_rtt, 2)} × path RTT${l.plain_echo_p50_ms != null ? ` (plain 3-hop echo through the same proxies: ${ms(l.plain_echo_p50_ms)} ms)` : ''}`)
  }
  return lines.join('\n')
}

function counterTable (out: string[], rows: Array<[string, NodeCounters]>): void {
  const rec = (x: Record<string, number>): string => Object.entries(x).map(([k, v]) => `${k} ${v}`).join(', ') || '—'
  out.push('| node | cells fwd | cells back | relayed cells/s | exit requests | cells shed | destroys | throttled | violations | bans |', '|---|---:|---:|---:|---:|---:|---|---|---|---:|')
  for (const [name, n] of [...rows].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`| ${name} | ${int(n.relay_cells_forward)} | ${int(n.relay_cells_backward)} | ${int(n.relay_cells_per_s)} | ${int(n.exit_requests)} | ${int(n.cells_shed)} | ${rec(n.destroys)} | ${rec(n.ratelimit_throttled)} | ${rec(n.reputation_violations)} | ${n.bans} |`)
  }
  out.push('')
}

/** The markdown report: headline, per-workload figures, per-process resources, node counters, set-up. */
export function renderMarkdown (r: E2EResult): string {
  const m = r.meta
  const out: string[] = []
  out.push(`# ghostnode end-to-end benchmark — ${m.date}`, '')
  out.push(`\`${m.command}\``, '')
  out.push(`${m.mode}${m.latency_ms != null ? ` with ${m.latency_ms} ms netem` : ''}, ${m.nodes.length} nodes, node rate limits: ${m.node_limits}; ${m.concurrency} in flight, ${m.size_bytes} B payloads, ${m.seconds} s measured per workload in ${m.rounds} alternating round(s), each slice after ${m.warmup_s} s warm-up.`)
  out.push(`Node ${m.node}, ${m.cpu} × ${m.cores}, load average ${m.loadavg_start.join(' ')} at start, ${m.loadavg_end.join(' ')} at end${m.git_commit != null ? `, commit ${m.git_commit}` : ''}.`, '')
  const c = r.comparison
  if (c != null) {
    out.push('## Headline', '')
    out.push('| | onion (3 hops) | plain libp2p (3 hops) | onion / plain |', '|---|---:|---:|---:|')
    out.push(`| throughput (msg/s) | ${int(c.onion_msg_per_s)} | ${int(c.plain_msg_per_s)} | **${fixed(c.ratio_msg_per_s, 2)}** |`)
    out.push(`| latency p50 (ms) | ${ms(c.onion_p50_ms)} | ${ms(c.plain_p50_ms)} | ${fixed(c.onion_p50_ms / c.plain_p50_ms, 2)} |`)
    out.push(`| latency p99 (ms) | ${ms(c.onion_p99_ms)} | ${ms(c.plain_p99_ms)} | ${fixed(c.onion_p99_ms / c.plain_p99_ms, 2)} |`)
    const onionCpu = r.workloads['onion-echo']?.cpu_us_per_msg_total ?? Number.NaN
    const plainCpu = r.workloads['plain-echo']?.cpu_us_per_msg_total ?? Number.NaN
    out.push(`| CPU per msg, all processes (µs) | ${fixed(onionCpu, 0)} | ${fixed(plainCpu, 0)} | ${fixed(onionCpu / plainCpu, 2)} |`)
    out.push(`| CPU per msg, median relay (µs) | ${fixed(c.onion_relay_cpu_us_per_msg, 0)} | ${fixed(c.plain_relay_cpu_us_per_msg, 0)} | ${fixed(c.relay_cpu_per_msg_ratio, 2)} |`)
    if (c.relay_write_syscalls_per_msg_ratio != null) out.push(`| write syscalls per msg, median relay | ${fixed(c.onion_relay_write_syscalls_per_msg ?? Number.NaN, 2)} | ${fixed(c.plain_relay_write_syscalls_per_msg ?? Number.NaN, 2)} | ${fixed(c.relay_write_syscalls_per_msg_ratio, 2)} |`)
    if (c.onion_relay_gc_share != null || c.plain_relay_gc_share != null) out.push(`| GC share of CPU, median relay | ${pct(c.onion_relay_gc_share ?? Number.NaN)} | ${pct(c.plain_relay_gc_share ?? Number.NaN)} | |`)
    out.push('', `Target onion/plain ≥ ${c.target_ratio}: **${c.target_met ? 'met' : 'not met'}**.`)
    if (c.ratio_vs_unbatched != null) out.push(`For context, plain libp2p with one stream write per message at every hop (plain-echo-unbatched): ${int(c.plain_unbatched_msg_per_s ?? Number.NaN)} msg/s; onion ÷ that = ${fixed(c.ratio_vs_unbatched, 2)}.`)
    const failed = Object.values(r.workloads).filter(w => w.errors.total > 0)
    if (failed.length > 0) out.push(`**Errors occurred** (${failed.map(w => `${w.name}: ${errorsText(w)}`).join('; ')}): throughput figures of a workload with errors understate what it does when healthy; see its node counters.`)
    out.push('')
  }
  out.push('## Workloads', '')
  out.push('| workload | msg/s | msgs | p50 ms | p95 ms | p99 ms | max ms | errors |', '|---|---:|---:|---:|---:|---:|---:|---|')
  for (const w of Object.values(r.workloads)) {
    out.push(`| ${w.name} | ${int(w.ops_per_s)} | ${int(w.ops)} | ${ms(w.latency.p50_ms)} | ${ms(w.latency.p95_ms)} | ${ms(w.latency.p99_ms)} | ${ms(w.latency.max_ms)} | ${errorsText(w)} |`)
  }
  out.push('')
  for (const w of Object.values(r.workloads)) {
    out.push(`### ${w.name}`, '', w.description + '.', '')
    const build = buildText(w)
    if (build != null) out.push(`Circuit build (one round trip, 3 hops): ${build}.`, '')
    const d = w.details
    if (d.circuits != null) out.push(`Circuits carrying the load: ${String(d.circuits)} (path ${(d.path as string[] | undefined)?.join(' → ') ?? '?'}); rebuilds during the run: ${String(d.circuit_rebuilds)}, of which failed: ${String(d.circuit_rebuild_failures)}.`, '')
    out.push('| process | role | source | CPU % (of one core) | CPU µs per msg | RSS MB mean | RSS MB max |', '|---|---|---|---:|---:|---:|---:|')
    for (const u of w.resources) out.push(`| ${u.name}${u.pid != null ? ` (pid ${u.pid})` : ''} | ${u.role} | ${u.source} | ${fixed(u.cpu_percent, 0)} | ${fixed(u.cpu_us_per_msg ?? Number.NaN, 0)} | ${fixed(u.rss_mb_mean, 0)} | ${fixed(u.rss_mb_max, 0)} |`)
    out.push(`| all | | | ${fixed(w.resources.reduce((a, u) => a + u.cpu_percent, 0), 0)} | ${fixed(w.cpu_us_per_msg_total, 0)} | | |`)
    out.push('')
    const relayed = Object.entries(w.node_counters).filter(([, n]) => n.relay_cells_forward + n.relay_cells_backward > 0)
    if (relayed.length > 0) {
      out.push('Relay counters over this workload\'s slices (warm-ups included):', '')
      counterTable(out, relayed)
    }
  }
  const totals = Object.entries(r.node_counters_total)
  if (totals.length > 0) {
    out.push('## Node counters over the whole measurement', '', 'From each node\'s /metrics before the first and after the last slice; destroys, throttling, violations and bans show here whichever workload was running when they happened.', '')
    counterTable(out, totals)
  }
  out.push('## Reading these figures', '')
  out.push('- Rounds: the workloads alternate in short slices (see the set-up line), so drifting load from other work on the machine hits both; figures pool all slices.')
  out.push('- Closed loop: each of the in-flight slots sends its next message as soon as the previous one is answered; only messages started and answered inside the measured window count.')
  out.push('- Workloads never run at the same time, so they do not compete with each other; other work on the machine competes with all of them (see the load average).')
  out.push('- CPU µs per msg = CPU % ÷ msg/s: what one message costs each process, which holds up better than msg/s when other work takes CPU.')
  out.push('- CPU % is per process, 100 % = one core. `proc` = read from /proc by the bench; `metrics` = the node\'s own process metrics over HTTP.')
  if (m.node_limits === 'bench') out.push('- The bench lifted the nodes\' per-peer cell/byte/circuit buckets (see bench/README.md); with the defaults one client is held to ~500 cells/s per hop.')
  out.push('')
  return out.join('\n')
}

export async function writeText (path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  await writeFile(path, text)
}

/** JSON with NaN (no samples) written as null. */
export function toJson (value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => typeof v === 'number' && !Number.isFinite(v) ? null : v, 2) + '\n'
}
