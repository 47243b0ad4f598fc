import { multiaddr } from '@multiformats/multiaddr'
import { runAdmission, type AdmissionPolicy, type AdmissionRound, type CandidateRecord } from './admission.js'
import {
  emptyPolicy, policyFileVersion, readPolicyFile, readStateFile, writeStateFile, type AuthorityPolicyFile, type AuthorityStateFile
} from './authority-files.js'
import { computeConsensus } from './consensus.js'
import { DocumentKind } from './constants.js'
import {
  assembleDocument, bytesEqual, decodeDocument, documentSigningMessage, encodeDocumentBody, sha256, signDocumentBody,
  verifyVote, type AuthorityTrust, type SignedDocument
} from './document.js'
import { MembershipDocumentError } from './errors.js'
import { verifyEd25519 } from '../crypto/ed25519.js'
import type { SyncBody } from './protocol.js'
import type { Logger, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { inBackground } from '../background.js'

/**
 * Probes at once, members and candidates each (a candidate's probe dials every
 * address of its record and may wait out a dial timeout on each; members have
 * their own slots so slow candidates never hold back the probes that keep
 * members in the document).
 */
const PROBE_CONCURRENCY = 4
/**
 * A record not yet tested (new addresses, often a node's first record after
 * it learned its listen addresses) is probed this long after the previous
 * probe of its peer rather than a whole period later; a peer re-signing
 * records cannot make the authority dial it more often than this. A
 * candidate that did not answer is retried after this long, doubled with
 * every further failure, up to a period: a relay that was still starting
 * is not held back a whole period, one that is unreachable costs few dials.
 */
const RETEST_MS = 5_000

export interface AuthorityInit {
  selfId: string
  privateKey: PrivateKey
  trust: AuthorityTrust
  /** Peer ids of `trust.authorities`, in the same order. */
  authorityIds: string[]
  dataDir: string
  intervalMs: number
  graceMs: number
  policy: AdmissionPolicy
  /** Most peers (candidates and members) remembered. */
  maxPeers: number
  /** This node's current record summary. */
  selfRecord: () => CandidateRecord | undefined
  /** Dials each address (a fresh connection each) and returns those where the peer answered with its key. */
  probeAddrs: (peer: string, addrs: Multiaddr[]) => Promise<Multiaddr[]>
  /** True when the peer answers (over an open connection, or a new dial). */
  probePeer: (peer: string) => Promise<boolean>
  /** SYNC with another authority; undefined when it cannot be reached. */
  sync: (authority: string, body: SyncBody) => Promise<SyncBody | undefined>
  /** A consensus document with at least k signatures is ready. */
  publish: (bytes: Uint8Array) => void
  now: () => number
  log: Logger
  onRound?: (round: AdmissionRound) => void
}

/**
 * One authority of a network (Tor's directory authority, in one round trip
 * per period): each period it votes its member list, exchanges votes and
 * signatures with the other authorities, computes the consensus the same way
 * they do, signs it, and publishes it once k authorities signed the same body.
 */
export class Authority {
  private readonly init: AuthorityInit
  private readonly records = new Map<string, CandidateRecord>()
  private state: AuthorityStateFile = { version: 1, peers: {}, admissions: [] }
  private lists: AuthorityPolicyFile = emptyPolicy()
  private listsVersion = -1
  /** votes[period] by voter index */
  private readonly votes = new Map<number, Map<number, SignedDocument>>()
  /** sigs[period][body hash hex][authority index] */
  private readonly sigs = new Map<number, Map<string, Map<number, Uint8Array>>>()
  private readonly signedBodies = new Map<number, { hash: string, body: Uint8Array }>()
  private readonly published = new Set<string>()
  /** Peers being probed: true for members. */
  private readonly probing = new Map<string, boolean>()
  /** Members and candidates due for a probe, each the most overdue last (popped first). */
  private probeQueue: { members: CandidateRecord[], candidates: CandidateRecord[] } = { members: [], candidates: [] }
  private readonly selfIndex: number
  private dirty = false
  private stopped = false

  constructor (init: AuthorityInit) {
    this.init = init
    this.selfIndex = init.authorityIds.indexOf(init.selfId)
  }

  async load (): Promise<void> {
    this.state = await readStateFile(this.init.dataDir)
    for (const [peer, o] of Object.entries(this.state.peers)) {
      if (o.record == null) continue
      try {
        this.records.set(peer, {
          peerId: peer,
          key: Buffer.from(o.record.key, 'hex'),
          recordHash: Buffer.from(o.record.recordHash, 'hex'),
          capabilities: o.record.capabilities,
          addrs: o.record.addrs.map(a => multiaddr(a))
        })
      } catch {
        delete this.state.peers[peer]
      }
    }
    await this.reloadLists()
  }

  /** No new probes start after this; the ones under way finish on their own. */
  stop (): void {
    this.stopped = true
  }

  async save (): Promise<void> {
    if (!this.dirty) return
    this.dirty = false
    await writeStateFile(this.init.dataDir, this.state)
  }

  get candidateCount (): number {
    return [...this.records.keys()].filter(p => this.state.peers[p]?.admittedAt == null).length
  }

  /** A verified record of `r.peerId`, pushed by its owner or held by the directory. False when refused for capacity. */
  observe (r: CandidateRecord): boolean {
    const held = this.records.get(r.peerId)
    if (held == null && this.records.size >= this.init.maxPeers) return false
    if (held != null && bytesEqual(held.recordHash, r.recordHash)) return true
    this.records.set(r.peerId, r)
    const o = this.state.peers[r.peerId] ?? (this.state.peers[r.peerId] = { reachable: [] })
    o.record = {
      key: Buffer.from(r.key).toString('hex'),
      recordHash: Buffer.from(r.recordHash).toString('hex'),
      capabilities: r.capabilities,
      addrs: r.addrs.map(a => a.toString())
    }
    this.dirty = true
    return true
  }

  /** One step: probes, votes for the current period, syncs, signs, publishes. */
  async tick (): Promise<void> {
    const now = this.init.now()
    const period = Math.floor(now / this.init.intervalMs)
    await this.reloadLists()
    this.startProbes(now, true)
    if (this.votes.get(period)?.has(this.selfIndex) !== true) await this.vote(period, now)
    await Promise.all(this.init.authorityIds.map(async (id, index) => {
      // nothing left to exchange once we hold its vote and its signature on the body we signed
      if (index === this.selfIndex || this.settledWith(period, index)) return
      const theirs = await this.init.sync(id, this.syncBody(period))
      if (theirs != null) this.merge(theirs)
    }))
    await this.signAndPublish(period)
    for (const p of [...this.votes.keys()]) if (p < period - 1) this.votes.delete(p)
    for (const p of [...this.sigs.keys()]) if (p < period - 1) this.sigs.delete(p)
    for (const p of [...this.signedBodies.keys()]) if (p < period - 1) this.signedBodies.delete(p)
    await this.save()
  }

  /** A SYNC from another authority: merge what it sent, answer with what we hold for that period. */
  async onSync (from: string, body: SyncBody): Promise<SyncBody | undefined> {
    if (!this.init.authorityIds.includes(from) || from === this.init.selfId) return undefined
    this.merge(body)
    await this.signAndPublish(body.period)
    return this.syncBody(body.period)
  }

  private syncBody (period: number): SyncBody {
    const votes = [...(this.votes.get(period)?.values() ?? [])].map(v => v.bytes)
    const signatures: SyncBody['signatures'] = []
    for (const [hash, byIndex] of this.sigs.get(period) ?? []) {
      for (const [index, signature] of byIndex) signatures.push({ hash: Buffer.from(hash, 'hex'), index, signature })
    }
    return { period, votes, signatures }
  }

  private merge (body: SyncBody): void {
    const now = this.init.now()
    const current = Math.floor(now / this.init.intervalMs)
    if (body.period < current - 1 || body.period > current + 1) return
    for (const bytes of body.votes) {
      try {
        const vote = decodeDocument(bytes)
        verifyVote(vote, this.init.trust)
        if (vote.period !== body.period) continue
        let byVoter = this.votes.get(vote.period)
        if (byVoter == null) this.votes.set(vote.period, byVoter = new Map())
        if (!byVoter.has(vote.voter!)) byVoter.set(vote.voter!, vote)
      } catch (err) {
        if (!(err instanceof MembershipDocumentError)) throw err
        this.init.log('refused a vote: %s', err.reason)
      }
    }
    for (const s of body.signatures) {
      if (s.index >= this.init.authorityIds.length) continue
      const byHash = this.sigsOf(body.period)
      const hash = Buffer.from(s.hash).toString('hex')
      let byIndex = byHash.get(hash)
      if (byIndex == null) {
        // one body per authority per sync round is normal; bound what a confused authority can make us hold
        if (byHash.size >= 4 * this.init.authorityIds.length) continue
        byHash.set(hash, byIndex = new Map())
      }
      if (!byIndex.has(s.index)) byIndex.set(s.index, s.signature)
    }
  }

  private settledWith (period: number, index: number): boolean {
    const signed = this.signedBodies.get(period)
    return signed != null && this.votes.get(period)?.has(index) === true && this.sigs.get(period)?.get(signed.hash)?.has(index) === true
  }

  private sigsOf (period: number): Map<string, Map<number, Uint8Array>> {
    let byHash = this.sigs.get(period)
    if (byHash == null) this.sigs.set(period, byHash = new Map())
    return byHash
  }

  private async vote (period: number, now: number): Promise<void> {
    const self = this.init.selfRecord()
    if (self == null) return
    const round = runAdmission({
      now,
      self,
      authorities: new Set(this.init.authorityIds),
      records: this.records,
      state: this.state,
      lists: this.lists,
      policy: this.init.policy
    })
    for (const peer of round.dropped) this.records.delete(peer)
    this.dirty = true
    this.init.onRound?.(round)
    if (round.admitted.length > 0 || round.dropped.length > 0) {
      this.init.log('period %d: %d members, %d admitted, %d dropped', period, round.members.length, round.admitted.length, round.dropped.length)
    }
    const body = encodeDocumentBody({
      kind: DocumentKind.VOTE,
      period,
      validAfter: period * this.init.intervalMs,
      validUntil: (period + 1) * this.init.intervalMs + this.init.graceMs,
      threshold: this.init.trust.threshold,
      authorities: this.init.trust.authorities,
      voter: this.selfIndex,
      members: round.members
    })
    const signature = await signDocumentBody(body, this.init.privateKey)
    const vote = decodeDocument(assembleDocument(body, [{ index: this.selfIndex, signature }]))
    let byVoter = this.votes.get(period)
    if (byVoter == null) this.votes.set(period, byVoter = new Map())
    byVoter.set(this.selfIndex, vote)
  }

  /** Signs the consensus of the votes held (again, if a late vote changed it) and publishes it once k signed it. */
  private async signAndPublish (period: number): Promise<void> {
    const votes = [...(this.votes.get(period)?.values() ?? [])]
    const consensus = computeConsensus(votes)
    if (consensus == null) return
    const body = encodeDocumentBody(consensus)
    const hash = Buffer.from(sha256(body)).toString('hex')
    const byHash = this.sigsOf(period)
    let byIndex = byHash.get(hash)
    if (byIndex == null) byHash.set(hash, byIndex = new Map())
    if (!byIndex.has(this.selfIndex)) byIndex.set(this.selfIndex, await signDocumentBody(body, this.init.privateKey))
    this.signedBodies.set(period, { hash, body })
    if (this.published.has(hash)) return
    const message = documentSigningMessage(body)
    const valid = [...byIndex].filter(([index, sig]) => verifyEd25519(this.init.trust.authorities[index], message, sig))
    if (valid.length < this.init.trust.threshold) return
    this.published.add(hash)
    if (this.published.size > 16) this.published.delete(this.published.values().next().value!)
    this.init.publish(assembleDocument(body, valid.map(([index, signature]) => ({ index, signature }))))
  }

  /**
   * Keeps up to PROBE_CONCURRENCY probes of members and as many of candidates
   * running, each group least recently probed first: a finished probe starts
   * the next due one of its group at once, so one pass over N peers takes N
   * probe times, not N/4 ticks. The due lists are computed on each tick (and
   * when they run out), not once per probe: a member that falls due while a
   * long pass over candidates runs is probed within a tick.
   */
  private startProbes (now: number, fresh = false): void {
    if (this.stopped) return
    const lastProbe = (peer: string): number => this.state.peers[peer]?.lastProbe ?? 0
    const isMember = (peer: string): boolean => this.state.peers[peer]?.admittedAt != null
    const due = (r: CandidateRecord): boolean => {
      const last = lastProbe(r.peerId)
      if (last <= now - this.init.intervalMs) return true
      const o = this.state.peers[r.peerId]
      if (o?.testedHash !== Buffer.from(r.recordHash).toString('hex')) return last <= now - Math.min(RETEST_MS, this.init.intervalMs)
      const failed = o.admittedAt == null ? o.failedProbes ?? 0 : 0
      return failed > 0 && last <= now - Math.min(RETEST_MS * 2 ** Math.min(failed - 1, 16), this.init.intervalMs)
    }
    const queue = this.probeQueue
    if (fresh || (queue.members.length === 0 && queue.candidates.length === 0)) {
      const dueNow = [...this.records.values()]
        .filter(r => r.peerId !== this.init.selfId && !this.init.authorityIds.includes(r.peerId) && !this.probing.has(r.peerId) && due(r))
        .sort((a, b) => lastProbe(b.peerId) - lastProbe(a.peerId))
      queue.members = dueNow.filter(r => isMember(r.peerId))
      queue.candidates = dueNow.filter(r => !isMember(r.peerId))
    }
    let members = 0
    for (const m of this.probing.values()) if (m) members++
    const candidates = this.probing.size - members
    const launch = (list: CandidateRecord[], member: boolean, running: number): void => {
      while (running < PROBE_CONCURRENCY && list.length > 0) {
        const r = list.pop()!
        // dropped, replaced by a newer record, admitted or dropped since, or probed since the list was made
        if (this.records.get(r.peerId) !== r || this.probing.has(r.peerId) || isMember(r.peerId) !== member || !due(r)) continue
        running++
        this.probing.set(r.peerId, member)
        const run = this.probe(r).finally(() => {
          this.probing.delete(r.peerId)
          this.startProbes(this.init.now())
        })
        inBackground(member ? 'probing a member relay' : 'probing a candidate relay', run, this.init.log)
      }
    }
    launch(queue.members, true, members)
    launch(queue.candidates, false, candidates)
  }

  /** A record not yet tested gets every address dialled; a tested member is pinged. */
  private async probe (r: CandidateRecord): Promise<void> {
    const o = this.state.peers[r.peerId] ?? (this.state.peers[r.peerId] = { reachable: [] })
    const hash = Buffer.from(r.recordHash).toString('hex')
    let ok: boolean
    try {
      if (o.testedHash !== hash || o.reachable.length === 0) {
        const reachable = await this.init.probeAddrs(r.peerId, r.addrs)
        o.reachable = reachable.map(a => a.toString())
        o.testedHash = hash
        ok = reachable.length > 0
      } else {
        ok = await this.init.probePeer(r.peerId)
      }
    } catch (err) {
      this.init.log('probing %s failed - %e', r.peerId, err)
      ok = false
    }
    const now = this.init.now()
    o.lastProbe = now
    if (ok) {
      o.lastReachable = now
      o.firstSeen ??= now
      delete o.failedProbes
    } else if (o.admittedAt == null) {
      o.failedProbes = (o.failedProbes ?? 0) + 1
      // a candidate that stops answering starts its probation over when it returns
      delete o.firstSeen
    }
    this.dirty = true
  }

  private async reloadLists (): Promise<void> {
    const version = await policyFileVersion(this.init.dataDir)
    if (version === this.listsVersion) return
    try {
      this.lists = await readPolicyFile(this.init.dataDir)
      this.listsVersion = version
    } catch (err) {
      this.init.log.error('keeping the previous allow/deny lists: %e', err)
      this.listsVersion = version
    }
  }
}
