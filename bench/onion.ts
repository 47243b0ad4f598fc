import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { trackPid, untrackPid } from '../harness/lib/cleanup.js'
import { abortOnSignals, intFlag, numberFlag, parseFlags } from '../harness/lib/args.js'
import {
  DEFAULT_CONCURRENCY, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_ROUNDS, DEFAULT_SECONDS, DEFAULT_SIZE_BYTES, DEFAULT_WARMUP_SECONDS, QUICK_ROUNDS, QUICK_SECONDS, runE2E
} from '../harness/lib/e2e-run.js'
import { BenchAbortedError, BenchSetupError } from '../harness/lib/errors.js'
import { formatSummary, toJson, writeText } from '../harness/lib/report.js'
import { ONION_BENCH_WORKLOADS } from '../harness/lib/workloads.js'

/**
 * `npm run bench:onion`: the onion micro benchmark (bench/onion-micro.ts, run
 * as its own process), then the end-to-end section on a 3-node loopback
 * testnet: 3-hop onion ECHO vs the plain libp2p 3-hop baseline, same run.
 * `--json FILE` writes `{ micro, e2e }` (fields in bench/README.md).
 */

const MICRO = fileURLToPath(new URL('./onion-micro.js', import.meta.url))

const USAGE = `usage: node dist/bench/onion.js [--json FILE] [--quick] [--seconds S] [--concurrency N] [--size BYTES] [--circuits N] [--builds N] [--rounds N] [--latency-ms D] [--skip-micro]
  micro benchmark, then 3-hop onion ECHO vs plain libp2p 3-hop forwarding on a loopback testnet
  --seconds S      measured seconds per end-to-end workload (default ${DEFAULT_SECONDS}; --quick ${QUICK_SECONDS})
  --concurrency N  requests in flight (default ${DEFAULT_CONCURRENCY})
  --size BYTES     ECHO payload (default ${DEFAULT_SIZE_BYTES}: one relay cell)
  --circuits N     onion circuits carrying the load (default ceil(concurrency/32))
  --builds N       timed back-to-back circuit builds before the load (default 20; --quick 10)
  --rounds N       alternate onion and plain N times, seconds/N each (default ${DEFAULT_ROUNDS}; --quick ${QUICK_ROUNDS})
  --latency-ms D   every node (and every plain relay) behind a user-space TCP proxy that holds each chunk D ms
                   each way; reports circuit build and echo p50 against the path round trip (6 × D)
  --skip-micro     end-to-end section only
`

const stderr = (line: string): void => { process.stderr.write(line + '\n') }

async function runMicro (quick: boolean, signal: AbortSignal): Promise<unknown> {
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-bench-'))
  const out = join(dir, 'micro.json')
  try {
    const child = spawn(process.execPath, [MICRO, '--json', out, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] })
    const exit = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => { resolve(code) })
      child.once('error', () => { resolve(null) })
    })
    const kill = (): void => { child.kill('SIGTERM') }
    signal.addEventListener('abort', kill, { once: true })
    if (child.pid != null) trackPid(child.pid)
    const code = await exit
    if (child.pid != null) untrackPid(child.pid)
    signal.removeEventListener('abort', kill)
    if (signal.aborted) throw new BenchAbortedError()
    if (code !== 0) throw new BenchSetupError(`onion micro benchmark exited with code ${String(code)}`)
    return JSON.parse(await readFile(out, 'utf8'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function main (argv: string[]): Promise<number> {
  let v
  let settings
  try {
    v = parseFlags(argv, {
      json: { type: 'string' },
      quick: { type: 'boolean' },
      seconds: { type: 'string' },
      concurrency: { type: 'string' },
      size: { type: 'string' },
      circuits: { type: 'string' },
      builds: { type: 'string' },
      rounds: { type: 'string' },
      'latency-ms': { type: 'string' },
      'skip-micro': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' }
    })
    settings = {
      concurrency: intFlag('concurrency', v.concurrency, DEFAULT_CONCURRENCY, 1, 4096),
      sizeBytes: intFlag('size', v.size, DEFAULT_SIZE_BYTES, 1, 100_000),
      seconds: numberFlag('seconds', v.seconds, v.quick === true ? QUICK_SECONDS : DEFAULT_SECONDS, 0.5, 3600),
      circuits: intFlag('circuits', v.circuits, undefined, 1, 1000),
      builds: intFlag('builds', v.builds, undefined, 1, 100_000),
      rounds: intFlag('rounds', v.rounds, v.quick === true ? QUICK_ROUNDS : DEFAULT_ROUNDS, 1, 100),
      latencyMs: v['latency-ms'] != null ? numberFlag('latency-ms', v['latency-ms'], 0, 0, 1000) : undefined
    }
  } catch (err) {
    stderr(`bench:onion: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (v.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const quick = v.quick === true
  const { signal, dispose } = abortOnSignals(stderr)
  try {
    const micro = v['skip-micro'] === true ? undefined : await runMicro(quick, signal)
    process.stdout.write(`\nend to end (3-node loopback testnet${settings.latencyMs != null ? `, ${settings.latencyMs} ms delay proxies` : ''})\n`)
    const e2e = await runE2E({
      ...(settings.latencyMs != null ? { proxyLatencyMs: settings.latencyMs } : {}),
      concurrency: settings.concurrency,
      sizeBytes: settings.sizeBytes,
      seconds: settings.seconds,
      rounds: settings.rounds,
      warmupSeconds: DEFAULT_WARMUP_SECONDS,
      requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
      quick,
      workloads: ONION_BENCH_WORKLOADS,
      settings: { circuits: settings.circuits, builds: settings.builds },
      progress: true,
      command: ['node', 'dist/bench/onion.js', ...argv].join(' '),
      signal,
      log: stderr
    })
    process.stdout.write(formatSummary(e2e) + '\n')
    if (v.json != null) {
      await writeText(v.json, toJson({ micro, e2e }))
      process.stdout.write(`wrote ${v.json}\n`)
    }
    return 0
  } catch (err) {
    if (err instanceof BenchAbortedError || signal.aborted) {
      stderr('bench:onion: interrupted; everything it started has been stopped')
      return 130
    }
    stderr(`bench:onion: ${(err as Error).message}`)
    return 1
  } finally {
    dispose()
  }
}

process.exitCode = await main(process.argv.slice(2))
