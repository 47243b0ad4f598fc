import { fileURLToPath } from 'node:url'
import { spawnNode, stopChild, waitForLine, type Child } from '../lib/children.js'
import type { FloodKind, FlooderStats } from './flooder.js'

/** The compiled flooder script (this file runs from dist/harness/flood/). */
export const FLOODER_SCRIPT = fileURLToPath(new URL('./flooder.js', import.meta.url))
const READY_TIMEOUT_MS = 15_000

export interface FlooderOptions {
  /** The relay's multiaddr, ending in /p2p/<peer id>. */
  target: string
  /** @default 'create' */
  kind?: FloodKind
  /** Cells per second. @default 2000 */
  rate?: number
  /** Stop after this long; 0 = until stopped. @default 0 */
  seconds?: number
  /** @default 250 */
  reportMs?: number
  /** Push a node record the flooder signed itself before flooding (it must buy no budget). @default false */
  pushRecord?: boolean
}

export interface FlooderProcess {
  readonly child: Child
  /** The flooder's libp2p peer id: how the relay knows it. */
  readonly peerId: string
  /** The latest stats line (the final one once the flooder has stopped). */
  latest: () => FlooderStats | undefined
}

/** Spawns the flooder as its own Node process and resolves once its link to the relay is open. */
export async function startFlooder (options: FlooderOptions): Promise<FlooderProcess> {
  const args = [
    '--target', options.target,
    '--kind', options.kind ?? 'create',
    '--rate', String(options.rate ?? 2000),
    '--seconds', String(options.seconds ?? 0),
    '--report-ms', String(options.reportMs ?? 250),
    ...(options.pushRecord === true ? ['--push-record'] : [])
  ]
  const child = await spawnNode('flooder', FLOODER_SCRIPT, args)
  let latest: FlooderStats | undefined
  child.onLine((line) => {
    try {
      const parsed = JSON.parse(line) as { event?: string }
      if (parsed.event === 'stats') latest = parsed as FlooderStats
    } catch {}
  })
  try {
    const [, peerId] = await waitForLine(child, /^\{"event":"ready","peerId":"([^"]+)"/, READY_TIMEOUT_MS)
    return { child, peerId, latest: () => latest }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/** Stops the flooder (SIGTERM: it prints its final stats) and returns them. */
export async function stopFlooder (flooder: FlooderProcess): Promise<FlooderStats | undefined> {
  await stopChild(flooder.child)
  return flooder.latest()
}
