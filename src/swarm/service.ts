import { Registry } from 'prom-client'
import { SwarmCoordinator, type StoreInit, type StoreOutcome } from './coordinator.js'
import { SwarmMembership } from './membership.js'
import { SwarmPeers, SWARM_MAX_OUTBOUND_STREAMS } from './peer/peers.js'
import { SWARM_PROTOCOL, type OwnerAuth, type PageAnswer } from './peer/protocol.js'
import { OwnerCheck } from './peer/owner-check.js'
import { LocalReplica } from './replica.js'
import { SwarmServer, type SwarmViolation } from './peer/server.js'
import { SwarmChannelClosedError } from './service-errors.js'
import { peerStatusName } from './status.js'
import { SwarmMetrics } from './swarm-metrics.js'
import { SwarmSync, type ReconcileReport } from './sync/sync.js'
import { Tombstones } from './sync/tombstones.js'
import { Subscriptions } from './subscriptions.js'
import { Watchers } from './watchers.js'
import { DEFAULT_REPLICATION_FACTOR } from './constants.js'
import { MemberFlag } from '../membership/constants.js'
import type { MembershipService } from '../membership/service.js'
import type { MemoryBudget } from '../memory/budget.js'
import type { HashRing } from './ring.js'
import type { MessageStore } from './store/store.js'
import type { StoreLimits } from './store/store-options.js'
import type { ComponentLogger, Logger, PeerId, Startable } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

/** Inbound swarm streams per connection: one per direction is normal; the rest is slack for reopening. */
export const DEFAULT_SWARM_MAX_INBOUND_STREAMS = 4
/** A peer that is not a member here but uses the swarm protocol triggers a membership fetch this often at most. */
export const UNKNOWN_PEER_FETCH_INTERVAL_MS = 5_000
/**
 * Members past R that may still list and copy a mailbox: rings seen by two
 * members differ for a moment after a document changes, and a member that
 * was just displaced still hands the mailbox over.
 */
export const SWARM_SCOPE_SLACK = 2
/** How often expired watches are dropped. */
const WATCH_SWEEP_INTERVAL_MS = 5_000
/** Bound on the peers remembered for that throttle (stale entries are dropped beyond it). */
const MAX_UNKNOWN_PEERS_TRACKED = 1_000

export interface SwarmServiceComponents {
  peerId: PeerId
  registrar: Registrar
  connectionManager: ConnectionManager
  logger: ComponentLogger
  membership: MembershipService
}

export interface SwarmServiceInit {
  /** The opened mailbox store; the node closes it after libp2p stops. */
  store: MessageStore
  /** The store's limits (size, TTL, quotas), checked by the coordinator before fan-out. */
  limits: StoreLimits
  /** Replicas per mailbox (R). @default 3 */
  replicas?: number
  /** Copies acknowledged before a store succeeds (W); 0 = majority. @default 0 */
  writeQuorum?: number
  /** @default 2048 */
  vnodesPerNode?: number
  /** Anti-entropy period. @default 60000 */
  reconcileIntervalMs?: number
  /** Deadline of one node-to-node request. @default 5000 */
  requestTimeoutMs?: number
  /** Largest retrieve page assembled for a client. @default 98304 */
  maxPageBytes?: number
  /** Accepted skew of signed timestamps. @default 60000 */
  authWindowMs?: number
  /** @default 4 */
  maxInboundStreams?: number
  /** Delay between a ring change and the pull it triggers. @default 200 */
  churnDelayMs?: number
  /** Charges a node-to-node request (`cost`: one unit per entry) to the peer's budget; false refuses it. @default always allow */
  allowRequest?: (peer: PeerId, cost: number) => boolean
  /**
   * Charges one deposit to a mailbox's budget: every PUT a member sends and
   * every record anti-entropy copies here, as a client's deposit is at its exit.
   * @default always allow
   */
  allowDeposit?: (mailbox: Uint8Array) => boolean
  /** Subscriptions held open at once as an exit. @default 10000 */
  maxSubscriptions?: number
  /** Subscriptions one circuit may hold open. @default 8 */
  maxSubscriptionsPerCircuit?: number
  /** The node-wide budget of memory peers can make it hold: inbound partial frames and requests in flight are charged to it. */
  budget?: MemoryBudget
  /** An inbound stream was closed because the budget had no room for it. */
  onShed?: () => void
  /** Misbehaviour on the swarm protocol (feeds reputation). */
  onViolation?: (peer: PeerId, violation: SwarmViolation) => void
  /** The node's registry. */
  registry: Registry
  now?: () => number
}

/**
 * The swarm member and coordinator of one node, as a libp2p service
 * (`services: { swarm: swarmService({ store, limits, ... }) }`, after
 * `directory`). It keeps the ring in step with the directory, serves
 * `/ghostnode/swarm/2.0.0`, coordinates clients' requests at the exit, pulls
 * gained ranges after churn and runs anti-entropy.
 */
