import { randomInt } from 'node:crypto'
import { TypedEventEmitter } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { Gauge } from 'prom-client'
import { sha256 } from '../membership/document.js'
import {
  DIRECTORY_MAX_MISSING_LOOKUPS, DIRECTORY_UNADMITTED_TOLERANCE, resolveDirectoryOptions, type DirectoryComponents, type DirectoryEvents,
  type DirectoryInit, type FetchResult, type ResolvedDirectoryOptions
} from './options.js'
import { DIRECTORY_PROTOCOL, DirectoryStatus, NO_CURSOR, pushRecord, requestChanges, requestDirectory, serveDirectoryRequest } from './protocol.js'
import { createNodeRecord, decodeNodeRecord, ownRecordAddrs, type SignedNodeRecord, type VerifiedNodeRecord } from './node-record.js'
import { DirectoryNotStartedError, DirectoryResponseTooLargeError, NodeRecordError, UnadmittedRecordError, type RecordRejectReason } from './record-errors.js'
import { nodeRecordDhtKey } from './record-dht.js'
import { DEFAULT_DIRECTORY_MAX_RECORDS, RecordStore, sameEpoch, type ChangeCursor, type OfferOutcome } from './record-store.js'
import { NodeRecordVerifier } from './record-verifier.js'
import type { CandidateRecord } from '../membership/admission.js'
import type { MembershipChange } from '../membership/view.js'
import type { Connection, IdentifyResult, Logger, PeerId, Startable, Stream } from '@libp2p/interface'
import { inBackground } from '../background.js'

export * from './options.js'

type IngestOutcome = OfferOutcome | 'rejected' | 'unadmitted' | 'candidate'

/**
 * The node directory: holds verified node records, serves them on
 * /ghostnode/dir/1.0.0, fetches them from peers (on identify and periodically)
 * and publishes this node's own record (on start, key rotation, address change;
 * pushed to directory peers and put in the DHT).
 */
/** Peers whose last full directory serve is remembered (for minServeIntervalMs). */
const MAX_SERVED_PEERS_TRACKED = 10_000
/** Extra directory rounds shortly after start (see afterStart). */
const STARTUP_REFRESH_DELAYS_MS = [2_000, 12_000, 30_000]

/** When a missing member record is looked up: at once, then again after these waits. */
const MISSING_RETRY_DELAYS_MS = [0, 5_000, 15_000]

