import { randomInt } from 'node:crypto'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { writeSecretFile } from '../secret-file.js'
import { Authority } from './authority.js'
import {
  DEFAULT_DOCUMENT_GRACE_MS, DEFAULT_DOCUMENT_INTERVAL_MS, DEFAULT_DROP_AFTER_MS, DEFAULT_MAX_CANDIDATES, DEFAULT_MAX_MEMBERS_PER_16,
  DEFAULT_MAX_MEMBERS_PER_24, DEFAULT_MAX_NEW_MEMBERS_PER_HOUR, DEFAULT_PROBATION_MS, MEMBERSHIP_PROTOCOL
} from './constants.js'
import { MembershipDocumentError } from './errors.js'
import type { ResolvedAuthorities } from './authority-list.js'
import { MembershipMetrics } from './metrics.js'
import {
  GET_REQUEST_BYTES, MAX_MEMBERSHIP_FRAME_BYTES, MembershipRequestKind, MembershipStatus, decodeSyncBody, encodeMembershipReply,
  membershipExchange, serveMembershipRequest, type MembershipRequest, type SyncBody
} from './protocol.js'
import { MembershipView, type MembershipChange } from './view.js'
import type { AdmissionPolicy, CandidateRecord } from './admission.js'
import { isDialable } from './address-policy.js'
import { dialsBackAs } from './dial-back.js'
import type { ComponentLogger, Connection, IdentifyResult, Libp2pEvents, Logger, PeerId, PeerStore, PrivateKey, Startable, Stream, TypedEventTarget } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'
import type { Registry } from 'prom-client'
import { inBackground } from '../background.js'

export const MEMBERSHIP_DOCUMENT_FILE = 'membership.doc'
const STREAM_TIMEOUT_MS = 30_000
const MAX_INBOUND_STREAMS = 4
/** Peers a new document is announced to at once (each fetches it if it lacks it); the rest fetch it on their next round. */
const GOSSIP_FANOUT = 16
/** Bound on the peers whose last full-document serve is remembered (not reset on reconnect). */
const MAX_SERVE_TRACKED = 10_000

export interface MembershipInit {
  /** The node's authorities (resolveAuthorities of `network.authorities`). */
  authorities: ResolvedAuthorities
  /** The view this service keeps current; built by the caller so that others (the DHT validator) can hold it first. */
  view: MembershipView
  intervalMs?: number
  graceMs?: number
  admission?: Partial<Omit<AdmissionPolicy, 'address'>>
  /** Most candidates an authority tracks. */
  maxCandidates?: number
  /** Where the document in force (and an authority's state) persist. */
  dataDir: string
  /** The node's registry. */
  registry: Registry
  now?: () => number
  /** A peer broke the protocol or pushed a forged document (feed to reputation). */
  onViolation?: (peer: PeerId) => void
}

export interface MembershipComponents {
  peerId: PeerId
  privateKey: PrivateKey
  registrar: Registrar
  connectionManager: ConnectionManager
  peerStore: PeerStore
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/**
 * Membership as a libp2p service (`services: { membership: membershipService(...) }`):
 * keeps the view of the network's current membership document, fetches and
 * gossips documents over `/ghostnode/membership/1.0.0`, persists the one in
 * force, and, on an authority, runs the admission policy and the vote.
 */
export class MembershipService implements Startable {
  readonly protocol = MEMBERSHIP_PROTOCOL
  readonly view: MembershipView
  readonly authorityIds: string[]
  readonly authority?: Authority
  readonly metrics: MembershipMetrics
  readonly intervalMs: number
  private readonly components: MembershipComponents
  private readonly init: MembershipInit
  private readonly log: Logger
  private readonly now: () => number
  private readonly authorityAddrs: Map<string, Multiaddr[]>
  private readonly servedAt = new Map<string, number>()
  /** A newer period an announcement made this node fetch (0: none in flight). */
  private fetchingPeriod = 0
  private readonly peers = new Map<string, PeerId>()
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private ownRecord?: CandidateRecord
  private shutdown?: AbortController
  private ticking = false
  private persistChain: Promise<void> = Promise.resolve()

