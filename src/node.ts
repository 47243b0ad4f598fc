import type { Registry } from 'prom-client'
import { AddressInUseError, addressesInUse, NodeClosedError } from './errors.js'
import { configKeys, envNameForKey } from './config/schema.js'
import { peerIdFromString } from '@libp2p/peer-id'
import { VERSION } from './version.js'
import { MemberFlag } from './membership/constants.js'
import type { GhostnodeConfig } from './config/defaults.js'
import type { ReplayFilter } from './crypto/replay-filter.js'
import type { Bootstrapper } from './discovery/bootstrapper.js'
import type { ReachabilityService, ReachabilityState } from './discovery/reachability.js'
import type { PeerConnector } from './discovery/peer-connector.js'
import type { MemorySample, MemoryWatchdog } from './memory/watchdog.js'
import { HttpServer } from './metrics/http-server.js'
import type { NodeMetrics } from './metrics/node-metrics.js'
import type { DirectoryService } from './directory/directory.js'
import type { ExitHandlerRegistry } from './onion/exit.js'
import type { LinkManager } from './onion/link-manager.js'
import type { OnionKeyManager } from './onion/onion-keys.js'
import type { MembershipService } from './membership/service.js'
import type { OnionRelay } from './onion/relay.js'
import type { RateLimiter } from './ratelimit/limiter.js'
import type { ConnectionSlotsService } from './ratelimit/connection-slots-service.js'
import type { ScoreStore } from './ratelimit/score-store.js'
import type { SwarmService } from './swarm/service.js'
import type { MessageStore } from './swarm/store/store.js'
import type { Identify } from '@libp2p/identify'
import type { PeerId } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { LevelDatastore } from 'datastore-level'
import type { DataDirLock } from './identity/data-dir.js'
import type { NodeLogger } from './logging/logger.js'
import type { BanSummary } from './ratelimit/reputation.js'
import { NodeReporter, type ReportSources } from './node-report.js'
import type { Libp2p } from 'libp2p'

export interface GhostServices extends Record<string, unknown> {
  identify: Identify
  ping: Ping
  dht: KadDHT
  bootstrap: Bootstrapper
  reachability: ReachabilityService
  connector: PeerConnector
  onionKeys: OnionKeyManager
  membership: MembershipService
  directory: DirectoryService
  links: LinkManager
  slots: ConnectionSlotsService
  swarm: SwarmService
}

export interface GhostnodeOptions {
  /** The operator's log. @default silent (the CLI's start passes one built from log.*) */
  logger?: NodeLogger
  /**
   * Register libp2p's own metrics (@libp2p/prometheus-metrics). That module
   * keeps process-wide state, so only one node per process should enable it.
   * @default config.http.enabled
   */
  libp2pMetrics?: boolean
  /** Clock for uptime, keys, records and limits. @default Date.now */
  now?: () => number
  /**
   * Refuses connections to and from the peers for which it returns true (dials
   * and inbound handshakes), on top of the rate limiter's bans. A test hook:
   * the partition tests split in-process nodes with it, without root.
   */
  denyPeer?: (peer: PeerId) => boolean
  /** What the memory watchdog samples; tests put the node under pressure with it. @default process.memoryUsage */
  memorySample?: () => MemorySample
}

/** Everything compose.ts assembles; the node owns and closes all of it. */
export interface NodeParts {
  config: GhostnodeConfig
  /** The data dir's lock, released last. */
  lock: DataDirLock
  libp2p: Libp2p<GhostServices>
  datastore: LevelDatastore
  registry: Registry
  metrics: NodeMetrics
  relay: OnionRelay
  exits: ExitHandlerRegistry
  replay: ReplayFilter
  limiter: RateLimiter
  scores: ScoreStore
  /** Swarm mailboxes (LevelDB); closed after libp2p stops so nothing acknowledged is lost. */
  store: MessageStore
  /** Keeps RSS under memory.maxRssBytes (sheds load near it). */
  memory: MemoryWatchdog
  /** The operator's log (silent unless the caller gives one: the CLI does). */
  logger: NodeLogger
  /** The token of http.adminTokenFile, when one is configured. */
  adminToken?: string
  now: () => number
}

