import { fileURLToPath } from 'node:url'
import { spawnNode, stopChild, waitForLine, type Child } from '../lib/children.js'
import { ATTACK_DEFAULTS } from './defaults.js'
import type { AttackerStats } from './attacker.js'

/** The compiled attacker script (this file runs from dist/harness/slowloris/). */
export const ATTACKER_SCRIPT = fileURLToPath(new URL('./attacker.js', import.meta.url))

export interface AttackerOptions {
  target: string
  /** @default 20 */
  identities?: number
  /** Link streams per identity. @default 4 */
  links?: number
  /** Circuits per link. @default 4 */
  circuits?: number
  /** @default 65536 */
  bodyBytes?: number
  /** Per identity. @default 400 */
  cellsPerSecond?: number
  /** Per identity. @default 50 */
  partialsPerSecond?: number
  /** @default 16 */
  halfOpen?: number
  /** How long the identities may take to connect and build their circuits. @default 30000 */
  readyTimeoutMs?: number
}

export interface AttackerProcess {
  readonly child: Child
  /** The attacking identities' peer ids. */
  readonly peerIds: string[]
  latest: () => AttackerStats | undefined
}

/** Spawns the attacker and resolves once every identity holds its links and has stopped reading. */
export async function startAttacker (options: AttackerOptions): Promise<AttackerProcess> {
  const args = [
    '--target', options.target,
    '--identities', String(options.identities ?? ATTACK_DEFAULTS.identities),
    '--links', String(options.links ?? ATTACK_DEFAULTS.links),
    '--circuits', String(options.circuits ?? ATTACK_DEFAULTS.circuits),
    '--body-bytes', String(options.bodyBytes ?? ATTACK_DEFAULTS.bodyBytes),
    '--cells-per-second', String(options.cellsPerSecond ?? ATTACK_DEFAULTS.cellsPerSecond),
    '--partials-per-second', String(options.partialsPerSecond ?? ATTACK_DEFAULTS.partialsPerSecond),
    '--half-open', String(options.halfOpen ?? ATTACK_DEFAULTS.halfOpen)
  ]
  const child = await spawnNode('slowloris attacker', ATTACKER_SCRIPT, args)
  let latest: AttackerStats | undefined
  child.onLine((line) => {
    try {
      const parsed = JSON.parse(line) as { event?: string }
      if (parsed.event === 'stats') latest = parsed as AttackerStats
    } catch {}
  })
  try {
    const [line] = await waitForLine(child, /^\{"event":"ready".*$/, options.readyTimeoutMs ?? 30_000)
    const ready = JSON.parse(line) as { peerIds: string[] }
    return { child, peerIds: ready.peerIds, latest: () => latest }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/** SIGTERM; the attacker prints its final stats and exits. */
export async function stopAttacker (attacker: AttackerProcess): Promise<AttackerStats | undefined> {
  await stopChild(attacker.child, 10_000)
  return attacker.latest()
}
