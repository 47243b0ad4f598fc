import { multiaddr } from '@multiformats/multiaddr'
import { inBackground } from './background.js'
import { judgeAddress } from './membership/address-policy.js'
import type { NodeLogger } from './logging/logger.js'

/** What the reporter reads from the running node (each call cheap: it polls every second). */
export interface ReportSources {
  uptimeSeconds: () => number
  /** How many bootstrap peers are configured, and how many of them are connected. */
  bootstrap: () => { configured: number, connected: number }
  connectedPeers: () => number
  directoryRecords: () => number
  swarm: () => { members: number, ready: boolean }
  circuits: () => number
  cellsRelayed: () => number
  storedMessages: () => number
  memory: () => { rssBytes: number, maxRssBytes: number, pressure: boolean }
  /** The multiaddrs the node announces (or listens on, when it announces none). */
  addresses: () => string[]
  /** Swarm writes that did not reach every replica, so far. */
  replicationFailures: () => Promise<number>
  onBan: (listener: (peer: string, bannedUntil: number) => void) => () => void
  /** Peers banned now, with why (a violation, or 'operator'). */
  bans: () => Array<{ peer: string, reason: string }>
  onRotate: (listener: (epoch: number) => void) => () => void
  reachability: () => { status: string, reached: string[], answeredBy: number }
}

const POLL_MS = 1_000
/** How long bootstrap may take before a warning says no bootstrap peer answers. */
const BOOTSTRAP_WARN_MS = 30_000
/** Replication failures are summed and logged at most this often, never one line per message. */
const REPLICATION_REPORT_MS = 60_000

/**
 * The node's operator-facing log lines: bootstrap progress (peers reached of
 * configured, directory records, swarm readiness) as it happens, bans, memory
 * pressure entered and left, onion key rotation, replication failures (summed
 * per minute), a warning for private-only addresses, and a heartbeat.
 */
export class NodeReporter {
  private readonly sources: ReportSources
  private readonly log: NodeLogger
  private readonly heartbeatMs: number
  private readonly now: () => number
  private timers: Array<ReturnType<typeof setInterval>> = []
  private unsubscribe: Array<() => void> = []
  private startedAt = 0
  private last = { bootstrapConnected: -1, directoryRecords: -1, swarmReady: false, pressure: false, warnedBootstrap: false, reachability: 'unknown' }
  private cellsAtLastHeartbeat = 0
  private replicationSeen = 0
  /** Peers this reporter saw banned, to say when each ban ends (ran out or lifted). */
  private readonly banned = new Set<string>()

  constructor (sources: ReportSources, log: NodeLogger, options: { heartbeatMs: number, now?: () => number }) {
    this.sources = sources
    this.log = log
    this.heartbeatMs = options.heartbeatMs
    this.now = options.now ?? Date.now
  }

  start (): void {
    this.startedAt = this.now()
    const addrs = this.sources.addresses()
    if (addrs.length > 0 && addrs.every(a => judgeAddress(multiaddr(a), { allowPrivate: false }) !== 'ok')) {
      this.log.warn(`this node announces only private or unspecified addresses (${addrs.join(' ')}): peers outside this network cannot dial it; set announce to its public address`, { addresses: addrs.join(' ') })
    }
    this.unsubscribe.push(this.sources.onBan((peer, until) => {
      const reason = this.sources.bans().find(b => b.peer === peer)?.reason ?? 'unknown'
      const why = reason === 'operator' ? 'by the operator' : `after ${reason} took its reputation to the ban threshold`
      this.banned.add(peer)
      this.log.info(`peer ${peer} banned until ${new Date(until).toISOString()}, ${why}`, { peer, until: new Date(until).toISOString(), reason })
    }))
    this.unsubscribe.push(this.sources.onRotate((epoch) => {
      this.log.info(`onion key rotated: epoch ${epoch} is current`, { epoch })
    }))
    this.poll()
    this.timers.push(setInterval(() => { this.poll() }, POLL_MS))
    this.timers.push(setInterval(() => { inBackground('replication report', this.reportReplication()) }, REPLICATION_REPORT_MS))
    if (this.heartbeatMs > 0) this.timers.push(setInterval(() => { this.heartbeat() }, this.heartbeatMs))
    for (const t of this.timers) t.unref?.()
  }

  stop (): void {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    for (const u of this.unsubscribe) u()
    this.unsubscribe = []
  }