/** A part the node starts and stops (in the order of Ghostnode's lifecycle, stopped in reverse). */
interface LifecyclePart {
  name: string
  start: () => void | Promise<void>
  stop: () => void | Promise<void>
}

export type NodeState = 'stopped' | 'starting' | 'running' | 'stopping'

export interface NodeHealth extends Record<string, unknown> {
  status: 'ok' | 'starting' | 'degraded' | 'stopping' | 'stopped'
  version: string
  peerId: string
  uptimeSeconds: number
  connectedPeers: number
  ready: boolean
  addrs: string[]
  circuits: number
  directoryRecords: number
  /** Members of the swarm ring this node sees (itself included). */
  swarmMembers: number
  /** Swarm messages stored on this node. */
  swarmRecords: number
  /**
   * The memory watchdog's view: RSS at its last sample, the bound, and whether
   * it is shedding load (refusing new circuits, links and connections). A node
   * under pressure still serves its circuits, so it stays ready.
   */
  memory: { rssBytes: number, maxRssBytes: number, pressure: boolean }
  /**
   * The network's membership as this node sees it: the period of the document
   * in force (-1: none), its members, whether this node is one of them (and
   * with which flags), and whether it is one of the network's authorities.
   */
  membership: { period: number, members: number, admitted: boolean, flags: string[], authority: boolean }
  /** Whether peers could dial this node's announced addresses back (the self-test). */
  reachability: ReachabilityState
  /** Why the node is not ready, in words an operator can act on (empty when ready). */
  reasons: string[]
  /** What is wrong although the node is ready (memory pressure, an empty directory, a swarm still pulling). */
  warnings: string[]
}

/** What reload() did: the keys it applied, and the changed ones that need a restart. */
export interface ConfigReload {
  applied: string[]
  restartNeeded: string[]
}

/** Config keys a running node applies without a restart. */
export const LIVE_CONFIG_KEYS: readonly string[] = ['rateLimit.limits.*', 'rateLimit.reputation.tiers.*', 'memory.highWatermark', 'memory.lowWatermark', 'bootstrap', 'log.level', 'log.format']

function isLiveKey (key: string): boolean {
  return LIVE_CONFIG_KEYS.some(live => live.endsWith('.*') ? key.startsWith(live.slice(0, -1)) : key === live)
}

/** The value at a dotted leaf key (`memory.highWatermark`). */
function leafOf (config: GhostnodeConfig, key: string): unknown {
  let value: unknown = config
  for (const part of key.split('.')) value = (value as Record<string, unknown> | undefined)?.[part]
  return value
}

function setLeaf (config: GhostnodeConfig, key: string, value: unknown): void {
  const parts = key.split('.')
  let parent = config as unknown as Record<string, unknown>
  for (const part of parts.slice(0, -1)) parent = parent[part] as Record<string, unknown>
  parent[parts[parts.length - 1]] = value
}

/** Every leaf key's value, as JSON, for comparing two configs. */
function flatConfig (config: GhostnodeConfig): Map<string, string> {
  return new Map(configKeys().map(key => [key, JSON.stringify(leafOf(config, key))]))
}

/** One swarm member (`/members`, `ghostnode members`). */
export interface SwarmMemberInfo {
  peer: string
  self: boolean
  connected: boolean
  /** Epoch ms this node last heard from it (null: never since this node started keeping scores). */
  lastSeen: number | null
  /** 'ready' once this node's last pull included this member (for itself: pulled from every member), else 'pulling'. */
  sync: 'ready' | 'pulling'
}

export interface PeerConnectionInfo {
  peerId: string
  addr: string
  direction: string
  encryption?: string
  muxer?: string
  openedAt: number
  streams: number
  score: number
  tier: string
  bannedUntil: number | null
}

