import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { trackPid, untrackPid } from './cleanup.js'
import { CommandFailedError } from './errors.js'

/** bin/ghostnode.js of this checkout (this file runs from dist/harness/testnet/). */
export const GHOSTNODE_BIN = fileURLToPath(new URL('../../../bin/ghostnode.js', import.meta.url))

/** Node's own shutdown deadline is 10 s (shutdownTimeoutMs); allow a little more before SIGKILL. */
export const DEFAULT_STOP_DEADLINE_MS = 12_000
const KILL_WAIT_MS = 5_000
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000

export interface ProcessExit { code: number | null, signal: NodeJS.Signals | null }

export function describeExit (exit: ProcessExit): string {
  return exit.signal != null ? `signal ${exit.signal}` : `code ${String(exit.code)}`
}

/**
 * The environment of testnet processes: the caller's, minus GHOSTNODE_*. A
 * stray GHOSTNODE_HTTP_PORT in the developer's shell would otherwise give
 * every node the same port; the testnet is defined by its flags alone.
 */
export function childEnv (): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GHOSTNODE_')))
}

/** argv that runs the ghostnode CLI, optionally under a prefix such as `ip netns exec NS`. */
function ghostnodeArgv (args: string[], wrap: string[] = []): [string, string[]] {
  const argv = [...wrap, process.execPath, GHOSTNODE_BIN, ...args]
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

export interface NodeProcessOptions {
  name: string
  dataDir: string
  /** Arguments after `ghostnode start`. */
  args: string[]
  /** Where stdout and stderr go. @default <dataDir>/node.log */
  logPath?: string
  wrap?: string[]
}

export interface NodeProcess {
  readonly name: string
  readonly pid: number
  readonly dataDir: string
  readonly logPath: string
  readonly pidPath: string
  /** Resolves when the process has exited (and been reaped). */
  readonly exited: Promise<ProcessExit>
  /** Set once the process has exited. */
  exit?: ProcessExit
}

/**
 * Starts `ghostnode start` as its own process, output appended to a log file.
 * The child gets its own process group (detached) so a Ctrl-C in the
 * launcher's terminal reaches only the launcher, which then stops each node
 * exactly once; a node seeing SIGINT from the terminal and SIGTERM from the
 * launcher would take the second signal as "force exit".
 */
export async function startNodeProcess (options: NodeProcessOptions): Promise<NodeProcess> {
  const logPath = options.logPath ?? join(options.dataDir, 'node.log')
  const pidPath = join(options.dataDir, 'node.pid')
  const [cmd, argv] = ghostnodeArgv(['start', ...options.args], options.wrap)
  const fd = openSync(logPath, 'a')
  let child: ChildProcess
  try {
    child = spawn(cmd, argv, { env: childEnv(), stdio: ['ignore', fd, fd], detached: true })
  } finally {
    closeSync(fd) // the child holds its own copy
  }
  const exitPromise = exitOf(child)
  const pid = await spawned(child, `${options.name}: ghostnode start`)
  trackPid(pid)
  const proc: NodeProcess = {
    name: options.name,
    pid,
    dataDir: options.dataDir,
    logPath,
    pidPath,
    exited: exitPromise.then((exit) => {
      proc.exit = exit
      untrackPid(pid)
      return exit
    })
  }
  await writeFile(pidPath, `${pid}\n`)
  return proc
}

export interface StopResult {
  name: string
  pid: number
  exit: ProcessExit
  /** SIGKILL was needed after the deadline. */
  forced: boolean
}

/** SIGTERM, wait up to the deadline, then SIGKILL; resolves once the process is gone. */
export async function stopNodeProcess (proc: NodeProcess, deadlineMs = DEFAULT_STOP_DEADLINE_MS): Promise<StopResult> {
  let forced = false
  if (proc.exit == null) {
    signal(proc.pid, 'SIGTERM')
    if (await exitsWithin(proc, deadlineMs) == null) {
      forced = true
      signal(proc.pid, 'SIGKILL')
      if (await exitsWithin(proc, KILL_WAIT_MS) == null) {
        throw new CommandFailedError(`stopping ${proc.name} (pid ${proc.pid})`, `still running ${KILL_WAIT_MS} ms after SIGKILL`)
      }
    }
  }
  await rm(proc.pidPath, { force: true })
  return { name: proc.name, pid: proc.pid, exit: proc.exit as ProcessExit, forced }
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
}

async function exitsWithin (proc: NodeProcess, ms: number): Promise<ProcessExit | undefined> {
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
    return (await readFile(path, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}
