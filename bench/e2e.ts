import { fileURLToPath } from 'node:url'
import { NetemUnavailableError, NetnsUnavailableError, PortInUseError, TestnetConfigError } from '../harness/testnet/errors.js'
import { abortOnSignals, intFlag, listFlag, numberFlag, parseFlags } from '../harness/lib/args.js'
import {
  DEFAULT_CONCURRENCY, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_ROUNDS, DEFAULT_SECONDS, DEFAULT_SIZE_BYTES, DEFAULT_WARMUP_SECONDS, QUICK_ROUNDS, QUICK_SECONDS, runE2E
} from '../harness/lib/e2e-run.js'
import { BenchAbortedError, BenchUsageError } from '../harness/lib/errors.js'
import { formatSummary, renderMarkdown, toJson, writeText } from '../harness/lib/report.js'
import { DEFAULT_WORKLOADS, WORKLOADS } from '../harness/lib/workloads.js'

/**
 * `npm run bench:e2e`: the end-to-end benchmark on a 3-node testnet, with the
 * plain libp2p 3-hop baseline measured in the same run. Figures and every
 * report field are described in bench/README.md.
 */

const REPORTS_DIR = fileURLToPath(new URL('../../bench/reports/', import.meta.url))

const USAGE = `usage: node dist/bench/e2e.js [options]

Measures 3-hop onion ECHO through circuits and a plain libp2p 3-hop forwarding
baseline (same payloads, same concurrency), then writes a markdown + JSON report.

  --nodes URLS        comma-separated HTTP URLs of running nodes (e.g. http://127.0.0.1:7502,...);
                      without it a local 3-node testnet is started and stopped
  --netns             start the testnet in network namespaces (root only)
  --latency MS        with --netns: tc netem delay on each node's link
  --concurrency N     requests in flight (default ${DEFAULT_CONCURRENCY})
  --size BYTES        ECHO payload (default ${DEFAULT_SIZE_BYTES}: one relay cell)
  --seconds S         measured seconds per workload (default ${DEFAULT_SECONDS}; --quick ${QUICK_SECONDS})
  --rounds N          alternate the workloads N times, seconds/N each (default ${DEFAULT_ROUNDS}; --quick ${QUICK_ROUNDS})
  --warmup S          unmeasured seconds before every measured slice (default ${DEFAULT_WARMUP_SECONDS})
  --timeout MS        per-request deadline (default ${DEFAULT_REQUEST_TIMEOUT_MS})
  --circuits N        onion circuits carrying the load (default ceil(concurrency/32))
  --builds N          circuits built one by one to time the build (default 20; --quick 10)
  --workloads LIST    of ${WORKLOADS.map(w => w.name).join(', ')} (default ${DEFAULT_WORKLOADS.join(',')})
  --dir DIR           keep the started testnet's data dirs and node logs in DIR/node1..3
  --default-limits    keep the nodes' default per-peer rate limits (a testnet started here)
  --quick             short run
  --json FILE         JSON report (default: next to the markdown report)
  --report FILE       markdown report (default bench/reports/e2e-<time>.md)
`

const stderr = (line: string): void => { process.stderr.write(line + '\n') }

function stamp (d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)
}

async function main (argv: string[]): Promise<number> {
  let options
  try {
    const v = parseFlags(argv, {
      nodes: { type: 'string' },
      netns: { type: 'boolean' },
      latency: { type: 'string' },
      concurrency: { type: 'string' },
      size: { type: 'string' },
      seconds: { type: 'string' },
      warmup: { type: 'string' },
      rounds: { type: 'string' },
      timeout: { type: 'string' },
      circuits: { type: 'string' },
      builds: { type: 'string' },
      workloads: { type: 'string' },
      'default-limits': { type: 'boolean' },
      dir: { type: 'string' },
      quick: { type: 'boolean' },
      json: { type: 'string' },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h' }
    })
    if (v.help === true) {
      process.stdout.write(USAGE)
      return 0
    }
    const quick = v.quick === true
    const urls = listFlag(v.nodes)
    if (urls != null && (v.netns === true || v.latency != null || v.dir != null || v['default-limits'] === true)) throw new BenchUsageError('--netns, --latency, --dir and --default-limits apply to a testnet started here; they do not combine with --nodes')
    const report = v.report ?? `${REPORTS_DIR}e2e-${stamp()}.md`
    options = {
      ...(urls != null ? { urls } : {}),
      ...(v.netns === true ? { netns: true } : {}),
      ...(v.latency != null ? { latencyMs: intFlag('latency', v.latency, 0, 0, 10_000) } : {}),
      defaultLimits: v['default-limits'] === true,
      ...(v.dir != null ? { dir: v.dir } : {}),
      concurrency: intFlag('concurrency', v.concurrency, DEFAULT_CONCURRENCY, 1, 4096),
      sizeBytes: intFlag('size', v.size, DEFAULT_SIZE_BYTES, 1, 100_000),
      seconds: numberFlag('seconds', v.seconds, quick ? QUICK_SECONDS : DEFAULT_SECONDS, 0.5, 3600),
      rounds: intFlag('rounds', v.rounds, quick ? QUICK_ROUNDS : DEFAULT_ROUNDS, 1, 100),
      warmupSeconds: numberFlag('warmup', v.warmup, DEFAULT_WARMUP_SECONDS, 0, 60),
      requestTimeoutMs: intFlag('timeout', v.timeout, DEFAULT_REQUEST_TIMEOUT_MS, 100, 600_000),
      quick,
      workloads: listFlag(v.workloads) ?? DEFAULT_WORKLOADS,
      settings: {
        circuits: intFlag('circuits', v.circuits, undefined, 1, 1000),
        builds: intFlag('builds', v.builds, undefined, 0, 1000)
      },
      report,
      json: v.json ?? report.replace(/\.md$/, '') + '.json'
    }
  } catch (err) {
    stderr(`bench:e2e: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }

  const { signal, dispose } = abortOnSignals(stderr)
  try {
    const command = ['node', 'dist/bench/e2e.js', ...argv].join(' ')
    const result = await runE2E({ ...options, command, progress: true, signal, log: stderr })
    process.stdout.write(formatSummary(result) + '\n')
    await writeText(options.report, renderMarkdown(result))
    await writeText(options.json, toJson(result))
    process.stdout.write(`report: ${options.report}\njson: ${options.json}\n`)
    return 0
  } catch (err) {
    if (err instanceof BenchAbortedError || signal.aborted) {
      stderr('bench:e2e: interrupted; everything it started has been stopped')
      return 130
    }
    stderr(`bench:e2e: ${(err as Error).message}`)
    const usage = err instanceof BenchUsageError || err instanceof TestnetConfigError || err instanceof NetnsUnavailableError || err instanceof NetemUnavailableError || err instanceof PortInUseError
    return usage ? 2 : 1
  } finally {
    dispose()
  }
}

process.exitCode = await main(process.argv.slice(2))