/** The protocol id the DHT speaks under the configured private prefix. */
export function dhtProtocol (prefix: string): string {
  return `${prefix}/kad/1.0.0`
}

/**
 * One running relay. Build it with createGhostnode() (compose.ts), then
 * start() and stop(): both idempotent, and stop waits for a start in flight.
 */
export class Ghostnode {
  /** The config in force (replaced by reload()). */
  get config (): GhostnodeConfig { return this.current }
  private current: GhostnodeConfig
  readonly libp2p: Libp2p<GhostServices>
  readonly registry: Registry
  readonly metrics: NodeMetrics
  readonly relay: OnionRelay
  readonly exits: ExitHandlerRegistry
  readonly limiter: RateLimiter
  private readonly parts: NodeParts
  private readonly http?: HttpServer
  /** What start() starts, in this order; stop() stops it in reverse, then closes storage. */
  private readonly lifecycle: LifecyclePart[]
  private state: NodeState = 'stopped'
  private startedAt = 0
  private transition: Promise<void> = Promise.resolve()
  private closed = false

  constructor (parts: NodeParts) {
    this.parts = parts
    this.current = parts.config
    this.libp2p = parts.libp2p
    this.registry = parts.registry
    this.metrics = parts.metrics
    this.relay = parts.relay
    this.exits = parts.exits
    this.limiter = parts.limiter
    parts.libp2p.addEventListener('connection:open', (evt) => {
      parts.metrics.connectionsOpened.inc({ direction: evt.detail.direction })
    })
    // one peer per line, never what it carries
    parts.libp2p.addEventListener('peer:connect', (evt) => {
      parts.logger.debug(`peer connected: ${evt.detail.toString()} (${this.libp2p.getPeers().length} connected)`, { peer: evt.detail.toString() })
    })
    parts.libp2p.addEventListener('peer:disconnect', (evt) => {
      parts.logger.debug(`peer disconnected: ${evt.detail.toString()} (${this.libp2p.getPeers().length} connected)`, { peer: evt.detail.toString() })
    })
    parts.metrics.observe({
      connectedPeers: () => this.libp2p.getPeers().length,
      openConnections: () => this.libp2p.getConnections().length,
      ready: () => this.isReady(),
      uptimeSeconds: () => this.uptimeSeconds(),
      connectedPeerTiers: () => this.libp2p.getPeers().map(peer => this.limiter.reputation.tier(peer.toString())),
      reachability: () => this.libp2p.services.reachability.state.status
    })
    if (parts.config.http.enabled) {
      this.http = new HttpServer({
        host: parts.config.http.host,
        port: parts.config.http.port,
        ...(parts.adminToken != null ? { adminToken: parts.adminToken } : {}),
        registry: parts.registry,
        source: {
          health: () => this.health(),
          ready: () => this.isReady(),
          peers: () => this.peers(),
          bans: () => this.bans(),
          members: () => this.members(),
          ban: (peer, durationMs) => this.ban(peer, durationMs),
          unban: (peer) => this.unban(peer)
        }
      })
    }
    const http = this.http
    const reporter = new NodeReporter(this.reportSources(), parts.logger, { heartbeatMs: parts.config.log.heartbeatMs, now: parts.now })
    this.lifecycle = [
      // the cell handler is in place before libp2p.start() registers the link protocol:
      // a cell arriving the moment a link opens is handled, not dropped
      { name: 'relay', start: () => { parts.relay.start() }, stop: () => { parts.relay.stop() } },
      // the libp2p services, in their declared order (membership, directory, links, swarm...), then their afterStart
      {
        name: 'libp2p',
        start: async () => {
          try {
            await parts.libp2p.start()
          } catch (err) {
            const taken = addressesInUse(err)
            if (taken.length > 0) throw new AddressInUseError(taken.join(', '), `listen (--listen, ${envNameForKey('listen')})`, { cause: err })
            throw err
          }
        },
        stop: async () => { await parts.libp2p.stop() }
      },
      { name: 'memory watchdog', start: () => { parts.memory.start() }, stop: () => { parts.memory.stop() } },
      { name: 'store sweeper', start: () => { parts.store.startSweeper(parts.config.swarm.sweepIntervalMs) }, stop: async () => { await parts.store.stopSweeper() } },
      ...(http !== undefined ? [{ name: 'http', start: async () => { await http.start() }, stop: async () => { await http.stop() } }] : []),
      { name: 'reporter', start: () => { reporter.start() }, stop: () => { reporter.stop() } }
    ]
  }

