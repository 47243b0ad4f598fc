import { spawn, type ChildProcess } from 'node:child_process'
import { trackPid, untrackPid } from './cleanup.js'
import { childEnv } from './ghostnode-process.js'

/** Output kept per child for error messages: the tail is what explains a failure. */
const MAX_KEPT_OUTPUT_CHARS = 64 * 1024
/** How long a child gets between SIGTERM and SIGKILL. */
export const DEFAULT_STOP_GRACE_MS = 5_000

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  /** Resolves with the exit code (or the signal name) once the child has exited. */
  readonly exited: Promise<number | string>
  /** Everything printed on stdout so far, up to the last 64 KiB. */
  stdout: () => string
  stderr: () => string
  /** Called with every complete stdout line. */
  onLine: (listener: (line: string) => void) => void
}

/**
 * Spawns `node <script> ...args` with this process's Node binary. Until it
 * exits it is tracked, so a run that ends without stopping it (an uncaught
 * error, mocha bailing out) still kills it and leaves no flooder behind.
 */
export async function spawnNode (name: string, script: string, args: string[]): Promise<Child> {
  const child = spawn(process.execPath, [script, ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      if (child.pid != null) untrackPid(child.pid)
      resolve(code ?? signal ?? 'unknown')
    })
  })
  let out = ''
  let err = ''
  let partial = ''
  const listeners: Array<(line: string) => void> = []
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out = (out + chunk).slice(-MAX_KEPT_OUTPUT_CHARS)
    partial += chunk
    const lines = partial.split('\n')
    partial = lines.pop() ?? ''
    for (const line of lines) for (const listener of listeners) listener(line)
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { err = (err + chunk).slice(-MAX_KEPT_OUTPUT_CHARS) })
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
  trackPid(child.pid as number)
  // later errors (a failed kill) surface through `exited`, not as an uncaught 'error'
  child.on('error', () => {})
  return { name, process: child, exited, stdout: () => out, stderr: () => err, onLine: (l) => { listeners.push(l) } }
}

/** SIGTERM, then SIGKILL after the grace period; resolves once the child is gone. */
export async function stopChild (child: Child, graceMs = DEFAULT_STOP_GRACE_MS): Promise<number | string> {
  if (child.process.exitCode != null || child.process.signalCode != null) return child.exited
  child.process.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      child.process.kill('SIGKILL')
      resolve()
    }, graceMs)
  })
  await Promise.race([child.exited, killed])
  clearTimeout(timer)
  return child.exited
}

/** Resolves with the first stdout line matching `pattern` (also one printed before the call). */
export async function waitForLine (child: Child, pattern: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  const seen = child.stdout().split('\n').map(l => l.match(pattern)).find(m => m != null)
  if (seen != null) return seen
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${child.name}: no line matching ${String(pattern)} within ${timeoutMs} ms\n${tail(child)}`)) }, timeoutMs)
    child.onLine((line) => {
      const m = line.match(pattern)
      if (m == null) return
      clearTimeout(timer)
      resolve(m)
    })
    void child.exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`${child.name} exited (${String(code)}) before printing ${String(pattern)}\n${tail(child)}`))
    })
  })
}

function tail (child: Child): string {
  const lines = (child.stdout() + '\n' + child.stderr()).trim().split('\n')
  return lines.slice(-15).join('\n')
}
