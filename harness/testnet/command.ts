import { parseArgs } from 'node:util'
import { NetemUnavailableError, NetnsUnavailableError, PortInUseError, TestnetAbortedError, TestnetConfigError } from './errors.js'
import { CONTROL_VERBS, isControlVerb, sendControl, serveControl } from './control.js'
import { DEFAULT_BASE_PORT } from './ports.js'
import { formatStopResults, formatTestnet } from './table.js'
import { DEFAULT_NODE_COUNT, startTestnet, type Testnet, type TestnetOptions } from './testnet.js'

export const USAGE = `usage: npm run testnet -- [--nodes N] [--base-port PORT] [--dir DIR] [--netns] [--latency MS] [-- <ghostnode start args>]
       npm run testnet -- status|stop|kill|restart [nodeN] --dir DIR

Starts N ghostnode processes (default ${DEFAULT_NODE_COUNT}) bootstrapped to each other, waits until every node is
ready and connected to all others, prints them, and runs until SIGINT/SIGTERM, then stops them all. A node
that dies is reported and the others keep running. While it runs, a second command with the same --dir
lists the nodes (status), stops one (SIGTERM), kills one (SIGKILL) or restarts one (same data dir and ports).

  --nodes N          number of nodes, 2-50 (default ${DEFAULT_NODE_COUNT})
  --base-port PORT   loopback: node i uses PORT+3i (TCP), +1 (WS), +2 (HTTP); 0 = any free ports
                     with --netns every node uses PORT..PORT+2 on its own address (default ${DEFAULT_BASE_PORT})
  --dir DIR          data dirs DIR/node1..N (identities are kept across runs; default: a new temp dir)
  --netns            one Linux network namespace per node, 10.74.N.0/24 on a bridge (root only)
  --latency MS       with --netns: tc netem delay of MS on each node's link (RTT between nodes = 2 x MS)
  --ready-timeout MS deadline for the mesh to form (default 30000)
  -- ARGS            passed to every 'ghostnode init' and 'ghostnode start', e.g. -- --set connections.max=50
`

export interface CliOutput { line: (s: string) => void, error: (s: string) => void }

const stdio: CliOutput = {
  line: (s) => { process.stdout.write(s + '\n') },
  error: (s) => { process.stderr.write(s + '\n') }
}

const EXIT_OK = 0
const EXIT_FAILURE = 1
const EXIT_USAGE = 2

function intOption (name: string, value: string | undefined): number | undefined {
  if (value == null) return undefined
  if (!/^\d+$/.test(value)) throw new TestnetConfigError(`--${name} expects a non-negative integer, got "${value}"`)
  return Number(value)
}