/** Waits `ms` (an unref'd timer); false when `signal` aborted first. */
async function sleep (ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise(resolve => {
    if (signal.aborted) { resolve(false); return }
    const done = (ok: boolean): void => { clearTimeout(timer); signal.removeEventListener('abort', onAbort); resolve(ok) }
    const onAbort = (): void => { done(false) }
    const timer = setTimeout(() => { done(true) }, ms)
    timer.unref?.()
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

export class DirectoryService extends TypedEventEmitter<DirectoryEvents> implements Startable {
  readonly protocol = DIRECTORY_PROTOCOL
  readonly verifier: NodeRecordVerifier
  private readonly components: DirectoryComponents
  private readonly log: Logger
  private readonly store: RecordStore
  private readonly init: ResolvedDirectoryOptions

  private readonly now: () => number
  private readonly onInvalidRecord?: (peer: PeerId, reason: RecordRejectReason) => void
  /** Connected peers whose identify listed the directory protocol. */
  private readonly dirPeers = new Map<string, PeerId>()
  private readonly servedAt = new Map<string, number>()
  /** Where this node stands in each peer's change log (CHANGES). */
  private readonly cursors = new Map<string, ChangeCursor>()
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private shutdown?: AbortController
  private unsubscribeRotate?: () => void
  private lastVersion = 0n
  private publishedAddrs = ''
  private publishChain: Promise<unknown> = Promise.resolve()
  private dhtPublishedVersion?: bigint
  /** Member views of held records (flags and addresses from the membership document), rebuilt after a change. */
  private views?: Map<string, VerifiedNodeRecord>
  /** On an authority: verified records of candidates, until admission moves them into the store. */
  private readonly candidates = new Map<string, VerifiedNodeRecord>()

  constructor (components: DirectoryComponents, init: DirectoryInit) {
    super()
    this.components = components
    this.log = components.logger.forComponent('ghostnode:directory')
    this.now = init.now ?? Date.now
    this.verifier = init.verifier
    this.store = new RecordStore(init.maxRecords ?? DEFAULT_DIRECTORY_MAX_RECORDS, components.peerId)
    this.onInvalidRecord = init.onInvalidRecord
    this.init = resolveDirectoryOptions(init)
    const store = this.store
    new Gauge({
      name: 'ghostnode_directory_records',
      help: 'Verified node records held by the directory (own record included)',
      registers: [init.registry],
      collect () { this.set(store.size) }
    })
  }

  readonly [Symbol.toStringTag] = 'ghostnode:directory'

  async start (): Promise<void> {
    if (this.shutdown != null) return
    this.shutdown = new AbortController()
    await this.components.registrar.handle(this.protocol, this.handle, {
      maxInboundStreams: this.init.maxInboundStreams,
      maxOutboundStreams: this.init.maxOutboundStreams
    })
    this.components.events.addEventListener('peer:identify', this.onIdentify)
    this.components.events.addEventListener('peer:disconnect', this.onDisconnect)
    this.components.events.addEventListener('self:peer:update', this.onSelfUpdate)
    // self:peer:update is debounced (~1 s); a new listener is known at once
    this.components.events.addEventListener('transport:listening', this.onSelfUpdate)
    this.components.membership.view.addEventListener('change', this.onMembershipChange)
  }

  /** The onion keys are loaded only once every service has started. */
  async afterStart (): Promise<void> {
    this.unsubscribeRotate = this.components.onionKeys.onRotate(() => { inBackground('publishing the record after a key rotation', this.publishLogged('key rotation'), this.log) })
    await this.publishLogged('start')
    // Nodes starting together see each other's first (address-less) records, or none
    // yet: a few early rounds fill the directory without waiting a whole interval.
    // The later ones wait out the peers' minimum serve interval.
    for (const delayMs of STARTUP_REFRESH_DELAYS_MS) {
      if (delayMs >= this.init.fetchIntervalMs) break
      const timer = setTimeout(() => { inBackground('directory refresh', this.refresh(), this.log) }, delayMs)
      timer.unref?.()
      this.timers.push(timer)
    }
    this.every(this.init.fetchIntervalMs, () => { inBackground('directory refresh', this.refresh(), this.log) })
    this.every(this.init.sweepIntervalMs, () => { this.sweep() })
    this.every(this.init.dhtRepublishIntervalMs, () => { inBackground('DHT republish', this.publishToDht(true), this.log) })
    // until the network admits this node (or while its admitted record is not its newest), the authorities must hear of it
    this.every(Math.max(1_000, this.components.membership.intervalMs), () => { inBackground('offering the record to the authorities', this.offerToAuthorities(), this.log) })
  }

  async stop (): Promise<void> {
    this.shutdown?.abort()
    this.shutdown = undefined
    for (const t of this.timers.splice(0)) clearInterval(t)
    this.unsubscribeRotate?.()
    this.unsubscribeRotate = undefined
    this.components.events.removeEventListener('peer:identify', this.onIdentify)
    this.components.events.removeEventListener('peer:disconnect', this.onDisconnect)
    this.components.events.removeEventListener('self:peer:update', this.onSelfUpdate)
    this.components.events.removeEventListener('transport:listening', this.onSelfUpdate)
    this.components.membership.view.removeEventListener('change', this.onMembershipChange)
    this.dirPeers.clear()
    this.servedAt.clear()
    await this.components.registrar.unhandle(this.protocol)
  }

  /**
   * The record of a member, as the network admitted it: its own signed record
   * (onion key, validity) with the flags the authorities granted as
   * capabilities and the addresses they listed that pass the address policy.
   * Undefined for a peer that is not a member, whatever it signed.
   */
  get (peerId: PeerId | string): VerifiedNodeRecord | undefined {
    return this.memberViews().get(peerId.toString())
  }

  /** Every member record held (own included when this node is a member). */
  records (): VerifiedNodeRecord[] {
    return [...this.memberViews().values()]
  }

  get size (): number {
    return this.memberViews().size
  }

  private memberViews (): Map<string, VerifiedNodeRecord> {
    if (this.views != null) return this.views
    const views = new Map<string, VerifiedNodeRecord>()
    for (const record of this.store.all()) {
      const v = this.viewOf(record)
      if (v != null) views.set(v.peerId.toString(), v)
    }
    this.views = views
    return views
  }

  /** One record as the network admitted it, or undefined when its peer is not a member. */
  private viewOf (record: VerifiedNodeRecord): VerifiedNodeRecord | undefined {
    const view = this.components.membership.view
    const id = record.peerId.toString()
    const member = view.member(id)
    return member == null ? undefined : { ...record, capabilities: member.flags, addrs: view.dialableAddrs(id) }
  }

  ownRecord (): VerifiedNodeRecord | undefined {
    return this.store.get(this.components.peerId)
  }

  /** Signs a new version of the own record, stores it, pushes it to directory peers and puts it in the DHT. */
  async publish (): Promise<VerifiedNodeRecord> {
    const run = this.publishChain.then(async () => this.publishNow())
    this.publishChain = run.catch(() => {})
    return run
  }

  private async publishNow (): Promise<VerifiedNodeRecord> {
    const key = this.components.onionKeys.current()
    const addrs = ownRecordAddrs(this.components.addressManager.getAddresses())
    // a timestamp keeps versions increasing across restarts without persisting a counter
    const version = BigInt(Math.max(this.now(), Number(this.lastVersion) + 1))
    const record = await createNodeRecord(this.components.privateKey, {
      addrs,
      onionKey: key.publicKey,
      epoch: key.epoch,
      validUntil: this.components.onionKeys.acceptedUntil(key.epoch),
      version,
      capabilities: this.init.capabilities
    })
    this.lastVersion = version
    this.publishedAddrs = addrs.map(a => a.toString()).join(' ')
    this.accept(record)
    this.components.membership.setOwnRecord(candidateOf(record))
    if (!this.isAdmittedAsIs(record)) inBackground('offering the record to the authorities', this.offerToAuthorities(), this.log)
    this.log('published own record version %s (epoch %d, %d addresses)', version, key.epoch, addrs.length)
    inBackground('pushing the record to peers', this.pushToPeers(record), this.log)
    inBackground('DHT publish', this.publishToDht(), this.log)
    return record
  }

  private async publishLogged (why: string): Promise<void> {
    try {
      await this.publish()
    } catch (err) {
      this.log.error('could not publish own record after %s - %e', why, err)
    }
  }

  /** Puts the own record into the DHT; true when a put ran with at least one peer connected. */
  async publishToDht (force = false): Promise<boolean> {
    const own = this.ownRecord()
    const shutdown = this.shutdown
    if (!this.init.publishToDht || own == null || shutdown == null) return false
    if (!force && this.dhtPublishedVersion === own.version) return true
    // with no peers the put only lands in the local datastore: try again once someone connects
    if (this.components.connectionManager.getConnections().length === 0) return false
    try {
      const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(this.init.streamTimeoutMs)])
      await this.components.contentRouting.put(nodeRecordDhtKey(this.components.peerId), own.bytes, { signal })
      this.dhtPublishedVersion = own.version
      return true
    } catch (err) {
      this.log('DHT put of own record failed - %e', err)
      return false
    }
  }

  /** The record of `peerId`: held, or looked up in the DHT (verified, then stored). */
  async findRecord (peerId: PeerId): Promise<VerifiedNodeRecord | undefined> {
    const held = this.store.get(peerId)
    if (held != null || this.shutdown == null) return held
    let bytes: Uint8Array
    try {
      const signal = AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(this.init.streamTimeoutMs)])
      bytes = await this.components.contentRouting.get(nodeRecordDhtKey(peerId), { signal })
    } catch (err) {
      this.log.trace('no DHT record for %p - %e', peerId, err)
      return undefined
    }
    await this.ingest(bytes, undefined, peerId)
    return this.store.get(peerId)
  }

  /**
   * Fetches what changed in one peer's directory since the last fetch from it
   * (the first time, and with `full`, all of it). Peers that do not know
   * CHANGES are asked with GET.
   */
  async fetchFrom (peer: PeerId, options: { full?: boolean } = {}): Promise<FetchResult> {
    const shutdown = this.shutdown
    if (shutdown == null) throw new DirectoryNotStartedError()
    const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(this.init.streamTimeoutMs)])
    const key = peer.toString()
    const since = options.full === true ? undefined : this.cursors.get(key)
    const result: FetchResult = { added: 0, updated: 0, stale: 0, full: 0, rejected: 0, unadmitted: 0, incremental: since !== undefined, bytes: 0 }
    // a reply can hold the members' records and the sender's own: more is refused before it is read
    const maxRecords = Math.min(this.store.maxRecords, this.components.membership.view.size) + 1 + DIRECTORY_UNADMITTED_TOLERANCE
    const bounds = { signal, maxRecords, maxBytes: this.init.maxResponseBytes }
    const onRecord = async (bytes: Uint8Array): Promise<void> => {
      result.bytes += bytes.byteLength
      const outcome = await this.ingest(bytes, peer)
      if (outcome === 'added') result.added++
      else if (outcome === 'updated') result.updated++
      else if (outcome === 'rejected') result.rejected++
      else if (outcome === 'full') result.full++
      else if (outcome === 'unadmitted' || outcome === 'candidate') {
        if (++result.unadmitted > DIRECTORY_UNADMITTED_TOLERANCE) throw new UnadmittedRecordError(`directory reply carries more than ${DIRECTORY_UNADMITTED_TOLERANCE} records of peers that are not members`)
      } else result.stale++
    }
    try {
      const stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
      const cursor = await requestChanges(stream, since ?? NO_CURSOR, bounds, onRecord)
      if (cursor === undefined) {
        result.incremental = false
        await requestDirectory(await this.components.connectionManager.openStream(peer, this.protocol, { signal }), bounds, onRecord)
      } else {
        // the peer restarted since (a new epoch): that was its whole directory
        result.incremental = since !== undefined && sameEpoch(since.epoch, cursor.epoch)
        // bounded, oldest first: a peer forgotten here gets a full fetch next time
        this.cursors.delete(key)
        this.cursors.set(key, cursor)
        if (this.cursors.size > MAX_SERVED_PEERS_TRACKED) this.cursors.delete(this.cursors.keys().next().value!)
      }
    } catch (err) {
      // a flood of strangers' records, or more records than the network has members: the sender pays
      if (err instanceof UnadmittedRecordError || err instanceof DirectoryResponseTooLargeError) this.onInvalidRecord?.(peer, 'unadmitted')
      throw err
    }
    return result
  }

  /**
   * One periodic round: fetch from a few random directory peers what changed
   * since the last fetch from each (`full`: everything, as when a new document
   * admits members whose records this node has not taken yet).
   */
  async refresh (options: { full?: boolean } = {}): Promise<void> {
    const peers = [...this.dirPeers.values()]
    const picked: PeerId[] = []
    while (picked.length < this.init.fetchPeersPerRound && peers.length > 0) {
      picked.push(peers.splice(randomInt(peers.length), 1)[0])
    }
    await Promise.all(picked.map(async p => this.fetchLogged(p, options)))
    if (this.dhtPublishedVersion !== this.ownRecord()?.version) await this.publishToDht()
  }

  /** Drops expired records and announces them. */
  sweep (): VerifiedNodeRecord[] {
    const expired = this.store.sweep(this.now())
    if (expired.length > 0) this.views = undefined
    for (const record of expired) {
      this.safeDispatch('record:expired', record)
    }
    return expired
  }

  private every (ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms)
    timer.unref?.()
    this.timers.push(timer)
  }

  private async fetchLogged (peer: PeerId, options: { full?: boolean } = {}): Promise<void> {
    try {
      const r = await this.fetchFrom(peer, options)
      this.log.trace('fetched directory of %p: %d added, %d updated, %d stale, %d refused for capacity, %d rejected',
        peer, r.added, r.updated, r.stale, r.full, r.rejected)
    } catch (err) {
      if (this.shutdown != null) this.log('directory fetch from %p failed - %e', peer, err)
    }
  }

  /**
   * Decodes, skips what the store would drop anyway (no signature check spent on
   * it), verifies, stores and announces. `from` is the peer that sent it (for
   * the misbehaviour hook); `expectedPeer` constrains whose record it must be.
   */
  private async ingest (bytes: Uint8Array, from?: PeerId, expectedPeer?: PeerId): Promise<IngestOutcome> {
    let decoded: SignedNodeRecord
    try {
      decoded = decodeNodeRecord(bytes)
    } catch (err) {
      // the verifier counts its own refusals; decode failures are counted here
      if (err instanceof NodeRecordError) this.verifier.reject(err.reason)
      return this.refused(err, from)
    }
    // nobody else speaks for us: an old copy of our own record must not replace the current one
    if (decoded.peerId.equals(this.components.peerId)) return 'stale'
    const membership = this.components.membership
    if (!membership.view.isMember(decoded.peerId.toString())) {
      // an authority hears candidates: each pushes its own record to it
      if (membership.isAuthority && from != null && decoded.peerId.equals(from)) return this.ingestCandidate(decoded)
      // no signature check is spent on a stranger's record
      this.verifier.reject('unadmitted')
      membership.metrics.unadmittedRecords.inc({ source: from == null ? 'dht' : expectedPeer != null ? 'push' : 'get' })
      return 'unadmitted'
    }
    const pre = this.store.wouldAccept(decoded)
    if (pre === 'stale') return 'stale'
    if (pre === 'full') {
      this.verifier.reject('capacity')
      return 'full'
    }
    try {
      return this.accept(await this.verifier.verifyDecoded(decoded, { expectedPeer }))
    } catch (err) {
      return this.refused(err, from)
    }
  }

  private async ingestCandidate (decoded: SignedNodeRecord): Promise<IngestOutcome> {
    const id = decoded.peerId.toString()
    // a candidate pushing the same record again costs no signature check
    const held = this.candidates.get(id)
    if (held != null && held.version >= decoded.version) return 'candidate'
    let record: VerifiedNodeRecord
    try {
      record = await this.verifier.verifyDecoded(decoded, { expectedPeer: decoded.peerId })
    } catch (err) {
      return this.refused(err, decoded.peerId)
    }
    if (!this.components.membership.observeCandidate(candidateOf(record))) {
      this.verifier.reject('capacity')
      return 'full'
    }
    this.candidates.delete(id)
    this.candidates.set(id, record)
    // bounded like the authority's own list: the oldest candidate goes first
    while (this.candidates.size > this.store.maxRecords) this.candidates.delete(this.candidates.keys().next().value!)
    return 'candidate'
  }

  private refused (err: unknown, from?: PeerId): IngestOutcome {
    if (!(err instanceof NodeRecordError)) throw err
    if (from != null) {
      this.log('refused a node record from %p: %s', from, err.reason)
      this.onInvalidRecord?.(from, err.reason)
    } else {
      this.log('refused a node record from the DHT: %s', err.reason)
    }
    return 'rejected'
  }

  private accept (record: VerifiedNodeRecord): OfferOutcome {
    const { outcome } = this.store.offer(record)
    if (outcome === 'added' || outcome === 'updated') {
      // the cache is updated in place: rebuilding it per record made a fetch of n records cost n²
      const view = this.viewOf(record)
      if (this.views != null) {
        if (view != null) this.views.set(record.peerId.toString(), view)
        else this.views.delete(record.peerId.toString())
      }
      // an authority votes with members' newest records (a rotated onion key, new addresses)
      if (this.components.membership.isAuthority) this.components.membership.observeCandidate(candidateOf(record))
      if (view != null) this.safeDispatch(outcome === 'added' ? 'record:added' : 'record:updated', view)
    } else if (outcome === 'full') this.verifier.reject('capacity')
    return outcome
  }

  /** True when the network's document in force lists this very record of ours. */
  private isAdmittedAsIs (record: VerifiedNodeRecord): boolean {
    const member = this.components.membership.view.member(record.peerId.toString())
    return member != null && Buffer.from(member.recordHash).equals(sha256(record.bytes))
  }

  /** Pushes our own record to the network's authorities while they have not admitted it as it is now. */
  private async offerToAuthorities (): Promise<void> {
    const own = this.ownRecord()
    if (own == null || this.shutdown == null || this.isAdmittedAsIs(own)) return
    await Promise.all(this.components.membership.authorityPeers().map(async peer => this.pushTo(peer, own)))
  }

  /** The membership document changed: drop records of peers that left, find those of peers that joined. */
  private readonly onMembershipChange = (evt: CustomEvent<MembershipChange>): void => {
    this.views = undefined
    const { added, removed, changed } = evt.detail
    for (const id of removed) {
      const record = this.store.remove(id)
      if (record != null) this.safeDispatch('record:expired', record)
    }
    const missing: string[] = []
    for (const id of added) {
      const candidate = this.candidates.get(id)
      this.candidates.delete(id)
      if (candidate != null && this.store.get(id) == null) this.accept(candidate)
      else if (this.store.get(id) != null) this.safeDispatch('record:added', this.get(id)!)
      else missing.push(id)
    }
    for (const id of changed) {
      const view = this.get(id)
      if (view != null) this.safeDispatch('record:updated', view)
      // a member whose record an earlier lookup did not find yet
      else if (this.store.get(id) == null) missing.push(id)
    }
    const own = this.ownRecord()
    const self = this.components.peerId.toString()
    if (own != null && added.includes(self)) {
      // admitted: now the others will take our record
      inBackground('pushing the record to peers', this.pushToPeers(own), this.log)
      inBackground('DHT publish', this.publishToDht(true), this.log)
    }
    if (missing.length > 0 && this.shutdown != null) inBackground('looking up missing member records', this.findMissing(missing.filter(id => id !== self)), this.log)
  }

  /**
   * Records of new members we do not hold: a full fetch from a peer, then the
   * DHT; what is still missing is looked up again after 5 s and 15 s (the
   * peers asked may not have taken the record yet themselves), then left to
   * the next membership change or periodic refresh.
   */
  private async findMissing (ids: string[]): Promise<void> {
    let left = ids
    for (const delayMs of MISSING_RETRY_DELAYS_MS) {
      const shutdown = this.shutdown
      if (shutdown == null) return
      if (delayMs > 0 && !await sleep(delayMs, shutdown.signal)) return
      left = left.filter(id => this.store.get(id) == null && this.components.membership.view.isMember(id))
      if (left.length === 0) return
      // records refused while they were not members yet are behind our cursors: ask for everything
      await this.refresh({ full: true })
      const still = left.filter(id => this.store.get(id) == null).slice(0, DIRECTORY_MAX_MISSING_LOOKUPS)
      for (let i = 0; i < still.length; i += 4) {
        await Promise.all(still.slice(i, i + 4).map(async id => this.findRecord(peerIdFromString(id)).catch(() => undefined)))
      }
    }
  }

  private safeDispatch (type: keyof DirectoryEvents, record: VerifiedNodeRecord): void {
    try {
      this.safeDispatchEvent(type, { detail: record })
    } catch (err) {
      this.log.error('%s listener failed - %e', type, err)
    }
  }

  private async pushToPeers (record: VerifiedNodeRecord): Promise<void> {
    await Promise.all([...this.dirPeers.values()].map(async peer => this.pushTo(peer, record)))
  }

  private async pushTo (peer: PeerId, record: VerifiedNodeRecord): Promise<void> {
    const shutdown = this.shutdown
    if (shutdown == null) return
    const signal = AbortSignal.any([shutdown.signal, AbortSignal.timeout(this.init.streamTimeoutMs)])
    try {
      const stream = await this.components.connectionManager.openStream(peer, this.protocol, { signal })
      const status = await pushRecord(stream, record.bytes, { signal })
      // a node that has not admitted us yet refuses our record: expected until the next document
      if (status !== DirectoryStatus.OK) this.log.trace('%p refused our record (status %d)', peer, status)
    } catch (err) {
      if (this.shutdown != null) this.log('pushing own record to %p failed - %e', peer, err)
    }
  }

  private readonly handle = async (stream: Stream, connection: Connection): Promise<void> => {
    const peer = connection.remotePeer
    const key = peer.toString()
    // one full or incremental answer per peer per minServeIntervalMs, kept across reconnects
    // (a peer must not reset its interval by redialling), bounded oldest-first
    const mayServe = (): boolean => {
      const last = this.servedAt.get(key)
      const t = this.now()
      if (last != null && t - last < this.init.minServeIntervalMs) return false
      this.servedAt.delete(key)
      this.servedAt.set(key, t)
      if (this.servedAt.size > MAX_SERVED_PEERS_TRACKED) this.servedAt.delete(this.servedAt.keys().next().value!)
      return true
    }
    // members' records only: the store holds no one else's, and ours only counts once we are admitted
    const ownServed = (): boolean => this.components.membership.view.isMember(this.components.peerId.toString())
    try {
      await serveDirectoryRequest(stream, {
        get: () => {
          if (!mayServe()) return undefined
          const own = this.store.get(this.components.peerId)
          const served = this.store.encoded(this.init.maxResponseBytes)
          return own == null || ownServed() ? served : served.filter(b => b !== own.bytes)
        },
        changes: (since) => {
          if (!mayServe()) return undefined
          const self = this.components.peerId.toString()
          const withOwn = ownServed()
          return this.store.changedSince(since, this.init.maxResponseBytes, r => withOwn || r.peerId.toString() !== self)
        },
        // a PUSH speaks for the pusher only: others' records travel by GET
        push: async (record) => {
          const outcome = await this.ingest(record, peer, peer)
          return outcome === 'added' || outcome === 'updated' || outcome === 'stale' || outcome === 'candidate'
        }
      }, { signal: AbortSignal.timeout(this.init.streamTimeoutMs) })
    } catch (err) {
      this.log('directory request from %p failed - %e', peer, err)
    }
  }

  private readonly onIdentify = (evt: CustomEvent<IdentifyResult>): void => {
    const { peerId, protocols } = evt.detail
    const key = peerId.toString()
    if (!protocols.includes(this.protocol)) {
      this.dirPeers.delete(key)
      return
    }
    if (this.dirPeers.has(key) || this.shutdown == null) return
    this.dirPeers.set(key, peerId)
    inBackground('fetching the directory of a new peer', this.fetchLogged(peerId).then(async () => {
      // by now the DHT has met this peer too, so a pending put has somewhere to go
      if (this.dhtPublishedVersion !== this.ownRecord()?.version) await this.publishToDht()
    }), this.log)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const key = evt.detail.toString()
    this.dirPeers.delete(key)
  }

  /**
   * Own addresses changed (also right after start: the transports begin
   * listening concurrently with afterStart, so the first record may lack them).
   * Queued behind any publish in flight, and a no-op if the addresses match.
   */
  private readonly onSelfUpdate = (): void => {
    if (this.unsubscribeRotate == null) return
    const run = this.publishChain.then(async () => {
      if (this.shutdown == null || this.addrsKey() === this.publishedAddrs) return
      await this.publishNow()
    })
    this.publishChain = run.catch(err => { this.log.error('could not republish after an address change - %e', err) })
  }

  private addrsKey (): string {
    return ownRecordAddrs(this.components.addressManager.getAddresses()).map(a => a.toString()).join(' ')
  }
}

/** What the authorities need of a record: who, its hash, what it asks for and where it listens. */
function candidateOf (record: VerifiedNodeRecord): CandidateRecord {
  return { peerId: record.peerId.toString(), key: record.identityKey, recordHash: sha256(record.bytes), capabilities: record.capabilities, addrs: record.addrs }
}

/** libp2p-style factory: `services: { directory: directoryService({ ... }) }` (after `onionKeys`). */
export function directoryService (init: DirectoryInit): (components: DirectoryComponents) => DirectoryService {
  return (components) => new DirectoryService(components, init)
}
