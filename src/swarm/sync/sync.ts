import { createHash } from 'node:crypto'
import { MailboxExchange, hex, type LocalMailbox } from './exchange.js'
import { RangeSet, arcsOf, digestOfListing } from './ranges.js'
import { positionOf } from '../ring.js'
import { DEFAULT_CHURN_DELAY_MS, DEFAULT_FULL_RECONCILE_EVERY_ROUNDS, DEFAULT_RECONCILE_INTERVAL_MS } from '../service-defaults.js'
import type { RingRange } from '../ring.js'
import type { LocalReplica } from '../replica.js'
import type { SwarmPeers } from '../peer/peers.js'
import type { HashRing } from '../ring.js'
import type { SwarmMetrics } from '../swarm-metrics.js'
import type { Logger } from '@libp2p/interface'

/**
 * The first pull after a start asks the members among the first this many
 * times r owners of each arc: the arc's earlier owners until r joins.
 */
const FIRST_PULL_DEPTH_FACTOR = 2
/** Members whose listings a pull asks for at once. */
const PULL_LISTINGS_IN_FLIGHT = 4

export interface SwarmSyncInit {
  selfId: string
  ring: () => HashRing
  local: LocalReplica
  peers: SwarmPeers
  replicas: number
  metrics: SwarmMetrics
  log: Logger
  /** @default 60000 */
  reconcileIntervalMs?: number
  /** @default 200 */
  churnDelayMs?: number
  /**
   * A member whose shared arcs hold exactly what they held here when the two
   * last compared equal is skipped, but compared anyway once in this many
   * rounds. @default 10
   */
  fullReconcileEveryRounds?: number
  /** Charges one record copied here to its mailbox's deposit budget; false defers the rest of that mailbox to a later round. */
  allowDeposit?: (mailbox: Uint8Array) => boolean
}

/** Where this node's pull stands (the node's status, and the simulation's view of a network not yet ready). */
export interface PullProgress {
  /** A pull is running. */
  pulling: boolean
  /** Members the current (or last) pull asks. */
  members: number
  /** Of those, answered and copied from. */
  done: number
  /** Of those, skipped as unreachable (or refusing). */
  failed: number
  /** Since the current pull began, its restarts included (0 when none runs), ms. */
  elapsedMs: number
  /** Pulls started again because the ring changed while one ran, since the last one that ended with nothing to repeat. */
  restarts: number
  /** The last failure's error name, if any. */
  lastError?: string
}

export interface ReconcileReport {
  /** Records copied to this node. */
  pulled: number
  /** Records copied to other members. */
  pushed: number
  /** Mailboxes handed to their new owners and purged here. */
  purged: number
  /** Mailboxes no longer owned whose new owners have not all confirmed yet (kept). */
  pending: number
  /** Members that could not be reached this round. */
  unreachable: number
}

/**
 * Churn handling and anti-entropy for this member.
 *
 * Readiness: after a ring change this node pulls, from the other members that
 * may hold them, the mailboxes in the ranges it owns (RANGE, then per mailbox
 * a DIGEST exchange and FETCH of what is missing), each member asked only for
 * the arcs it is among the first `depth` owners of: depth 2r on the first pull
 * after a start; then the members that joined since, and after a member left
 * the members near this one on the ring at depth r plus the changes (who held
 * the ranges it gained; asking all N for everything would make every
 * departure cost the network N² requests).
 * Until that pull is done it answers reads NOT_READY. A member that cannot
 * be reached does not block readiness (it holds nothing it could serve);
 * anti-entropy catches up with it later.
 *
 * Handover: a mailbox this node holds but no longer owns is offered to each
 * of its new owners (HANDOFF lists our hashes, the owner answers with those it
 * lacks, we PUT them and ask again); it is purged here only once every owner
 * has confirmed holding all of it.
 *
 * Anti-entropy (`reconcileNow()`, and every `reconcileIntervalMs`): with every
 * other member, compare per-mailbox digests over the ranges this node owns;
 * where they differ, exchange hash listings, fetch what we lack and push what
 * they lack. Deleted records (tombstones) are neither fetched nor pushed, and
 * their deletion is passed on instead.
 *
 * A member is skipped while the arcs the two share lie within the arcs they
 * last compared equal over, and what this node holds in those arcs is exactly
 * what it held then (a fingerprint of our mailbox digests there): a change on
 * the member's side makes its own fingerprint differ, so it starts the
 * comparison. A join only shrinks what two earlier members share, so
 * admitting a member costs the comparisons with that member, not one between
 * every pair (the arcs agreed are then narrowed to those still shared, so
 * handing over what moved to the new member does not count as a change).
 * A departure grows what some pairs share; those compare again. Once every
 * `fullReconcileEveryRounds` rounds each member is compared regardless (a
 * replica that lost data without restarting), each in its own round of that
 * cycle so the cost is spread. An idle network then costs a tenth of the
 * comparisons, and a busy one what changed.
 */