export class SwarmService implements Startable {
  readonly protocol = SWARM_PROTOCOL
  readonly store: MessageStore
  readonly membership: SwarmMembership
  readonly local: LocalReplica
  readonly peers: SwarmPeers
  readonly server: SwarmServer
  readonly coordinator: SwarmCoordinator
  readonly sync: SwarmSync
  readonly metrics: SwarmMetrics
  readonly tombstones: Tombstones
  /** Clients' subscriptions this node holds open as their exit. */
  readonly subscriptions: Subscriptions
  /** Exits watching mailboxes on this node as a member. */
  readonly watchers: Watchers
  readonly replicas: number
  private readonly components: SwarmServiceComponents
  private readonly init: SwarmServiceInit
  private readonly log: Logger
  private running = false
  private watchSweep?: ReturnType<typeof setInterval>
  private unregisterHolders?: () => void
  /** When we last fetched the membership document of a peer that used the protocol without being a member here. */
  private readonly unknownFetchedAt = new Map<string, number>()
  private readonly now: () => number

  constructor (components: SwarmServiceComponents, init: SwarmServiceInit) {
    this.components = components
    this.init = init
    this.log = components.logger.forComponent('ghostnode:swarm')
    const now = init.now ?? Date.now
    this.now = now
    const selfId = components.peerId.toString()
    this.store = init.store
    this.replicas = init.replicas ?? DEFAULT_REPLICATION_FACTOR
    this.membership = new SwarmMembership({ selfId, view: components.membership.view, vnodesPerNode: init.vnodesPerNode })
    this.tombstones = new Tombstones({ now, persistence: init.store })
    this.metrics = new SwarmMetrics(init.registry, {
      members: () => this.membership.ring.size,
      ready: () => this.sync.ready,
      subscriptions: () => this.subscriptions.size,
      watchers: () => this.watchers.size
    })
    this.subscriptions = new Subscriptions({
      now,
      ...(init.budget !== undefined ? { budget: init.budget } : {}),
      ...(init.maxSubscriptions !== undefined ? { max: init.maxSubscriptions } : {}),
      ...(init.maxSubscriptionsPerCircuit !== undefined ? { maxPerCircuit: init.maxSubscriptionsPerCircuit } : {})
    })
    this.watchers = new Watchers({
      now,
      ...(init.budget !== undefined ? { budget: init.budget } : {}),
      push: (peer, record) => {
        if (peer === selfId) {
          this.metrics.pushes.inc({ outcome: this.subscriptions.deliver(record) > 0 ? 'delivered' : 'unwanted' })
          return
        }
        this.peers.push(peer, record).then(
          () => { this.metrics.pushes.inc({ outcome: 'sent' }) },
          (err: Error) => {
            // the exit may be gone or its subscription over: the client asks again with what it knows
            this.metrics.pushes.inc({ outcome: 'failed' })
            this.log.trace('push to a watching exit failed - %e', err)
          })
      }
    })
    const ring = (): HashRing => this.membership.ring
    const owner = new OwnerCheck({ now, ...(init.authWindowMs !== undefined ? { windowMs: init.authWindowMs } : {}) })
    this.local = new LocalReplica({
      store: init.store,
      tombstones: this.tombstones,
      isReady: (mailbox) => this.sync.isReady(mailbox),
      maxTtlMs: init.limits.maxTtlMs,
      watchers: this.watchers,
      onPush: (record) => {
        const taken = this.subscriptions.deliver(record) > 0
        this.metrics.pushes.inc({ outcome: taken ? 'delivered' : 'unwanted' })
        return taken
      }
    })
    this.peers = new SwarmPeers({
      connectionManager: components.connectionManager,
      log: this.log,
      resolveAddrs: (peer) => components.membership.view.dialableAddrs(peer.toString()),
      ...(init.requestTimeoutMs !== undefined ? { requestTimeoutMs: init.requestTimeoutMs } : {})
    })
    this.server = new SwarmServer({
      replica: this.local,
      log: this.log,
      // Swarm members and exits (which coordinate clients' requests) are served. Anyone else
      // is refused, without a penalty: our document may be the one that is out of date.
      authorize: (peer) => {
        const id = peer.toString()
        const view = components.membership.view
        return this.membership.isVerifiedMember(id) || view.hasFlag(id, MemberFlag.EXIT) ? 'member' : 'unknown'
      },
      onUnknownPeer: (peer) => { this.catchUpWith(peer) },
      allow: init.allowRequest ?? (() => true),
      owner,
      inSwarm: (peer, mailbox) => ring().swarmFor(mailbox, this.replicas + SWARM_SCOPE_SLACK).includes(peer.toString()),
      ...(init.allowDeposit !== undefined ? { allowDeposit: init.allowDeposit } : {}),
      onViolation: init.onViolation,
      onServed: (op, status) => { this.metrics.peerRequests.inc({ op, status: peerStatusName(status) }) },
      ...(init.budget !== undefined ? { budget: init.budget } : {}),
      ...(init.onShed !== undefined ? { onShed: init.onShed } : {}),
      ...(init.requestTimeoutMs !== undefined ? { requestTimeoutMs: init.requestTimeoutMs } : {})
    })
    this.coordinator = new SwarmCoordinator({
      selfId,
      ring,
      local: this.local,
      peers: this.peers,
      replicas: this.replicas,
      writeQuorum: init.writeQuorum ?? 0,
      limits: init.limits,
      ...(init.maxPageBytes !== undefined ? { maxPageBytes: init.maxPageBytes } : {}),
      now,
      metrics: this.metrics,
      log: this.log,
      noteSigned: (request) => { owner.note(request) },
      subscriptions: this.subscriptions
    })
    this.sync = new SwarmSync({
      selfId,
      ring,
      local: this.local,
      peers: this.peers,
      replicas: this.replicas,
      metrics: this.metrics,
      log: this.log,
      ...(init.allowDeposit !== undefined ? { allowDeposit: init.allowDeposit } : {}),
      ...(init.reconcileIntervalMs !== undefined ? { reconcileIntervalMs: init.reconcileIntervalMs } : {}),
      ...(init.churnDelayMs !== undefined ? { churnDelayMs: init.churnDelayMs } : {})
    })
  }

