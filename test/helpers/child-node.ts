import { spawn } from 'node:child_process'
import { childEnv, GHOSTNODE_BIN, type ProcessExit } from '../../harness/testnet/node-process.js'

export interface ChildOutput { stdout: string, stderr: string }

/** A `ghostnode start` child process whose stdout and stderr are kept in memory. */
export interface ChildNode {
  readonly pid: number
  readonly dataDir: string
  /** Everything the process wrote, per stream (kept apart so lines never interleave). */
  readonly output: ChildOutput
  readonly exited: Promise<ProcessExit>
  exit?: ProcessExit
  peerId: string
  /** The TCP listen address, ending in /p2p/<peerId>. */
  addr: string
  httpUrl: string
}

export interface ChildNodeOptions {
  dataDir: string
  /** Arguments after `ghostnode start --data-dir <dataDir>`. */
  args: string[]
  /** Added to the environment (which never carries GHOSTNODE_*). */
  env?: Record<string, string>
  /** @default 20000 */
  startTimeoutMs?: number
}

/**
 * Spawns `ghostnode start` and resolves once it has printed its peer id, TCP
 * address and HTTP address (which it does after the node has started).
 */
export async function startChildNode (options: ChildNodeOptions): Promise<ChildNode> {
  const output: ChildOutput = { stdout: '', stderr: '' }
  const child = spawn(process.execPath, [GHOSTNODE_BIN, 'start', '--data-dir', options.dataDir, ...options.args], {
    env: { ...childEnv(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const node: Partial<ChildNode> & { output: ChildOutput, dataDir: string } = { output, dataDir: options.dataDir }
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      node.exit = { code, signal }
      resolve({ code, signal })
    })
    child.once('error', () => { if (child.pid == null) resolve({ code: null, signal: null }) })
  })
  Object.assign(node, { exited })

  let onData: () => void = () => {}
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stdout.on('data', (d: string) => { output.stdout += d; onData() })
  child.stderr.on('data', (d: string) => { output.stderr += d })

  const timeoutMs = options.startTimeoutMs ?? 20_000
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { done(new Error(`ghostnode start did not report its addresses within ${timeoutMs} ms:\n${tail(output.stdout + output.stderr)}`)) }, timeoutMs)
    let settled = false
    const done = (err?: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      onData = () => {}
      if (err != null) {
        child.kill('SIGKILL')
        reject(err)
      } else {
        resolve()
      }
    }
    onData = () => {
      const peerId = /^peer id: (\S+)$/m.exec(output.stdout)?.[1]
      const addr = /^listening: (\/ip4\/[^\s]+\/tcp\/\d+\/p2p\/\S+)$/m.exec(output.stdout)?.[1]
      const httpUrl = /^http: (http:\/\/\S+) /m.exec(output.stdout)?.[1]
      if (peerId != null && addr != null && httpUrl != null) {
        Object.assign(node, { peerId, addr, httpUrl })
        done()
      }
    }
    void exited.then((exit) => { done(new Error(`ghostnode start exited (${exit.signal ?? String(exit.code)}) before it was up:\n${tail(output.stdout + output.stderr)}`)) })
  })
  return Object.assign(node, { pid: child.pid as number }) as ChildNode
}

/** SIGTERM (or the given signal) and wait for the exit; SIGKILL if it takes longer than `deadlineMs`. */
export async function stopChildNode (node: ChildNode | undefined, sig: NodeJS.Signals = 'SIGTERM', deadlineMs = 12_000): Promise<ProcessExit | undefined> {
  if (node == null) return undefined
  if (node.exit != null) return node.exit
  try {
    process.kill(node.pid, sig)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err
  }
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, deadlineMs) })
  const exit = await Promise.race([node.exited, late])
  clearTimeout(timer)
  if (exit != null) return exit
  process.kill(node.pid, 'SIGKILL')
  return node.exited
}

function tail (text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}