export class SwarmSync {
  private readonly init: SwarmSyncInit
  private readonly log: Logger
  private readonly mailboxes: MailboxExchange
  private timer?: ReturnType<typeof setTimeout>
  private churnTimer?: ReturnType<typeof setTimeout>
  private followUpTimer?: ReturnType<typeof setTimeout>
  /** Follow-up rounds since the last round that left no handover pending. */
  private followUps = 0
  private running = false
  /** The ring as of the last completed pull: reads are served for what it covers. */
  private readyRing?: HashRing
  /** Members removed since the last pull: ranges may have moved to us. */
  private lostMembers = false
  private pulling?: Promise<void>
  private pullAgain = false
  private reconciling?: Promise<ReconcileReport>
  /** The round that starts once the one in flight ends, for reconcileNow() calls made during it. */
  private reconcileNext?: Promise<ReconcileReport>
  /** Per member: the arcs the two last compared equal over, and our fingerprint of what we held in them. */
  private readonly agreed = new Map<string, { arcs: RangeSet, content: string }>()
  private readonly progress: Omit<PullProgress, 'pulling' | 'elapsedMs'> & { startedAt: number } = { members: 0, done: 0, failed: 0, restarts: 0, startedAt: 0 }
  private rounds = 0
  /** Whether `ready` covers `ring`, cached per pair of ring objects (rings are replaced, never mutated). */
  private coverage?: { ring: HashRing, ready: HashRing, value: boolean }