  constructor (components: MembershipComponents, init: MembershipInit) {
    this.components = components
    this.init = init
    this.now = init.now ?? Date.now
    this.log = components.logger.forComponent('ghostnode:membership')
    this.intervalMs = init.intervalMs ?? DEFAULT_DOCUMENT_INTERVAL_MS
    const selfId = components.peerId.toString()
    const resolved = init.authorities
    this.authorityIds = resolved.ids
    this.authorityAddrs = resolved.addrs
    this.view = init.view
    this.metrics = new MembershipMetrics(init.registry, { members: () => this.view.size, period: () => this.view.period })
    this.view.onReject = (reason) => { this.metrics.rejected.inc({ reason }) }
    if (this.authorityIds.includes(selfId)) {
      const a = init.admission ?? {}
      this.authority = new Authority({
        selfId,
        privateKey: components.privateKey,
        trust: resolved.trust,
        authorityIds: resolved.ids,
        dataDir: init.dataDir,
        intervalMs: this.intervalMs,
        graceMs: init.graceMs ?? DEFAULT_DOCUMENT_GRACE_MS,
        policy: {
          address: init.view.policy,
          probationMs: a.probationMs ?? DEFAULT_PROBATION_MS,
          maxPer24: a.maxPer24 ?? DEFAULT_MAX_MEMBERS_PER_24,
          maxPer16: a.maxPer16 ?? DEFAULT_MAX_MEMBERS_PER_16,
          maxNewPerHour: a.maxNewPerHour ?? DEFAULT_MAX_NEW_MEMBERS_PER_HOUR,
          dropAfterMs: a.dropAfterMs ?? DEFAULT_DROP_AFTER_MS,
          allowlistOnly: a.allowlistOnly ?? false
        },
        maxPeers: (init.maxCandidates ?? DEFAULT_MAX_CANDIDATES) + 10_000,
        selfRecord: () => this.ownRecord,
        probeAddrs: async (peer, addrs) => this.probeAddrs(peer, addrs),
        probePeer: async (peer) => this.probePeer(peer),
        sync: async (authority, body) => this.syncWith(authority, body),
        publish: (bytes) => { this.adopt(bytes, undefined, 'authority') },
        now: this.now,
        log: this.log,
        onRound: (round) => {
          this.metrics.admissions.inc({ outcome: 'admitted' }, round.admitted.length)
          this.metrics.admissions.inc({ outcome: 'dropped' }, round.dropped.length)
          for (const reason of round.refused.values()) this.metrics.admissions.inc({ outcome: reason })
        }
      })
    }
  }

  readonly [Symbol.toStringTag] = 'ghostnode:membership'

  get isAuthority (): boolean {
    return this.authority != null
  }

  async start (): Promise<void> {
    if (this.shutdown != null) return
    this.shutdown = new AbortController()
    await this.loadPersisted()
    await this.authority?.load()
    for (const [id, addrs] of this.authorityAddrs) {
      if (addrs.length > 0 && id !== this.components.peerId.toString()) await this.components.peerStore.merge(peerIdFromString(id), { multiaddrs: addrs }).catch(() => {})
    }
    await this.components.registrar.handle(this.protocol, this.handle, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_INBOUND_STREAMS })
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
  }

  afterStart (): void {
    const tickMs = Math.min(5_000, Math.max(250, Math.floor(this.intervalMs / 8)))
    if (this.authority != null) {
      this.every(tickMs, () => { inBackground('authority tick', this.tick(), this.log) })
      inBackground('authority tick', this.tick(), this.log)
    }
    this.every(Math.max(1_000, Math.floor(this.intervalMs / 2)), () => { inBackground('membership fetch round', this.fetchRound(), this.log) })
    this.every(Math.min(10_000, tickMs * 4), () => { this.view.expire() })
  }

  async stop (): Promise<void> {
    this.shutdown?.abort()
    this.shutdown = undefined
    this.authority?.stop()
    for (const t of this.timers.splice(0)) clearInterval(t)
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    this.peers.clear()
    await this.components.registrar.unhandle(this.protocol)
    await this.persistChain
    await this.authority?.save().catch(() => {})
  }

  /** This node's current record (the directory sets it on every publish); an authority votes for itself with it. */
  setOwnRecord (record: CandidateRecord): void {
    this.ownRecord = record
  }

  /** A verified record of a peer that may become a member (authorities only): false when refused for capacity. */
  observeCandidate (record: CandidateRecord): boolean {
    return this.authority?.observe(record) ?? false
  }

  /** Peer ids the node pushes its record to when it is not (yet) a member. */
  authorityPeers (): PeerId[] {
    return this.authorityIds.filter(id => id !== this.components.peerId.toString()).map(id => peerIdFromString(id))
  }

