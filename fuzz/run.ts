import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { describeFinding, fuzz, type FuzzTarget } from './harness.js'
import { cellTarget } from './targets/cell.js'
import { configFileTarget } from './targets/config-file.js'
import { createLayerTarget } from './targets/create-layer.js'
import { relayMessageTarget } from './targets/relay-message.js'
import { nodeRecordTarget } from './targets/node-record.js'
import { onionRelayTarget } from './targets/onion-relay.js'
import { swarmExitTarget } from './targets/swarm-exit.js'
import { swarmMessageTarget } from './targets/swarm-message.js'
import { swarmServerTarget } from './targets/swarm-server.js'

/** Every registered target; test/fuzz/short.test.ts runs them all. */
export const TARGETS: readonly FuzzTarget[] = [cellTarget, createLayerTarget, relayMessageTarget, nodeRecordTarget, swarmMessageTarget, swarmExitTarget,
  configFileTarget, onionRelayTarget, swarmServerTarget]

/** Per target, when neither --time nor --runs is given. */
const DEFAULT_CLI_TIME_S = 10

class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

const USAGE = `usage: node dist/fuzz/run.js [target] [--time s] [--runs n] [--seed n] [--hang-ms n]
targets: ${TARGETS.map(t => t.name).join(', ')}`

async function main (): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        time: { type: 'string' },
        runs: { type: 'string' },
        seed: { type: 'string' },
        'hang-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    // an unknown or valueless option: say so with the usage instead of a stack trace
    console.error(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true || positionals.length > 1) {
    console.log(USAGE)
    return values.help === true ? 0 : 2
  }
  const selected = positionals.length === 0 ? TARGETS : TARGETS.filter(t => t.name === positionals[0])
  if (selected.length === 0) {
    console.error(`unknown target ${positionals[0]}\n${USAGE}`)
    return 2
  }
  const num = (name: string, v: string | undefined): number | undefined => {
    if (v == null) return undefined
    const n = Number(v)
    // a typo must not silently become a run of zero inputs (NaN compares false)
    if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`--${name} needs a non-negative number, got "${v}"`)
    return n
  }
  let runs: number | undefined, timeS: number | undefined, seed: number | undefined, hangMs: number | undefined
  try {
    runs = num('runs', values.runs)
    // with both --runs and --time the run stops at whichever comes first
    timeS = num('time', values.time) ?? (runs == null ? DEFAULT_CLI_TIME_S : undefined)
    seed = num('seed', values.seed)
    hangMs = num('hang-ms', values['hang-ms'])
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    console.error(`${err.message}\n${USAGE}`)
    return 2
  }
  let findings = 0
  for (const target of selected) {
    const report = await fuzz(target, {
      runs: runs ?? Number.MAX_SAFE_INTEGER,
      timeMs: timeS == null ? undefined : timeS * 1000,
      seed,
      hangMs
    })
    console.log(`${report.target}: runs=${report.runs} accepted=${report.accepted} typedErrors=${report.typedErrors} ` +
      `findings=${report.findings.length} seed=${report.seed} elapsed=${(report.elapsedMs / 1000).toFixed(1)}s`)
    if (report.statePeak != null) {
      const peaks = Object.entries(report.statePeak).map(([k, v]) => `${k}=${v}/${target.stateBounds?.[k] ?? '-'}`)
      console.log(`  state peak (value/bound): ${peaks.join(' ')}`)
    }
    for (const f of report.findings) console.log(`  ${describeFinding(f)} -> ${f.file ?? '(not saved)'}`)
    findings += report.findings.length
  }
  return findings === 0 ? 0 : 1
}

if (process.argv[1] != null && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = await main()
}