  constructor (init: SwarmSyncInit) {
    this.init = init
    this.log = init.log
    this.mailboxes = new MailboxExchange(init)
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.schedulePull()
    this.arm()
  }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
    clearTimeout(this.churnTimer)
    clearTimeout(this.followUpTimer)
    this.timer = undefined
    this.churnTimer = undefined
    this.followUpTimer = undefined
  }

  /** Waits for a pull or reconcile in flight (shutdown, tests). */
  async idle (): Promise<void> {
    await this.pulling?.catch(() => {})
    await this.reconciling?.catch(() => {})
    await this.reconcileNext?.catch(() => {})
  }

  /** The membership changed: pull gained ranges after the change settles, then reconcile (handover). */
  onRingChange (change: { added: string[], removed: string[] }): void {
    if (change.removed.length > 0) this.lostMembers = true
    this.schedulePull()
  }

  /** True when this node has pulled every current member for the range `mailbox` lies in. */
  isReady (mailbox: Uint8Array): boolean {
    return this.ready && (this.readyRing as HashRing).swarmFor(mailbox, this.init.replicas).includes(this.init.selfId)
  }

  /** True when the last completed pull included `member` (its share of the mailboxes is here). */
  pulledFrom (member: string): boolean {
    return this.readyRing?.has(member) ?? false
  }

  /** True when the last completed pull covers every member of the current ring. */
  get ready (): boolean {
    const ready = this.readyRing
    if (ready === undefined) return false
    const ring = this.init.ring()
    if (ring === ready) return true
    if (this.coverage?.ring !== ring || this.coverage.ready !== ready) {
      this.coverage = { ring, ready, value: ring.nodes().every(id => ready.has(id)) }
    }
    return this.coverage.value
  }

  /**
   * Pulls the ranges this node owns from the members that may hold them (see
   * the class comment: the owners near each arc, not every member for every
   * arc), then marks them ready. Concurrent calls join the pull in flight, which repeats once
   * if the ring changed meanwhile.
   */
  async pullNow (): Promise<void> {
    if (this.pulling !== undefined) {
      this.pullAgain = true
      return this.pulling
    }
    this.pulling = (async () => {
      // what each member was asked for and answered in this run: a ring change (an admission each
      // period while a network grows) restarts the pull, and the restart does not ask again for
      // arcs already pulled (a first pull asks most of the network and can outlast a period)
      const pulled = new Map<string, RangeSet>()
      this.progress.restarts = 0
      this.progress.startedAt = Date.now()
      do {
        this.pullAgain = false
        await this.pullOnce(pulled)
        if (this.pullAgain && this.running) this.progress.restarts++
      } while (this.pullAgain && this.running)
    })().finally(() => { this.pulling = undefined })
    return this.pulling
  }

  get pullProgress (): PullProgress {
    const { members, done, failed, restarts, startedAt, lastError } = this.progress
    const pulling = this.pulling !== undefined
    return { pulling, members, done, failed, restarts, elapsedMs: pulling ? Date.now() - startedAt : 0, ...(lastError !== undefined ? { lastError } : {}) }
  }

  /**
   * One anti-entropy and handover round with every member that starts after
   * this call: a round already in flight listed what this node held when it
   * began (before a delete or store the caller just made), so the call waits
   * for it and then runs one more; calls made meanwhile share that one.
   */
  async reconcileNow (): Promise<ReconcileReport> {
    if (this.reconciling === undefined) return this.round()
    this.reconcileNext ??= this.reconciling.catch(() => {}).then(async () => {
      this.reconcileNext = undefined
      return this.round()
    })
    return this.reconcileNext
  }

  /** The round in flight, or a new one (the timer's rounds: a round in flight serves as this one). */
  private async round (): Promise<ReconcileReport> {
    this.reconciling ??= this.reconcileOnce().then((report) => {
      this.init.metrics.reconciles.inc({ outcome: 'ok' })
      return report
    }, (err) => {
      this.init.metrics.reconciles.inc({ outcome: 'error' })
      throw err
    }).finally(() => { this.reconciling = undefined })
    return this.reconciling
  }

  private arm (): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      this.round()
        .then((report) => { this.followUp(report) })
        .catch((err: Error) => { this.log.error('anti-entropy round failed - %e', err) })
        .finally(() => { this.arm() })
    }, this.init.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS)
    this.timer.unref?.()
  }

  /**
   * A round that left mailboxes with their new owners unconfirmed (an owner
   * still pulling, or unreachable) is followed by another after 5 s, 10 s,
   * 20 s … (at most the anti-entropy interval, at most 6 times) rather than a
   * whole interval later: after a ring change the old holders hand over in
   * seconds once the new owners are ready.
   */
  private followUp (report: ReconcileReport): void {
    if (report.pending === 0) {
      this.followUps = 0
      return
    }
    if (!this.running || this.followUps >= MAX_FOLLOW_UPS || this.followUpTimer !== undefined) return
    const interval = this.init.reconcileIntervalMs ?? DEFAULT_RECONCILE_INTERVAL_MS
    const delay = Math.min(interval, FOLLOW_UP_MS * 2 ** this.followUps++)
    this.followUpTimer = setTimeout(() => {
      this.followUpTimer = undefined
      this.round()
        .then((next) => { this.followUp(next) })
        .catch((err: Error) => { this.log.error('anti-entropy follow-up failed - %e', err) })
    }, delay)
    this.followUpTimer.unref?.()
  }

  private schedulePull (): void {
    if (!this.running) return
    clearTimeout(this.churnTimer)
    this.churnTimer = setTimeout(() => {
      this.churnTimer = undefined
      this.followUps = 0
      this.pullNow()
        .then(async () => this.running ? this.reconcileNow() : undefined)
        .then((report) => { if (report !== undefined) this.followUp(report) })
        .catch((err: Error) => { this.log.error('churn handling failed - %e', err) })
    }, this.init.churnDelayMs ?? DEFAULT_CHURN_DELAY_MS)
    this.churnTimer.unref?.()
  }

  private async pullOnce (pulled: Map<string, RangeSet>): Promise<void> {
    const ring = this.init.ring()
    const previous = this.readyRing
    const self = this.init.selfId
    const r = this.init.replicas
    // each member is asked only for the arcs it may hold mailboxes of: those it is among the
    // first `depth` owners of (their earlier owners, until `depth - r` joins pushed them out)
    let sources: Map<string, RingRange[]>
    if (previous === undefined) {
      // the first pull since start: what changed while this node was away is unknown; the members
      // that held its arcs before up to r joins (anti-entropy and hand-overs bring anything older)
      sources = ring.rangesNear(self, r, FIRST_PULL_DEPTH_FACTOR * r)
    } else {
      // new members hold what was stored on them since they joined; after a member left, the
      // ranges gained here are held by the members near us on the ring (their earlier owners
      // are within r plus the number of changes of our arcs), not by the whole network
      const added = ring.nodes().filter(id => id !== self && !previous.has(id))
      const removed = previous.nodes().filter(id => !ring.has(id))
      const near = ring.rangesNear(self, r, r + Math.max(1, added.length + removed.length))
      const departed = this.lostMembers || removed.length > 0
      sources = new Map([...near].filter(([id]) => departed || !previous.has(id)))
    }
    this.lostMembers = false
    const owned = new RangeSet(ring.rangesOwnedBy(self, r))
    // listings are asked of a few members at once (each costs a round trip, and a new member asks
    // most of the network); the exchanges that copy records run one after another, so a record
    // two members both hold is fetched and charged once
    const progress = this.progress
    Object.assign(progress, { members: sources.size, done: 0, failed: 0, lastError: undefined })
    const wanted = new Map<string, RangeSet>()
    for (const [peer, arcs] of sources) {
      // only the arcs it has not answered for earlier in this run: records stored on it since
      // then came with the writes that stored them, or come with anti-entropy, as after any pull
      const earlier = pulled.get(peer)
      const set = earlier === undefined ? new RangeSet(arcs) : new RangeSet(arcs).minus(earlier)
      if (set.isEmpty) progress.done++
      else wanted.set(peer, set)
    }
    const peers = [...wanted.keys()].sort()
    let next = 0
    let exchanging = Promise.resolve()
    await Promise.all(Array.from({ length: Math.min(PULL_LISTINGS_IN_FLIGHT, peers.length) }, async () => {
      while (next < peers.length) {
        const peer = peers[next++]
        const arcs = wanted.get(peer)!
        try {
          const remote = await this.mailboxes.remoteDigests(peer, arcsOf(arcs.intervals()))
          const turn = exchanging.then(async () => {
            await this.mailboxes.exchange(peer, await this.mailboxes.differing(remote, owned), { push: false })
          })
          exchanging = turn.catch(() => {})
          await turn
          pulled.set(peer, pulled.get(peer)?.union(arcs) ?? arcs)
          progress.done++
        } catch (err) {
          // an unreachable member holds nothing it could serve now; anti-entropy catches up later
          progress.failed++
          progress.lastError = (err as Error).name
          this.log('pull from %s skipped - %e', peer, err)
        }
      }
    }))
    this.readyRing = ring
  }

  private async reconcileOnce (): Promise<ReconcileReport> {
    const report: ReconcileReport = { pulled: 0, pushed: 0, purged: 0, pending: 0, unreachable: 0 }
    const ring = this.init.ring()
    const self = this.init.selfId
    const r = this.init.replicas
    // mailboxes held here, by the members that should hold them too (in byte order, with
    // digests, for the bucket comparison); and those to hand over
    const byPeer = new Map<string, LocalMailbox[]>()
    const handover: Array<{ mailbox: Uint8Array, owners: string[] }> = []
    // everything held here, owned or not, in position order: what the agreed arcs are checked against
    const held: LocalMailbox[] = []
    for await (const { mailbox, listing } of this.init.local.store.iterateListings()) {
      const position = positionOf(mailbox)
      const swarm = ring.swarmAt(position, r)
      const entry: LocalMailbox = { mailbox, position, digest: digestOfListing(listing) }
      held.push(entry)
      if (!swarm.includes(self)) {
        handover.push({ mailbox, owners: swarm })
        continue
      }
      for (const peer of swarm) {
        if (peer === self) continue
        let list = byPeer.get(peer)
        if (list === undefined) byPeer.set(peer, list = [])
        list.push(entry)
      }
    }
    const sharedWith = ring.rangesSharedWith(self, r)
    const round = ++this.rounds
    const every = this.init.fullReconcileEveryRounds ?? DEFAULT_FULL_RECONCILE_EVERY_ROUNDS
    for (const peer of this.agreed.keys()) if (!sharedWith.has(peer)) this.agreed.delete(peer)
    held.sort((x, y) => (x.position < y.position ? -1 : x.position > y.position ? 1 : 0))
    for (const peer of ring.nodes()) {
      const shared = sharedWith.get(peer)
      if (shared === undefined) continue
      const local = byPeer.get(peer) ?? []
      const sharedSet = new RangeSet(shared)
      const fingerprint = fingerprintOf(sharedSet, held)
      const last = this.agreed.get(peer)
      // each member's forced comparison falls in its own round of the cycle: a tenth of them each round
      if (last !== undefined && last.arcs.covers(sharedSet) && (round + phaseOf(peer)) % every !== 0 &&
        (last.content === fingerprint || fingerprintOf(last.arcs, held) === last.content)) {
        // the two agreed over these arcs and nothing here changed in them since: what the two held
        // equal then is still equal in the part they share now
        this.agreed.set(peer, { arcs: sharedSet, content: fingerprint })
        this.init.metrics.reconcilePeers.inc({ outcome: 'unchanged' })
        continue
      }
      this.agreed.delete(peer)
      try {
        // bucket digests first: only the arcs where the two differ are listed mailbox by mailbox
        const arcs = await this.mailboxes.differingArcs(peer, shared, local)
        if (arcs.length === 0) {
          this.agreed.set(peer, { arcs: sharedSet, content: fingerprint })
          this.init.metrics.reconcilePeers.inc({ outcome: 'identical' })
          continue
        }
        const listed = new RangeSet(arcs)
        const remote = await this.mailboxes.remoteDigests(peer, arcs)
        const differing = await this.mailboxes.differing(remote, listed)
        // ours that the peer should hold and does not list at all
        for (const m of local) if (listed.has(m.position) && !remote.has(hex(m.mailbox))) differing.push(m.mailbox)
        const moved = await this.mailboxes.exchange(peer, differing, { push: true })
        report.pulled += moved.pulled
        report.pushed += moved.pushed
        this.init.metrics.reconcilePeers.inc({ outcome: 'repaired' })
      } catch (err) {
        report.unreachable++
        this.init.metrics.reconcilePeers.inc({ outcome: 'unreachable' })
        this.log('anti-entropy with %s skipped - %e', peer, err)
      }
    }
    for (const { mailbox, owners } of handover) {
      const outcome = await this.mailboxes.handOver(mailbox, owners)
      this.init.metrics.handoffs.inc({ outcome })
      if (outcome === 'confirmed') report.purged++
      else report.pending++
    }
    this.init.local.tombstones.sweep()
    await this.init.local.tombstones.flush().catch((err: Error) => { this.log('writing swept tombstones failed - %e', err) })
    return report
  }
}

/** First wait before a follow-up round for unconfirmed handovers, doubled each time. */
const FOLLOW_UP_MS = 5_000
const MAX_FOLLOW_UPS = 6

/** A member's fixed place in the cycle of forced comparisons. */
function phaseOf (peer: string): number {
  return createHash('sha256').update(peer).digest().readUInt32BE(0)
}

/** What this node holds in `arcs`: each mailbox and its digest, in position order (`held` sorted by position). */
function fingerprintOf (arcs: RangeSet, held: LocalMailbox[]): string {
  const h = createHash('sha256')
  for (const m of arcs.select(held)) {
    h.update(m.mailbox)
    h.update(m.digest)
  }
  return h.digest('hex')
}
