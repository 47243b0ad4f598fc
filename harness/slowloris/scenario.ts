import { setTimeout as sleep } from 'node:timers/promises'
import { startFlooder, stopFlooder, type FlooderProcess } from '../flood/flooder-process.js'
import { HonestLoad, type HonestLoadResult } from '../flood/honest-load.js'
import { fetchMetrics, metricValue } from '../flood/node-http.js'
import { startAttacker, stopAttacker, type AttackerOptions, type AttackerProcess } from './attacker-process.js'
import { RssSampler } from './rss-sampler.js'
import type { GhostnodeProcess } from '../lib/ghostnode-process.js'
import type { FlooderStats } from '../flood/flooder.js'
import type { AttackerStats } from './attacker.js'
import type { GhostClient } from '../../src/client/mailbox-client.js'

/**
 * The settings every slowloris run gives the relay besides its own: all the
 * attackers share 127.0.0.1, one /24, whose connection bucket (burst 20) would
 * otherwise refuse most of them before they could do anything. On the
 * internet an attacker with 20 identities on 20 prefixes meets no such limit.
 */
export const LOOPBACK_CONNECTION_SETTINGS = [
  'rateLimit.limits.connection.burst=1000',
  'rateLimit.limits.connection.ratePerSecond=100'
]

export interface PhaseOptions {
  /** An ECHO is due every this many ms. */
  honestIntervalMs: number
  honestTimeoutMs: number
  /** RSS from /proc every this many ms. */
  rssSampleMs: number
  /** /metrics (peak queued bytes) every this many ms. */
  metricsSampleMs: number
}

export interface PhaseFigures {
  honest: HonestLoadResult
  rssBytes: number[]
  /** Peak of ghostnode_onion_queued_bytes over the phase. */
  queuedPeakBytes: number
  /** Peak of ghostnode_memory_pressure (1 if the watchdog shed load during the phase). */
  pressureSeen: boolean
  /** /health/live requests that did not answer 200. */
  liveFailures: number
  elapsedMs: number
}

export interface AttackOptions extends PhaseOptions {
  attacker: Omit<AttackerOptions, 'target'>
  /** CREATE cells per second from one flooder process; 0 for none. */
  floodRate: number
  durationMs: number
}

export interface AttackFigures extends PhaseFigures {
  attacker?: AttackerStats
  flooder?: FlooderStats
  /** The relay's /metrics right after the attack. */
  metrics: string
}

/** The honest client's load for `durationMs`, with the relay's RSS and metrics sampled meanwhile. */
export async function runPhase (relay: GhostnodeProcess, client: GhostClient, options: PhaseOptions, durationMs: number): Promise<PhaseFigures> {
  const pid = relay.pid
  if (pid == null) throw new Error('the relay process has no pid')
  const rss = new RssSampler(pid, options.rssSampleMs)
  const load = new HonestLoad(client, { intervalMs: options.honestIntervalMs, timeoutMs: options.honestTimeoutMs })
  let queuedPeakBytes = 0
  let pressureSeen = false
  let liveFailures = 0
  const started = performance.now()
  rss.start()
  load.start()
  const end = Date.now() + durationMs
  while (Date.now() < end) {
    await sleep(Math.min(options.metricsSampleMs, Math.max(0, end - Date.now())))
    try {
      const text = await fetchMetrics(relay.httpUrl)
      queuedPeakBytes = Math.max(queuedPeakBytes, metricValue(text, 'ghostnode_onion_queued_bytes') ?? 0)
      pressureSeen ||= metricValue(text, 'ghostnode_memory_pressure') === 1
      const live = await fetch(`${relay.httpUrl}/health/live`, { signal: AbortSignal.timeout(5_000) })
      if (live.status !== 200) liveFailures++
    } catch {
      liveFailures++
    }
  }
  const honest = await load.stop()
  rss.stop()
  return { honest, rssBytes: rss.samples.map(s => s.rssBytes), queuedPeakBytes, pressureSeen, liveFailures, elapsedMs: performance.now() - started }
}

/**
 * The attack: a CREATE flooder process and a slowloris attacker process
 * (identities that stop reading their links, half-open TCP connections) start,
 * then the honest load runs for `durationMs` while both go on. Both are
 * stopped (and their final stats kept) before this returns.
 */
export async function runAttack (relay: GhostnodeProcess, client: GhostClient, options: AttackOptions): Promise<AttackFigures> {
  let flooder: FlooderProcess | undefined
  let attacker: AttackerProcess | undefined
  try {
    if (options.floodRate > 0) flooder = await startFlooder({ target: relay.addr, kind: 'create', rate: options.floodRate })
    attacker = await startAttacker({ target: relay.addr, ...options.attacker })
    const phase = await runPhase(relay, client, options, options.durationMs)
    const metrics = await fetchMetrics(relay.httpUrl)
    const attackerStats = await stopAttacker(attacker)
    attacker = undefined
    const flooderStats = flooder != null ? await stopFlooder(flooder) : undefined
    flooder = undefined
    return { ...phase, metrics, ...(attackerStats != null ? { attacker: attackerStats } : {}), ...(flooderStats != null ? { flooder: flooderStats } : {}) }
  } finally {
    if (attacker != null) await stopAttacker(attacker)
    if (flooder != null) await stopFlooder(flooder)
  }
}