  /** What the operator's log reports on, read from the running parts. */
  private reportSources (): ReportSources {
    const p = this.parts
    const services = this.libp2p.services
    return {
      uptimeSeconds: () => this.uptimeSeconds(),
      bootstrap: () => {
        // polled every second: a look-up per bootstrap peer, not a printed id per connection
        const peers = services.bootstrap.peers()
        return { configured: peers.length, connected: peers.filter(id => this.libp2p.getConnections(id).length > 0).length }
      },
      connectedPeers: () => this.libp2p.getPeers().length,
      directoryRecords: () => services.directory.size,
      swarm: () => ({ members: this.swarm.membership.ring.size, ready: this.swarm.sync.ready }),
      circuits: () => this.relay.circuitCount,
      cellsRelayed: () => this.relay.cellsRelayed,
      storedMessages: () => p.store.isOpen ? p.store.stats().records : 0,
      memory: () => ({ rssBytes: p.memory.rssBytes, maxRssBytes: p.memory.maxRssBytes, pressure: p.memory.underPressure }),
      addresses: () => this.current.announce.length > 0 ? [...this.current.announce] : this.libp2p.getMultiaddrs().map(String),
      replicationFailures: async () => (await this.swarm.metrics.replicationFailures.get()).values.reduce((sum, v) => sum + v.value, 0),
      onBan: (listener) => this.limiter.reputation.onBan(listener),
      bans: () => this.limiter.reputation.bans(),
      onRotate: (listener) => services.onionKeys.onRotate((key) => { listener(key.epoch) }),
      reachability: () => services.reachability.state
    }
  }

  get peerId (): PeerId {
    return this.libp2p.peerId
  }

  /** The swarm member and coordinator (ring, node-to-node protocol, anti-entropy). */
  get swarm (): SwarmService {
    return this.libp2p.services.swarm
  }

  get status (): NodeState {
    return this.state
  }

  async start (): Promise<void> {
    this.transition = this.transition.then(async () => {
      if (this.closed) throw new NodeClosedError()
      if (this.state !== 'stopped') return
      this.state = 'starting'
      try {
        for (const part of this.lifecycle) await part.start()
        this.startedAt = this.parts.now()
        this.state = 'running'
      } catch (err) {
        await this.shutdown()
        throw err
      }
    })
    await this.transition
  }

  /** Stops accepting (HTTP, listeners), closes circuits and connections, flushes and closes storage. */
  async stop (): Promise<void> {
    this.transition = this.transition.catch(() => {}).then(async () => {
      if (this.state === 'stopped' && this.closed) return
      await this.shutdown()
    })
    await this.transition
  }

  private async shutdown (): Promise<void> {
    this.state = 'stopping'
    const p = this.parts
    try {
      // the reverse of the start order; each part's stop is safe when it never started
      for (const part of [...this.lifecycle].reverse()) await part.stop()
    } finally {
      // storage closes even if the network side failed, so nothing acknowledged is lost
      await Promise.allSettled([p.replay.close(), p.scores.close(), p.store.close()])
      p.limiter.dispose()
      await p.datastore.close()
      await p.lock.close()
      this.closed = true
      this.state = 'stopped'
    }
  }

