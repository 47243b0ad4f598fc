import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { describeFinding, fuzz, type FuzzTarget } from './harness.js'
import { cellTarget } from './targets/cell.js'
import { createLayerTarget } from './targets/create-layer.js'
import { relayMessageTarget } from './targets/relay-message.js'
import { nodeRecordTarget } from './targets/node-record.js'
import { swarmExitTarget } from './targets/swarm-exit.js'
import { swarmMessageTarget } from './targets/swarm-message.js'

/** Every registered target; test/fuzz/short.test.ts runs them all. */
export const TARGETS: readonly FuzzTarget[] = [cellTarget, createLayerTarget, relayMessageTarget, nodeRecordTarget, swarmMessageTarget, swarmExitTarget]

/** Per target, when neither --time nor --runs is given. */
const DEFAULT_CLI_TIME_S = 10

const USAGE = `usage: node dist/fuzz/run.js [target] [--time s] [--runs n] [--seed n] [--hang-ms n]
targets: ${TARGETS.map(t => t.name).join(', ')}`

async function main (): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      time: { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string' },
      'hang-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    }
  })
  if (values.help === true || positionals.length > 1) {
    console.log(USAGE)
    return values.help === true ? 0 : 2
  }
  const selected = positionals.length === 0 ? TARGETS : TARGETS.filter(t => t.name === positionals[0])
  if (selected.length === 0) {
    console.error(`unknown target ${positionals[0]}\n${USAGE}`)
    return 2
  }
  const num = (v: string | undefined): number | undefined => v == null ? undefined : Number(v)
  const runs = num(values.runs)
  const timeS = num(values.time) ?? (runs == null ? DEFAULT_CLI_TIME_S : undefined)
  let findings = 0
  for (const target of selected) {
    const report = await fuzz(target, {
      runs: runs ?? Number.MAX_SAFE_INTEGER,
      timeMs: timeS == null ? undefined : timeS * 1000,
      seed: num(values.seed),
      hangMs: num(values['hang-ms'])
    })
    console.log(`${report.target}: runs=${report.runs} accepted=${report.accepted} typedErrors=${report.typedErrors} ` +
      `findings=${report.findings.length} seed=${report.seed} elapsed=${(report.elapsedMs / 1000).toFixed(1)}s`)
    for (const f of report.findings) console.log(`  ${describeFinding(f)} -> ${f.file ?? '(not saved)'}`)
    findings += report.findings.length
  }
  return findings === 0 ? 0 : 1
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main()
}
