/**
 * The SIGKILL-under-load fault scenario (harness/lib/sigkill-scenario.ts) with
 * bigger counts than the test: a relay of an N-node process testnet is killed
 * while clients store continuously, restarted on its data dir, and every
 * acknowledged message is checked through circuits and on each of its
 * replicas' own databases.
 *
 *   npm run build && npm run faults -- [--nodes 4] [--clients 8] [--lanes 2] [--mailboxes 256]
 *     [--before 2000] [--after-kill 2000] [--after-restart 1000] [--json FILE]
 *
 * Prints the counts (sent, acknowledged, found after recovery, per replica),
 * each affected client's rebuild time, and exits 1 if an acknowledged message
 * is missing anywhere it should be, or a client took longer than 2 s.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { intFlag, parseFlags } from '../harness/lib/args.js'
import { BenchUsageError } from '../harness/lib/errors.js'
import { formatSigkillReport, releaseScenario, runSigkillScenario, type ScenarioResources } from '../harness/lib/sigkill-scenario.js'

const REBUILD_BOUND_MS = 2_000

async function main (): Promise<number> {
  const flags = parseFlags(process.argv.slice(2), {
    nodes: { type: 'string' },
    clients: { type: 'string' },
    lanes: { type: 'string' },
    mailboxes: { type: 'string' },
    before: { type: 'string' },
    'after-kill': { type: 'string' },
    'after-restart': { type: 'string' },
    json: { type: 'string' }
  })
  const options = {
    nodes: intFlag('nodes', flags.nodes, 4, 4, 20),
    clients: intFlag('clients', flags.clients, 8, 1, 64),
    lanesPerClient: intFlag('lanes', flags.lanes, 2, 1, 32),
    mailboxes: intFlag('mailboxes', flags.mailboxes, 256, 1, 100_000),
    ackedBeforeKill: intFlag('before', flags.before, 2_000, 1, 10_000_000),
    ackedAfterKill: intFlag('after-kill', flags['after-kill'], 2_000, 1, 10_000_000),
    ackedAfterRestart: intFlag('after-restart', flags['after-restart'], 1_000, 1, 10_000_000)
  }
  const log = (line: string): void => { process.stdout.write(line + '\n') }
  const baseDir = await mkdtemp(join(tmpdir(), 'ghostnode-faults-'))
  const res: ScenarioResources = { clients: [] }
  try {
    log(`faults: SIGKILL under load, ${JSON.stringify(options)}`)
    // phases scale with the counts: about 100 stores/s is the slow end on a 2-core machine
    const phaseTimeoutMs = 30_000 + 10 * Math.max(options.ackedBeforeKill, options.ackedAfterKill, options.ackedAfterRestart)
    const report = await runSigkillScenario({ ...options, baseDir, phaseTimeoutMs, log }, res)
    log(formatSigkillReport(report))
    if (flags.json != null) await writeFile(flags.json, JSON.stringify(report, null, 2) + '\n')
    const problems = [
      ...(report.missing.length > 0 ? [`${report.missing.length} acknowledged messages not readable`] : []),
      ...(report.victimDisk.onDiskAfterKill !== report.victimDisk.acknowledgedByIt
        ? [`${report.victim.name} held ${report.victimDisk.onDiskAfterKill}/${report.victimDisk.acknowledgedByIt} of its acknowledged stores after the kill`]
        : []),
      ...report.perReplica.filter(p => p.found !== p.expected).map(p => `${p.name} holds ${p.found}/${p.expected}`),
      ...report.rebuildMs.filter(r => r.ms == null || r.ms > REBUILD_BOUND_MS).map(r => `client ${r.client} rebuild ${r.ms == null ? 'never' : `${Math.round(r.ms)} ms`}`),
      ...report.bans,
      ...(report.badReceipts > 0 ? [`${report.badReceipts} receipts with fewer than W members or a non-member`] : [])
    ]
    log(problems.length === 0 ? 'no acknowledged message lost; every client recovered within 2 s' : `VIOLATIONS: ${problems.join('; ')}`)
    return problems.length === 0 ? 0 : 1
  } finally {
    await releaseScenario(res)
    await rm(baseDir, { recursive: true, force: true })
  }
}

main().then((code) => { process.exitCode = code }, (err: Error) => {
  process.stderr.write(`faults: ${err.message}\n`)
  process.exitCode = err instanceof BenchUsageError ? 2 : 1
})