  /**
   * Applies a new config to the running node (SIGHUP): the keys that can
   * change live take effect at once (rate limits, memory watermarks, the
   * bootstrap list); any other key that differs is reported as needing a
   * restart and keeps its running value (log.level and log.format are live
   * too). The caller has validated `next`
   * (loadConfig / checkConfig).
   */
  reload (next: GhostnodeConfig): ConfigReload {
    const before = flatConfig(this.current)
    const after = flatConfig(next)
    const changed = configKeys().filter(key => before.get(key) !== after.get(key))
    const applied = changed.filter(isLiveKey)
    const restartNeeded = changed.filter(key => !isLiveKey(key))
    if (applied.some(key => key.startsWith('rateLimit.limits.'))) this.limiter.setLimits(next.rateLimit.limits)
    if (applied.some(key => key.startsWith('rateLimit.reputation.tiers.'))) this.limiter.reputation.setTiers(next.rateLimit.reputation.tiers)
    if (applied.some(key => key.startsWith('memory.'))) this.parts.memory.setWatermarks(next.memory.highWatermark, next.memory.lowWatermark)
    if (applied.includes('bootstrap')) this.libp2p.services.bootstrap.setList(next.bootstrap)
    if (applied.some(key => key.startsWith('log.'))) this.parts.logger.reconfigure({ level: next.log.level, format: next.log.format })
    // the running config: the new values of what was applied, the old ones of the rest
    const running = structuredClone(this.current)
    for (const key of applied) setLeaf(running, key, structuredClone(leafOf(next, key)))
    this.current = running
    return { applied, restartNeeded }
  }

  getMultiaddrs (): Multiaddr[] {
    return this.libp2p.getMultiaddrs()
  }

  /** The HTTP endpoint's bound address, when enabled and running. */
  httpAddress (): { host: string, port: number } | undefined {
    return this.http?.address()
  }

  /** Listening, and connected to a peer whenever bootstrap peers are configured. */
  isReady (): boolean {
    if (this.state !== 'running' || this.libp2p.getMultiaddrs().length === 0) return false
    return this.config.bootstrap.length === 0 || this.libp2p.getPeers().length > 0
  }

  uptimeSeconds (): number {
    return this.state === 'running' ? Math.max(0, (this.parts.now() - this.startedAt) / 1000) : 0
  }

  health (): NodeHealth {
    const ready = this.isReady()
    const status = this.state === 'running' ? (ready ? 'ok' : 'degraded') : this.state
    const { reasons, warnings } = this.diagnose()
    return {
      status,
      version: VERSION,
      peerId: this.peerId.toString(),
      uptimeSeconds: Math.round(this.uptimeSeconds()),
      connectedPeers: this.libp2p.getPeers().length,
      ready,
      addrs: this.getMultiaddrs().map(ma => ma.toString()),
      circuits: this.relay.circuitCount,
      directoryRecords: this.state === 'running' ? this.libp2p.services.directory.size : 0,
      swarmMembers: this.state === 'running' ? this.swarm.membership.ring.size : 0,
      swarmRecords: this.parts.store.isOpen ? this.parts.store.stats().records : 0,
      memory: { rssBytes: this.parts.memory.rssBytes, maxRssBytes: this.parts.memory.maxRssBytes, pressure: this.parts.memory.underPressure },
      membership: this.membershipHealth(),
      reachability: this.libp2p.services.reachability.state,
      reasons,
      warnings
    }
  }