/** Parses the launcher's flags; everything after a literal `--` goes to the nodes. */
export function parseTestnetArgs (argv: string[]): { help: boolean, options: TestnetOptions } {
  const dashes = argv.indexOf('--')
  const own = dashes === -1 ? argv : argv.slice(0, dashes)
  const extraArgs = dashes === -1 ? [] : argv.slice(dashes + 1)
  let values
  try {
    ({ values } = parseArgs({
      args: own,
      strict: true,
      allowPositionals: false,
      options: {
        nodes: { type: 'string' },
        'base-port': { type: 'string' },
        dir: { type: 'string' },
        netns: { type: 'boolean' },
        latency: { type: 'string' },
        'ready-timeout': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    }))
  } catch (err) {
    throw new TestnetConfigError((err as Error).message)
  }
  const options: TestnetOptions = { extraArgs, keepData: true }
  const nodes = intOption('nodes', values.nodes)
  const basePort = intOption('base-port', values['base-port'])
  const latencyMs = intOption('latency', values.latency)
  const readyTimeoutMs = intOption('ready-timeout', values['ready-timeout'])
  if (nodes != null) options.nodes = nodes
  if (basePort != null) options.basePort = basePort
  if (latencyMs != null) options.latencyMs = latencyMs
  if (readyTimeoutMs != null) options.readyTimeoutMs = readyTimeoutMs
  if (values.dir != null) options.baseDir = values.dir
  if (values.netns === true) options.netns = true
  return { help: values.help === true, options }
}

function isUsageError (err: unknown): boolean {
  return err instanceof TestnetConfigError || err instanceof NetnsUnavailableError || err instanceof NetemUnavailableError || err instanceof PortInUseError
}

/**
 * The `npm run testnet` command: start, print, wait for SIGINT/SIGTERM (or a
 * node dying), stop. Exit codes: 0 stopped on request; 1 a node failed or
 * would not stop; 2 bad flags, or --netns/--latency/ports unavailable here.
 */
export async function runTestnetCli (argv: string[], out: CliOutput = stdio): Promise<number> {
  if (isControlVerb(argv[0])) return await runControl(argv, out)
  let parsed
  try {
    parsed = parseTestnetArgs(argv)
  } catch (err) {
    out.error(`testnet: ${(err as Error).message}\n\n${USAGE}`)
    return EXIT_USAGE
  }
  if (parsed.help) {
    out.line(USAGE)
    return EXIT_OK
  }

  const controller = new AbortController()
  let signalled: (name: string) => void = () => {}
  const signalledPromise = new Promise<string>((resolve) => { signalled = resolve })
  const onSignal = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      out.error(`${name} again: already stopping (nodes get SIGKILL at their deadline)`)
      return
    }
    out.line(`${name} received, stopping the testnet`)
    controller.abort()
    signalled(name)
  }
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)

  const died: string[] = []
  try {
    let net: Testnet | undefined
    try {
      net = await startTestnet({
        ...parsed.options,
        signal: controller.signal,
        log: (l) => { out.line(l) },
        onUnexpectedExit: (name, exit) => {
          died.push(name)
          out.error(`${name} exited on its own (${exit.signal ?? `code ${String(exit.code)}`}); see ${net?.nodes.find(n => n.name === name)?.logPath ?? 'its log'}. ` +
            `The other nodes keep running; restart it with: npm run testnet -- restart ${name} --dir ${net?.baseDir ?? 'DIR'}`)
        }
      })
    } catch (err) {
      if (err instanceof TestnetAbortedError) {
        out.line('stopped before the testnet was up; everything it started is gone')
        return EXIT_OK
      }
      out.error(`testnet: ${(err as Error).message}`)
      return isUsageError(err) ? EXIT_USAGE : EXIT_FAILURE
    }

    out.line('')
    out.line(formatTestnet(net))
    out.line('')
    out.line(`testnet ${net.runId} up: ${net.nodes.length} nodes ready and connected to each other. Ctrl-C (SIGINT) or SIGTERM stops it.`)
    const control = await serveControl(net, (l) => { out.line(l) })
    out.line(`one node at a time: npm run testnet -- ${CONTROL_VERBS.join('|')} [nodeN] --dir ${net.baseDir}`)

    await signalledPromise
    await control.close()
    try {
      const results = await net.stop()
      out.line(formatStopResults(results))
      const forced = results.some(r => r.forced)
      out.line(`all ${results.length} node processes exited${net.network != null ? `; namespaces and bridge ${net.network.bridge} removed` : ''}`)
      if (died.length > 0) out.error(`nodes that exited on their own during the run: ${died.join(', ')}`)
      return died.length > 0 || forced ? EXIT_FAILURE : EXIT_OK
    } catch (err) {
      out.error(`testnet: ${(err as Error).message}`)
      return EXIT_FAILURE
    }
  } finally {
    for (const s of signals) process.off(s, onSignal)
  }
}

/** `npm run testnet -- <verb> [node] --dir DIR`: asks the launcher running in DIR. */
async function runControl (argv: string[], out: CliOutput): Promise<number> {
  let values
  let positionals
  try {
    ({ values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { dir: { type: 'string' } } }))
  } catch (err) {
    out.error(`testnet: ${(err as Error).message}\n\n${USAGE}`)
    return EXIT_USAGE
  }
  const [verb, node] = positionals
  if (values.dir == null || (verb !== 'status' && node == null) || positionals.length > (verb === 'status' ? 1 : 2)) {
    out.error(`testnet: ${verb} needs ${verb === 'status' ? '' : 'a node name and '}the --dir of the running testnet\n\n${USAGE}`)
    return EXIT_USAGE
  }
  try {
    const answer = await sendControl(values.dir, [verb, node].filter(w => w != null).join(' '))
    if (answer.startsWith('error: ')) {
      out.error(`testnet: ${answer.slice('error: '.length)}`)
      return EXIT_FAILURE
    }
    out.line(answer)
    return EXIT_OK
  } catch (err) {
    out.error(`testnet: ${(err as Error).message}`)
    return isUsageError(err) ? EXIT_USAGE : EXIT_FAILURE
  }
}
