import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { trackPid, untrackPid } from './cleanup.js'
import { CommandFailedError, NodeStartError } from './errors.js'
import { RELAY_NODE_FLAGS } from '../../src/runtime-flags.js'

/**
 * The one way tests, benchmarks and the testnet run the `ghostnode` CLI as a
 * child process: `startGhostnode` for `ghostnode start`, `runGhostnode` for a
 * one-shot command (init, id, status, ...).
 */

/** bin/ghostnode.js of this checkout (this file runs from dist/harness/lib/). */
export const GHOSTNODE_BIN = fileURLToPath(new URL('../../../bin/ghostnode.js', import.meta.url))

/** The node's own shutdown deadline is shutdownTimeoutMs (10 s by default); allow a little more before SIGKILL. */
export const DEFAULT_STOP_DEADLINE_MS = 12_000
const KILL_WAIT_MS = 5_000
const DEFAULT_START_TIMEOUT_MS = 20_000
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000
/** Output kept in memory per stream; a node's logs over a test run stay far below this. */
const MAX_KEPT_OUTPUT_CHARS = 16 * 1024 * 1024
const LOG_POLL_MS = 100

export interface ProcessExit { code: number | null, signal: NodeJS.Signals | null }

export function describeExit (exit: ProcessExit): string {
  return exit.signal != null ? `signal ${exit.signal}` : `code ${String(exit.code)}`
}

/**
 * The environment of child processes: the caller's, minus GHOSTNODE_*. A stray
 * GHOSTNODE_HTTP_PORT in the developer's shell would otherwise give every node
 * the same port; a child is defined by its arguments alone.
 */
export function childEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GHOSTNODE_')))
}

/** argv that runs the ghostnode CLI, optionally under a prefix such as `ip netns exec NS`. */
function ghostnodeArgv (args: string[], wrap: string[] = []): [string, string[]] {
  const argv = [...wrap, process.execPath, ...RELAY_NODE_FLAGS, GHOSTNODE_BIN, ...args]
  return [argv[0], argv.slice(1)]
}

/** Resolves on exit, or on a spawn error (then code and signal are null): never hangs on a failed spawn. */
function exitOf (child: ChildProcess): Promise<ProcessExit> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => { resolve({ code, signal }) })
    child.on('error', () => { if (child.pid == null) resolve({ code: null, signal: null }) })
  })
}

async function spawned (child: ChildProcess, what: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', (err) => { reject(new CommandFailedError(what, err.message, { cause: err })) })
  })
  return child.pid as number
}

export interface RunOptions {
  /** Command prefix, e.g. ['ip', 'netns', 'exec', 'gn-ab12cd-1']. */
  wrap?: string[]
  /** @default 30000 */
  timeoutMs?: number
}