  /** Bootstrap progress and state changes, logged when they change. */
  private poll (): void {
    const b = this.sources.bootstrap()
    if (b.configured > 0 && b.connected !== this.last.bootstrapConnected) {
      this.last.bootstrapConnected = b.connected
      this.log.info(`bootstrap: ${b.connected} of ${b.configured} bootstrap peers reached`, { connected: b.connected, configured: b.configured })
    }
    if (b.configured > 0 && b.connected === 0 && !this.last.warnedBootstrap && this.now() - this.startedAt >= BOOTSTRAP_WARN_MS) {
      this.last.warnedBootstrap = true
      this.log.warn(`no bootstrap peer reachable after ${BOOTSTRAP_WARN_MS / 1000} s: check the bootstrap addresses and outbound connectivity; retrying with backoff`, { configured: b.configured })
    }
    const records = this.sources.directoryRecords()
    if (records !== this.last.directoryRecords) {
      this.last.directoryRecords = records
      this.log.info(`directory: ${records} relay record(s)`, { records })
    }
    const swarm = this.sources.swarm()
    if (swarm.ready !== this.last.swarmReady) {
      this.last.swarmReady = swarm.ready
      if (swarm.ready) this.log.info(`swarm ready: holds its mailboxes, ring of ${swarm.members} member(s)`, { members: swarm.members })
      else this.log.info('swarm not ready: pulling the mailboxes it now holds', { members: swarm.members })
    }
    if (this.banned.size > 0) {
      const still = new Set(this.sources.bans().map(b => b.peer))
      for (const peer of this.banned) {
        if (still.has(peer)) continue
        this.banned.delete(peer)
        this.log.info(`peer ${peer} is no longer banned (the ban ran out or an operator lifted it)`, { peer })
      }
    }
    const reach = this.sources.reachability()
    if (reach.status !== this.last.reachability) {
      this.last.reachability = reach.status
      if (reach.status === 'reachable') this.log.info(`reachability: peers dialled this node back at ${reach.reached.join(' ')} (${reach.answeredBy} peer(s) tested)`, { reached: reach.reached.join(' '), answeredBy: reach.answeredBy })
      else if (reach.status === 'unreachable') this.log.warn(`reachability: none of ${reach.answeredBy} peer(s) could dial this node's announced addresses back; check the firewall or port forwarding, and announce`, { answeredBy: reach.answeredBy })
    }
    const memory = this.sources.memory()
    if (memory.pressure !== this.last.pressure) {
      this.last.pressure = memory.pressure
      const fields = { rssMiB: mib(memory.rssBytes), maxRssMiB: mib(memory.maxRssBytes) }
      if (memory.pressure) this.log.warn(`memory pressure: RSS ${fields.rssMiB} MiB of a ${fields.maxRssMiB} MiB bound; shedding the biggest holders and refusing new circuits, links and connections`, fields)
      else this.log.info(`memory pressure over: RSS ${fields.rssMiB} MiB; accepting new circuits, links and connections again`, fields)
    }
  }

  private async reportReplication (): Promise<void> {
    const total = await this.sources.replicationFailures()
    const failed = total - this.replicationSeen
    this.replicationSeen = total
    if (failed > 0) this.log.warn(`swarm replication: ${failed} write(s) did not reach every replica in the last ${REPLICATION_REPORT_MS / 1000} s (anti-entropy repairs them)`, { failed })
  }

  private heartbeat (): void {
    const cells = this.sources.cellsRelayed()
    const memory = this.sources.memory()
    const fields = {
      uptimeS: Math.round(this.sources.uptimeSeconds()),
      peers: this.sources.connectedPeers(),
      circuits: this.sources.circuits(),
      cellsRelayed: cells,
      cellsSinceLast: cells - this.cellsAtLastHeartbeat,
      storedMessages: this.sources.storedMessages(),
      rssMiB: mib(memory.rssBytes)
    }
    this.cellsAtLastHeartbeat = cells
    this.log.info(`heartbeat: up ${formatUptime(fields.uptimeS)}, ${fields.peers} peers, ${fields.circuits} circuits, ${fields.cellsSinceLast} cells relayed since the last heartbeat (${cells} in all), ${fields.storedMessages} stored messages, RSS ${fields.rssMiB} MiB`, fields)
  }
}

function mib (bytes: number): number {
  return Math.round(bytes / 1048576)
}

function formatUptime (seconds: number): string {
  const d = Math.floor(seconds / 86_400)
  const h = Math.floor((seconds % 86_400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  return d > 0 ? `${d}d ${h}h` : h > 0 ? `${h}h ${m}m` : `${m}m ${seconds % 60}s`
}