  readonly [Symbol.toStringTag] = 'ghostnode:swarm'

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    // deletes survive restarts: their tombstones are back before anyone is served
    const tombstones = await this.tombstones.load()
    const finished = await this.local.finishDeletes()
    if (tombstones > 0) this.log('%d delete tombstones loaded, %d interrupted deletes finished', tombstones, finished)
    this.peers.start()
    this.unregisterHolders = this.init.budget?.addHolderSource(() => this.server.holders())
    // watches end on their own when a record comes; the rest are swept (and their memory released) here
    this.watchSweep = setInterval(() => { this.watchers.sweep() }, WATCH_SWEEP_INTERVAL_MS)
    this.watchSweep.unref?.()
    await this.components.registrar.handle(this.protocol, this.server.handle, {
      maxInboundStreams: this.init.maxInboundStreams ?? DEFAULT_SWARM_MAX_INBOUND_STREAMS,
      maxOutboundStreams: SWARM_MAX_OUTBOUND_STREAMS
    })
  }

  /** Membership needs the directory, which is ready only once every service has started. */
  afterStart (): void {
    this.membership.addEventListener('change', this.onRingChange)
    this.membership.start()
    this.sync.start()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    this.membership.removeEventListener('change', this.onRingChange)
    this.membership.stop()
    this.sync.stop()
    await this.components.registrar.unhandle(this.protocol)
    this.peers.stop()
    this.server.closeAll(new SwarmChannelClosedError('node stopping'))
    clearInterval(this.watchSweep)
    this.subscriptions.clear()
    this.watchers.clear()
    this.unregisterHolders?.()
    this.unknownFetchedAt.clear()
    await this.sync.idle()
  }

  /** Stores a message in its mailbox's swarm (acknowledged after W copies). */
  async storeMessage (request: StoreInit): Promise<StoreOutcome> {
    return this.coordinator.store(request)
  }

  /** One page of a mailbox namespace from its swarm; `auth` is the owner's signature over the retrieve (auth.ts). */
  async retrieve (mailbox: Uint8Array, namespace: number, options: { cursor?: Uint8Array, maxBytes: number, auth: OwnerAuth }): Promise<PageAnswer> {
    return this.coordinator.retrieve(mailbox, namespace, options)
  }

  /** One anti-entropy and handover round now (also runs every `reconcileIntervalMs`). */
  async reconcileNow (): Promise<ReconcileReport> {
    return this.sync.reconcileNow()
  }

  /** Pulls the ranges this node gained (also runs after every ring change). */
  async pullNow (): Promise<void> {
    return this.sync.pullNow()
  }

  /**
   * A peer that is not a member here uses the swarm protocol: if it is honest it
   * holds a newer membership document than ours, so ask it for that document.
   * At most once per peer per UNKNOWN_PEER_FETCH_INTERVAL_MS.
   */
  private catchUpWith (peer: PeerId): void {
    const key = peer.toString()
    const now = this.now()
    if (!this.running || (this.unknownFetchedAt.get(key) ?? 0) > now - UNKNOWN_PEER_FETCH_INTERVAL_MS) return
    this.unknownFetchedAt.set(key, now)
    if (this.unknownFetchedAt.size > MAX_UNKNOWN_PEERS_TRACKED) {
      for (const [k, t] of this.unknownFetchedAt) if (t <= now - UNKNOWN_PEER_FETCH_INTERVAL_MS) this.unknownFetchedAt.delete(k)
    }
    void this.components.membership.fetchFrom(peer).catch((err: Error) => { this.log('membership fetch from an unknown swarm peer failed - %e', err) })
  }

  private readonly onRingChange = (evt: CustomEvent<{ added: string[], removed: string[] }>): void => {
    this.log('ring changed: %d joined, %d left, %d members', evt.detail.added.length, evt.detail.removed.length, this.membership.ring.size)
    this.sync.onRingChange(evt.detail)
  }
}

/** libp2p-style factory: `services: { swarm: swarmService({ store, limits }) }` (after `directory`). */
export function swarmService (init: SwarmServiceInit): (components: SwarmServiceComponents) => SwarmService {
  return (components) => new SwarmService(components, init)
}