/** Runs a one-shot ghostnode command (init, id, status, ...) and returns its output; a non-zero exit throws. */
export async function runGhostnode (args: string[], options: RunOptions = {}): Promise<{ stdout: string, stderr: string }> {
  const [cmd, argv] = ghostnodeArgv(args, options.wrap)
  const child = spawn(cmd, argv, { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = exitOf(child)
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
  const pid = await spawned(child, `ghostnode ${args[0]}`)
  trackPid(pid)
  const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  try {
    const exit = await exited
    if (exit.code !== 0) {
      throw new CommandFailedError(`ghostnode ${args.join(' ')}`, `${describeExit(exit)}: ${stderr.trim() || stdout.trim()}`)
    }
    return { stdout, stderr }
  } finally {
    clearTimeout(timer)
    untrackPid(pid)
  }
}

export interface GhostnodeStartOptions {
  /** Names the process in errors. @default 'ghostnode' */
  name?: string
  dataDir: string
  /** Arguments after `ghostnode start --data-dir <dataDir>`. */
  args?: string[]
  /** Added to the environment (which never carries the caller's GHOSTNODE_*). */
  env?: Record<string, string>
  /** Command prefix, e.g. ['ip', 'netns', 'exec', NS]. */
  wrap?: string[]
  /**
   * Append stdout and stderr to this file instead of keeping them in memory.
   * The node then keeps writing its log even if the caller stops reading.
   */
  logPath?: string
  /**
   * Own process group, so a Ctrl-C in the caller's terminal reaches only the
   * caller, which then stops each node exactly once (a node that saw SIGINT
   * from the terminal and SIGTERM from the caller would take the second
   * signal as "force exit").
   */
  detached?: boolean
  /**
   * Wait until the node has printed its peer id, TCP address and HTTP address
   * (it does once it has started); `false` returns as soon as it is spawned.
   * @default true
   */
  waitForAddresses?: boolean
  /** @default 20000 */
  startTimeoutMs?: number
}

/** A running (or exited) `ghostnode start` process. */
export interface GhostnodeProcess {
  readonly name: string
  readonly pid: number
  readonly dataDir: string
  /** Set when output goes to a file. */
  readonly logPath?: string
  /** Resolves when the process has exited (and been reaped). */
  readonly exited: Promise<ProcessExit>
  /** Set once the process has exited. */
  exit?: ProcessExit
  /** What it printed so far (from memory, or read back from the log file). */
  output: () => Promise<{ stdout: string, stderr: string }>
  /** Set once it has printed them (always, when started with waitForAddresses). */
  peerId: string
  /** The first TCP listen address, ending in /p2p/<peerId>. */
  addr: string
  /** e.g. http://127.0.0.1:40123 */
  httpUrl: string
}

/**
 * `ghostnode start` arguments for a node on loopback with ephemeral TCP and
 * HTTP ports, plus one `--set` per `key=value` setting.
 */
export function loopbackArgs (settings: string[] = []): string[] {
  return [
    '--listen', '/ip4/127.0.0.1/tcp/0',
    '--http-host', '127.0.0.1',
    '--http-port', '0',
    ...settings.flatMap(kv => ['--set', kv])
  ]
}

/** Spawns `ghostnode start --data-dir <dataDir> ...args`. */
export async function startGhostnode (options: GhostnodeStartOptions): Promise<GhostnodeProcess> {
  const name = options.name ?? 'ghostnode'
  const [cmd, argv] = ghostnodeArgv(['start', '--data-dir', options.dataDir, ...(options.args ?? [])], options.wrap)
  const env = { ...childEnv(), ...options.env }
  const detached = options.detached ?? false
  let child: ChildProcess
  let output: () => Promise<{ stdout: string, stderr: string }>
  if (options.logPath != null) {
    const logPath = options.logPath
    const fd = openSync(logPath, 'a')
    try {
      child = spawn(cmd, argv, { env, stdio: ['ignore', fd, fd], detached })
    } finally {
      closeSync(fd) // the child holds its own copy
    }
    output = async () => ({ stdout: await readFile(logPath, 'utf8').catch(() => ''), stderr: '' })
  } else {
    child = spawn(cmd, argv, { env, stdio: ['ignore', 'pipe', 'pipe'], detached })
    const kept = { stdout: '', stderr: '' }
    const keep = (stream: 'stdout' | 'stderr') => (d: string) => {
      kept[stream] += d
      if (kept[stream].length > MAX_KEPT_OUTPUT_CHARS) kept[stream] = kept[stream].slice(-MAX_KEPT_OUTPUT_CHARS)
    }
    child.stdout?.setEncoding('utf8').on('data', keep('stdout'))
    child.stderr?.setEncoding('utf8').on('data', keep('stderr'))
    output = async () => ({ ...kept })
  }
  const exitPromise = exitOf(child)
  const pid = await spawned(child, `${name}: ghostnode start`)
  trackPid(pid)
  const proc: GhostnodeProcess = {
    name,
    pid,
    dataDir: options.dataDir,
    ...(options.logPath != null ? { logPath: options.logPath } : {}),
    exited: exitPromise.then((exit) => {
      proc.exit = exit
      untrackPid(pid)
      return exit
    }),
    output,
    peerId: '',
    addr: '',
    httpUrl: ''
  }
  if (options.waitForAddresses !== false) {
    try {
      await waitForAddresses(proc, options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS)
    } catch (err) {
      await stopGhostnode(proc, 'SIGKILL')
      throw err
    }
  }
  return proc
}

/** Addresses from the start banner, or undefined until all three are printed. */
function parseBanner (stdout: string): { peerId: string, addr: string, httpUrl: string } | undefined {
  const peerId = /^peer id: (\S+)$/m.exec(stdout)?.[1]
  const addr = /^listening: (\/ip[46]\/[^\s]+\/tcp\/\d+\/p2p\/\S+)$/m.exec(stdout)?.[1]
  const httpUrl = /^http: (http:\/\/\S+)/m.exec(stdout)?.[1]
  return peerId != null && addr != null && httpUrl != null ? { peerId, addr, httpUrl } : undefined
}

/** Resolves once the process has printed its addresses (and fills them in); rejects if it exits first or takes too long. */
export async function waitForAddresses (proc: GhostnodeProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { stdout, stderr } = await proc.output()
    const banner = parseBanner(stdout)
    if (banner != null) {
      Object.assign(proc, banner)
      return
    }
    if (proc.exit != null) throw new NodeStartError(proc.name, `exited (${describeExit(proc.exit)}) before it was up`, tail(stdout + stderr))
    if (Date.now() >= deadline) throw new NodeStartError(proc.name, `did not print its addresses within ${timeoutMs} ms`, tail(stdout + stderr))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([proc.exited, new Promise((resolve) => { timer = setTimeout(resolve, LOG_POLL_MS) })])
    clearTimeout(timer)
  }
}

export interface StopResult {
  name: string
  pid: number
  exit: ProcessExit
  /** SIGKILL was needed after the deadline. */
  forced: boolean
}

/**
 * Sends `sig` (SIGTERM: the node drains and exits 0) and waits up to the
 * deadline, then SIGKILLs; resolves once the process is gone.
 */
export async function stopGhostnode (proc: GhostnodeProcess, sig: NodeJS.Signals = 'SIGTERM', deadlineMs = DEFAULT_STOP_DEADLINE_MS): Promise<StopResult> {
  let forced = false
  if (proc.exit == null) {
    signal(proc.pid, sig)
    if (await exitsWithin(proc, deadlineMs) == null) {
      forced = true
      signal(proc.pid, 'SIGKILL')
      if (await exitsWithin(proc, KILL_WAIT_MS) == null) {
        throw new CommandFailedError(`stopping ${proc.name} (pid ${proc.pid})`, `still running ${KILL_WAIT_MS} ms after SIGKILL`)
      }
    }
  }
  return { name: proc.name, pid: proc.pid, exit: proc.exit as ProcessExit, forced }
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

async function exitsWithin (proc: GhostnodeProcess, ms: number): Promise<ProcessExit | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, ms) })
  try {
    return await Promise.race([proc.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** True while a process with this pid exists (signal 0 probes without signalling). */
export function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** The last lines of a log file, for error messages. */
export async function logTail (path: string, lines = 15): Promise<string> {
  try {
    return tail(await readFile(path, 'utf8'), lines)
  } catch {
    return '(no log)'
  }
}

function tail (text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}
