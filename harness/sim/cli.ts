import { spawn } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { drawChart } from './chart.js'
import { runSim, type SimReport } from './network-sim.js'

const USAGE = `usage: npm run sim -- --nodes N[,N...] [--mailboxes 10000] [--circuits 100] [--idle 60] [--churn 0.1] [--reconcile 60] [--period 20] [--drop 60] [--hosts H] [--add FILE.json] [--json FILE] [--svg FILE]

Runs a network of N real ghostnode nodes (harness/sim/network-sim.ts), spread over H processes
(default: one per 40 nodes, at most 4), through the scripted scenario and prints its figures. With several N, each runs in its own child process
(clean RSS), and --json/--svg get every run, the fitted growth of the per-node figures and a
picture of them against N (default sim-report.svg beside the JSON). --reconcile is every node's
anti-entropy interval in seconds (the production default, 60, unless given); --period the
membership period and --drop how long an unanswering member stays in the document, in seconds
(shortened from production's 600 and 1800). --add FILE.json puts the runs of an earlier report
before this one's in the report, the growth fit and the picture.`

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    mailboxes: { type: 'string', default: '10000' },
    circuits: { type: 'string', default: '100' },
    idle: { type: 'string', default: '60' },
    churn: { type: 'string', default: '0.1' },
    reconcile: { type: 'string', default: '60' },
    period: { type: 'string', default: '20' },
    drop: { type: 'string', default: '60' },
    hosts: { type: 'string' },
    add: { type: 'string' },
    json: { type: 'string' },
    svg: { type: 'string' },
    child: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false }
  }
})

function numbers (): { sizes: number[], mailboxes: number, circuits: number, idle: number, churn: number, reconcile: number, period: number, drop: number, hosts?: number } {
  const sizes = (values.nodes ?? '').split(',').filter(s => s !== '').map(Number)
  const mailboxes = Number(values.mailboxes)
  const circuits = Number(values.circuits)
  const idle = Number(values.idle)
  const churn = Number(values.churn)
  const reconcile = Number(values.reconcile)
  const period = Number(values.period)
  const drop = Number(values.drop)
  const hosts = values.hosts === undefined ? undefined : Number(values.hosts)
  if (hosts !== undefined && !(Number.isInteger(hosts) && hosts >= 1 && hosts <= 64)) throw new Error('--hosts takes an integer from 1 to 64')
  if (!(reconcile >= 1) || !(period >= 1) || !(drop >= period)) throw new Error('--reconcile and --period take seconds >= 1, --drop seconds >= --period')
  if (sizes.length === 0 || sizes.some(n => !Number.isInteger(n) || n < 4) || !Number.isInteger(mailboxes) || mailboxes < 1 ||
    !Number.isInteger(circuits) || circuits < 1 || !(idle >= 1) || !(churn > 0 && churn < 0.34)) {
    throw new Error('--nodes takes integers >= 4; --mailboxes, --circuits and --idle positive numbers; --churn a fraction below 1/3')
  }
  return { sizes, mailboxes, circuits, idle, churn, reconcile, period, drop, hosts }
}

/** Growth exponent between the smallest and largest N: value ∝ N^k. */
function exponent (reports: SimReport[], pick: (r: SimReport) => number): number {
  const a = reports[0]
  const b = reports[reports.length - 1]
  return Math.log(pick(b) / pick(a)) / Math.log(b.nodes / a.nodes)
}

async function child (n: number, args: string[]): Promise<SimReport> {
  const script = fileURLToPath(import.meta.url)
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--max-semi-space-size=4', script, '--child', '--nodes', String(n), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    proc.stdout.on('data', (chunk: Buffer) => {
      const text = chunk.toString()
      out += text
      for (const line of text.split('\n')) if (line !== '' && !line.startsWith('{')) process.stdout.write(line + '\n')
    })
    proc.on('exit', (code) => {
      const last = out.trim().split('\n').reverse().find(l => l.startsWith('{'))
      if (code !== 0 || last === undefined) reject(new Error(`the simulation of ${n} nodes exited with code ${code}`))
      else resolve(JSON.parse(last) as SimReport)
    })
  })
}