  /** The reasons behind isReady() being false, and what is wrong while it is true. */
  private diagnose (): { reasons: string[], warnings: string[] } {
    const reasons: string[] = []
    const warnings: string[] = []
    if (this.state !== 'running') {
      reasons.push(`the node is ${this.state}`)
      return { reasons, warnings }
    }
    if (this.libp2p.getMultiaddrs().length === 0) reasons.push('not listening on any address (see the listen key)')
    const bootstrap = this.config.bootstrap.length
    if (bootstrap > 0 && this.libp2p.getPeers().length === 0) {
      reasons.push(`no bootstrap peer reachable (0 connected of ${bootstrap} configured): check the bootstrap addresses and this host's outbound connectivity`)
    }
    if (this.parts.memory.underPressure) {
      warnings.push(`memory pressure: RSS ${mib(this.parts.memory.rssBytes)} of ${mib(this.parts.memory.maxRssBytes)}; new circuits, links and connections are refused until it falls`)
    }
    if (bootstrap > 0 && this.libp2p.services.directory.size === 0) warnings.push('directory empty: no relay records fetched yet, so no circuit can be built through this node\'s view')
    if (this.libp2p.services.reachability.state.status === 'unreachable') {
      warnings.push('unreachable: no peer could dial this node\'s announced addresses back; check the firewall or port forwarding, and announce')
    }
    if (this.swarm.membership.ring.size > 0 && !this.swarm.sync.ready) {
      const p = this.swarm.sync.pullProgress
      const where = p.pulling
        ? ` (${p.done} of ${p.members} asked answered, ${p.failed} unreachable${p.lastError !== undefined ? ` (last: ${p.lastError})` : ''}, ${Math.round(p.elapsedMs / 1000)} s${p.restarts > 0 ? `, restarted ${p.restarts}× as the ring changed` : ''})`
        : ''
      warnings.push(`swarm not ready: still pulling the mailboxes it now holds from the other members${where}`)
    }
    return { reasons, warnings }
  }

  private membershipHealth (): NodeHealth['membership'] {
    const m = this.libp2p.services.membership
    const flags = m.view.flags(this.peerId.toString())
    return {
      period: m.view.period,
      members: m.view.size,
      admitted: m.view.isMember(this.peerId.toString()),
      flags: Object.entries(MemberFlag).filter(([, bit]) => (flags & bit) !== 0).map(([name]) => name.toLowerCase()),
      authority: m.isAuthority
    }
  }

  /** Peers banned now: why and until when (`/bans`, `ghostnode bans`). */
  bans (): BanSummary[] {
    return this.limiter.reputation.bans()
  }

  /** Bans `peer` for `durationMs` (operator action): its connections are closed and it is refused until then. */
  ban (peer: string, durationMs: number): BanSummary {
    peerIdFromString(peer) // throws on something that is not a peer id
    this.limiter.reputation.ban(peer, durationMs)
    return this.bans().find(b => b.peer === peer) as BanSummary
  }

  /** Lifts a ban (operator action); false when the peer was not banned. */
  unban (peer: string): boolean {
    return this.limiter.reputation.unban(peer)
  }

  /**
   * The swarm's members as this node sees them: the membership document's SWARM
   * members on its ring, whether each is connected now and when it was last
   * heard from (its reputation record), and whether this node holds its share.
   */
  members (): SwarmMemberInfo[] {
    const connected = new Set(this.libp2p.getPeers().map(String))
    const self = this.peerId.toString()
    return this.swarm.membership.ring.nodes().map(id => {
      const lastSeen = this.limiter.reputation.exportRecord(id)?.lastSeen
      return {
        peer: id,
        self: id === self,
        connected: id === self || connected.has(id),
        lastSeen: id === self ? this.parts.now() : (lastSeen != null && lastSeen > 0 ? lastSeen : null),
        // this node's own pull: has it fetched what this member held for the ranges it now shares?
        sync: (id === self ? this.swarm.sync.ready : this.swarm.sync.pulledFrom(id)) ? 'ready' : 'pulling'
      }
    })
  }

  peers (): PeerConnectionInfo[] {
    const scores = new Map(this.limiter.peersSummary().map(s => [s.peer, s]))
    return this.libp2p.getConnections().map(conn => {
      const peer = conn.remotePeer.toString()
      const score = scores.get(peer)
      return {
        peerId: peer,
        addr: conn.remoteAddr.toString(),
        direction: conn.direction,
        encryption: conn.encryption,
        muxer: conn.multiplexer,
        openedAt: conn.timeline.open,
        streams: conn.streams.length,
        score: score?.score ?? 50,
        tier: score?.tier ?? 'neutral',
        bannedUntil: score?.bannedUntil ?? null
      }
    })
  }
}

function mib (bytes: number): string {
  return `${Math.round(bytes / 1048576)} MiB`
}