  /** Asks one peer for a newer document; the outcome of accepting it. */
  async fetchFrom (peer: PeerId): Promise<'adopted' | 'stale' | 'none'> {
    const shutdown = this.shutdown
    if (shutdown == null) return 'none'
    const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(STREAM_TIMEOUT_MS)])
    const stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
    const reply = await membershipExchange(stream, { kind: MembershipRequestKind.GET, havePeriod: this.view.period + 1 }, { signal })
    this.metrics.requests.inc({ kind: 'get_sent', status: MembershipStatus[reply.status].toLowerCase() })
    if (reply.status !== MembershipStatus.OK) return 'none'
    return this.adopt(reply.body, peer, 'fetch')
  }

  /** Accepts a document (from a peer, the disk or this authority); persists and gossips it when adopted. */
  private adopt (bytes: Uint8Array, from: PeerId | undefined, via: string): 'adopted' | 'stale' {
    let outcome
    try {
      outcome = this.view.accept(bytes)
    } catch (err) {
      if (!(err instanceof MembershipDocumentError)) throw err
      this.log('refused a membership document (%s) from %s: %s', via, from?.toString() ?? 'here', err.reason)
      // an expired document may be an honest peer that fell behind; anything else was forged or mangled
      if (from != null && err.reason !== 'expired' && err.reason !== 'not_yet_valid') this.init.onViolation?.(from)
      return 'stale'
    }
    if (outcome === 'adopted') {
      this.log('membership period %d in force: %d members (via %s)', this.view.period, this.view.size, via)
      this.persist(bytes)
      inBackground('membership gossip', this.gossip(bytes, from), this.log)
    }
    return outcome
  }

  private persist (bytes: Uint8Array): void {
    this.persistChain = this.persistChain.then(async () => {
      await writeSecretFile(join(this.init.dataDir, MEMBERSHIP_DOCUMENT_FILE), bytes, { replace: true })
    }).catch((err: Error) => { this.log.error('could not persist the membership document - %e', err) })
  }

  private async loadPersisted (): Promise<void> {
    let bytes: Uint8Array
    try {
      bytes = await readFile(join(this.init.dataDir, MEMBERSHIP_DOCUMENT_FILE))
    } catch {
      return
    }
    try {
      this.view.accept(bytes)
      this.log('loaded membership period %d (%d members)', this.view.period, this.view.size)
    } catch (err) {
      this.log('the persisted membership document is not usable: %e', err)
    }
  }

  /**
   * Tells up to GOSSIP_FANOUT peers that this period is here (ANNOUNCE, 10
   * bytes); a peer that lacks it GETs it, once, so each node receives the
   * document about once per period rather than from every peer that gossips
   * it. A peer that does not know ANNOUNCE (an older node) gets the document
   * pushed as before.
   */
  private async gossip (bytes: Uint8Array, from?: PeerId): Promise<void> {
    const targets = [...this.peers.values()].filter(p => from == null || !p.equals(from))
    while (targets.length > GOSSIP_FANOUT) targets.splice(randomInt(targets.length), 1)
    const period = this.view.period
    await Promise.all(targets.map(async peer => {
      const shutdown = this.shutdown
      if (shutdown == null) return
      try {
        const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(STREAM_TIMEOUT_MS)])
        const stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
        const reply = await membershipExchange(stream, { kind: MembershipRequestKind.ANNOUNCE, period }, { signal })
        if (reply.status === MembershipStatus.BAD_REQUEST) {
          const again = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
          await membershipExchange(again, { kind: MembershipRequestKind.PUSH, document: bytes }, { signal })
        }
      } catch (err) {
        if (this.shutdown != null) this.log.trace('pushing the membership document to %p failed - %e', peer, err)
      }
    }))
  }

  private async fetchRound (): Promise<void> {
    const peers = [...this.peers.values()]
    if (peers.length === 0) return
    const peer = peers[randomInt(peers.length)]
    await this.fetchFrom(peer).catch((err: Error) => { if (this.shutdown != null) this.log.trace('membership fetch from %p failed - %e', peer, err) })
  }

  private async tick (): Promise<void> {
    if (this.ticking || this.authority == null || this.shutdown == null) return
    this.ticking = true
    try {
      await this.authority.tick()
    } catch (err) {
      this.log.error('authority round failed - %e', err)
    } finally {
      this.ticking = false
    }
  }

  private async syncWith (authority: string, body: SyncBody): Promise<SyncBody | undefined> {
    const shutdown = this.shutdown
    if (shutdown == null) return undefined
    try {
      const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(Math.max(2_000, Math.min(STREAM_TIMEOUT_MS, this.intervalMs / 2)))])
      const stream = await this.components.connectionManager.openStream(peerIdFromString(authority), this.protocol, { signal })
      const reply = await membershipExchange(stream, { kind: MembershipRequestKind.SYNC, sync: body }, { signal })
      if (reply.status !== MembershipStatus.OK) return undefined
      return decodeSyncBody(reply.body)
    } catch (err) {
      this.log.trace('sync with authority %s failed - %e', authority, err)
      return undefined
    }
  }

  private async probeAddrs (peer: string, addrs: Multiaddr[]): Promise<Multiaddr[]> {
    const id = peerIdFromString(peer)
    const reachable: Multiaddr[] = []
    for (const addr of addrs) {
      if (!isDialable(addr, this.view.policy)) continue
      if (await dialsBackAs(this.components.connectionManager, addr, id, 10_000)) reachable.push(addr)
    }
    return reachable
  }

  private async probePeer (peer: string): Promise<boolean> {
    try {
      const conn = await this.components.connectionManager.openConnection(peerIdFromString(peer), { signal: AbortSignal.timeout(10_000) })
      return conn.status === 'open'
    } catch {
      return false
    }
  }

  private every (ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms)
    timer.unref?.()
    this.timers.push(timer)
  }

  /** A peer may send more than a GET only when it is a member or an authority. */
  private maxRequestBytes (peer: string): number {
    return this.view.isMember(peer) || this.authorityIds.includes(peer) ? MAX_MEMBERSHIP_FRAME_BYTES : GET_REQUEST_BYTES
  }

  private readonly handle = async (stream: Stream, connection: Connection): Promise<void> => {
    const peer = connection.remotePeer
    const key = peer.toString()
    try {
      await serveMembershipRequest(stream, this.maxRequestBytes(key), async (request) => this.answer(request, peer), { signal: AbortSignal.timeout(STREAM_TIMEOUT_MS) })
    } catch (err) {
      this.metrics.requests.inc({ kind: 'bad', status: 'bad_request' })
      this.log('membership request from %p failed - %e', peer, err)
    }
  }

  private async answer (request: MembershipRequest, peer: PeerId): Promise<Uint8Array> {
    const reply = await this.answerStatus(request, peer)
    this.metrics.requests.inc({ kind: MembershipRequestKind[request.kind].toLowerCase(), status: MembershipStatus[reply.status].toLowerCase() })
    return encodeMembershipReply(reply.status, reply.body)
  }

  private async answerStatus (request: MembershipRequest, peer: PeerId): Promise<{ status: MembershipStatus, body?: Uint8Array | SyncBody }> {
    const key = peer.toString()
    if (request.kind === MembershipRequestKind.GET) {
      const doc = this.view.document
      if (doc == null) return { status: MembershipStatus.NONE }
      if (request.havePeriod > doc.period) return { status: MembershipStatus.NOT_MODIFIED }
      const now = this.now()
      const last = this.servedAt.get(key)
      if (last != null && now - last < Math.min(this.intervalMs / 4, 60_000)) return { status: MembershipStatus.RATE_LIMITED }
      this.servedAt.delete(key)
      this.servedAt.set(key, now)
      if (this.servedAt.size > MAX_SERVE_TRACKED) this.servedAt.delete(this.servedAt.keys().next().value!)
      return { status: MembershipStatus.OK, body: doc.bytes }
    }
    if (request.kind === MembershipRequestKind.ANNOUNCE) {
      // only members and authorities make this node fetch; one fetch per newer period at a time
      if (request.period <= this.view.period || request.period <= this.fetchingPeriod) return { status: MembershipStatus.NOT_MODIFIED }
      if (!this.view.isMember(key) && !this.authorityIds.includes(key)) return { status: MembershipStatus.UNAUTHORIZED }
      this.fetchingPeriod = request.period
      inBackground('membership fetch after an announcement', this.fetchFrom(peer).then(() => {}, (err: Error) => {
        if (this.shutdown != null) this.log.trace('membership fetch from %p failed - %e', peer, err)
      }).finally(() => { if (this.fetchingPeriod === request.period) this.fetchingPeriod = 0 }), this.log)
      return { status: MembershipStatus.OK }
    }
    if (request.kind === MembershipRequestKind.PUSH) {
      if (!this.view.wouldReplace(request.document)) return { status: MembershipStatus.NOT_MODIFIED }
      return { status: this.adopt(request.document, peer, 'push') === 'adopted' ? MembershipStatus.OK : MembershipStatus.REJECTED }
    }
    if (this.authority == null || !this.authorityIds.includes(key)) return { status: MembershipStatus.UNAUTHORIZED }
    const body = await this.authority.onSync(key, request.sync)
    return body == null ? { status: MembershipStatus.UNAUTHORIZED } : { status: MembershipStatus.OK, body }
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols } = evt.detail
    const key = peerId.toString()
    if (!protocols.includes(this.protocol)) {
      this.peers.delete(key)
      return
    }
    if (this.peers.has(key) || this.shutdown == null) return
    this.peers.set(key, peerId)
    void this.fetchFrom(peerId).catch((err: Error) => { if (this.shutdown != null) this.log.trace('membership fetch from %p failed - %e', peerId, err) })
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    this.peers.delete(evt.detail.toString())
  }
}

export type { MembershipChange }

/** libp2p-style factory: `services: { membership: membershipService({...}) }` (before `directory` and `swarm`). */
export function membershipService (init: MembershipInit): (components: MembershipComponents) => MembershipService {
  return (components) => new MembershipService(components, init)
}