async function main (): Promise<void> {
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    return
  }
  const { sizes, mailboxes, circuits, idle, churn, reconcile, period, drop, hosts } = numbers()
  const log = (line: string): void => { process.stdout.write(line + '\n') }
  if (values.child === true || sizes.length === 1 && values.json === undefined) {
    const report = await runSim({ nodes: sizes[0], mailboxes, circuits, idleSeconds: idle, churn, reconcileIntervalMs: reconcile * 1000, documentIntervalMs: period * 1000, dropAfterMs: drop * 1000, hosts, log })
    process.stdout.write(JSON.stringify(report) + '\n')
    return
  }
  const args = ['--mailboxes', String(mailboxes), '--circuits', String(circuits), '--idle', String(idle), '--churn', String(churn), '--reconcile', String(reconcile), '--period', String(period), '--drop', String(drop), ...(hosts !== undefined ? ['--hosts', String(hosts)] : [])]
  const reports: SimReport[] = values.add !== undefined ? (JSON.parse(await readFile(values.add, 'utf8')) as { runs: SimReport[] }).runs : []
  // the files are written after every N, so a long series that fails at a large N keeps what it measured
  for (const n of sizes) {
    try {
      reports.push(await child(n, args))
    } catch (err) {
      log(`${(err as Error).message}: the report covers ${reports.map(r => r.nodes).join(', ') || 'nothing'}`)
      process.exitCode = 1
      break
    }
    await writeReports(reports, log)
  }
}

async function writeReports (reports: SimReport[], log: (line: string) => void): Promise<void> {
  const growth = reports.length > 1
    ? {
        from: reports[0].nodes,
        to: reports[reports.length - 1].nodes,
        rss_exponent: exponent(reports, r => r.per_node.rss_bytes),
        background_exponent: exponent(reports, r => r.per_node.background_bytes_per_min),
        cpu_exponent: exponent(reports, r => r.per_node.cpu_ms_per_min),
        log_ratio: Math.log(reports[reports.length - 1].nodes) / Math.log(reports[0].nodes),
        rss_ratio: reports[reports.length - 1].per_node.rss_bytes / reports[0].per_node.rss_bytes,
        background_ratio: reports[reports.length - 1].per_node.background_bytes_per_min / reports[0].per_node.background_bytes_per_min
      }
    : undefined
  if (growth !== undefined) {
    log(`growth ${growth.from} → ${growth.to} nodes, per node: RSS ×${growth.rss_ratio.toFixed(2)} (N^${growth.rss_exponent.toFixed(2)}), ` +
      `background traffic ×${growth.background_ratio.toFixed(2)} (N^${growth.background_exponent.toFixed(2)}); log N grows ×${growth.log_ratio.toFixed(2)}`)
  }
  const svg = drawChart(`ghostnode simulation: ${reports.map(r => r.nodes).join(', ')} nodes`, [
    { title: 'RSS per node', unit: 'MiB', points: reports.map(r => ({ n: r.nodes, value: r.per_node.rss_bytes / 2 ** 20 })) },
    { title: 'Idle traffic per node', unit: 'KiB/min', points: reports.map(r => ({ n: r.nodes, value: r.per_node.background_bytes_per_min / 1024 })) },
    { title: 'CPU per node, idle', unit: 'ms/min', points: reports.map(r => ({ n: r.nodes, value: r.per_node.cpu_ms_per_min })) },
    { title: 'Directories complete', unit: 's after last join', points: reports.map(r => ({ n: r.nodes, value: r.directory_converged_s })) },
    { title: 'Circuit build p50', unit: 'ms', points: reports.map(r => ({ n: r.nodes, value: r.circuit_build_ms.p50_ms })) },
    { title: 'Hand-off after churn', unit: 's', points: reports.map(r => ({ n: r.nodes, value: r.churn.handoff_s })) }
  ])
  const svgPath = values.svg ?? (values.json !== undefined ? values.json.replace(/\.json$/, '') + '.svg' : 'sim-report.svg')
  await writeFile(svgPath, svg)
  if (values.json !== undefined) await writeFile(values.json, JSON.stringify({ date: new Date().toISOString(), runs: reports, growth }, null, 2))
  log(`wrote ${svgPath}${values.json !== undefined ? ` and ${values.json}` : ''}`)
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n${USAGE}\n`)
  process.exit(1)
})
