import { TypedEventEmitter } from '@libp2p/interface'
import { dialableAddrs, type AddressPolicy } from './address-policy.js'
import { DOCUMENT_CLOCK_SKEW_MS, MemberFlag } from './constants.js'
import { bytesEqual, decodeDocument, normalizeAuthorities, verifyConsensus, type AuthorityTrust, type MemberEntry, type SignedDocument } from './document.js'
import { DocumentExpiredError, DocumentNotYetValidError, MalformedDocumentError, MembershipDocumentError, type DocumentRejectReason } from './errors.js'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface MembershipChange {
  previous?: SignedDocument
  current?: SignedDocument
  /** Peers that became members. */
  added: string[]
  /** Peers that are no longer members. */
  removed: string[]
  /** Members whose flags, addresses or record hash changed. */
  changed: string[]
}

export interface MembershipViewEvents {
  change: CustomEvent<MembershipChange>
}

export interface MembershipViewInit {
  /**
   * The authorities this view believes. Absent: trust on first use, the
   * authority list and threshold (at least a majority) named by the first valid
   * document accepted, pinned from then on. Nodes always pass it; only a client
   * given no `authorities` relies on its bootstrap relay this way.
   */
  trust?: AuthorityTrust
  policy: AddressPolicy
  now?: () => number
  /** Told of every document refused (the caller counts it and may penalise its sender). */
  onReject?: (reason: DocumentRejectReason) => void
}

export type AcceptOutcome = 'adopted' | 'stale'

/** Offset of the period in an encoded document (format u8, kind u8). */
const PERIOD_OFFSET = 2

/**
 * What one node or client believes about the network's membership: the newest
 * consensus document that at least k trusted authorities signed and whose
 * validity window holds now. Everything that acts on membership (directory,
 * path selection, the swarm ring, relay budgets, dialling) asks this view.
 */
export class MembershipView extends TypedEventEmitter<MembershipViewEvents> {
  readonly policy: AddressPolicy
  private trustValue?: AuthorityTrust
  private readonly now: () => number
  /** Told of every document refused (the owner counts it). */
  onReject?: (reason: DocumentRejectReason) => void
  private current?: SignedDocument
  private byPeer = new Map<string, MemberEntry>()

  constructor (init: MembershipViewInit) {
    super()
    this.policy = init.policy
    this.now = init.now ?? Date.now
    this.onReject = init.onReject
    if (init.trust != null) this.trustValue = { authorities: normalizeAuthorities(init.trust.authorities), threshold: init.trust.threshold }
  }

  get trust (): AuthorityTrust | undefined {
    return this.trustValue
  }

  /** The document in force, if any (expired ones are dropped by `expire()`). */
  get document (): SignedDocument | undefined {
    return this.current
  }

  get period (): number {
    return this.current?.period ?? -1
  }

  get size (): number {
    return this.byPeer.size
  }

  member (peer: string): MemberEntry | undefined {
    return this.byPeer.get(peer)
  }

  members (): MemberEntry[] {
    return [...this.byPeer.values()]
  }

  isMember (peer: string): boolean {
    return this.byPeer.has(peer)
  }

  flags (peer: string): number {
    return this.byPeer.get(peer)?.flags ?? 0
  }

  hasFlag (peer: string, flag: number): boolean {
    return (this.flags(peer) & flag) === flag
  }

  /** Admitted relays (RELAY flag): they get the relay budget. */
  isRelay (peer: string): boolean {
    return this.hasFlag(peer, MemberFlag.RELAY)
  }

  /** The member's listed addresses that pass the address policy; none for a non-member. */
  dialableAddrs (peer: string): Multiaddr[] {
    const m = this.byPeer.get(peer)
    return m == null ? [] : dialableAddrs(m.addrs, this.policy)
  }

  /** True when the bytes claim a later period than the document in force (read without decoding). */
  wouldReplace (bytes: Uint8Array): boolean {
    if (bytes.byteLength < PERIOD_OFFSET + 8) return false
    const period = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(PERIOD_OFFSET)
    return period > BigInt(this.period)
  }

  /**
   * Decodes and verifies a consensus document and adopts it when it is newer
   * than the one in force. Stale documents cost no signature check. Throws a
   * MembershipDocumentError (already reported to `onReject`) when it is refused.
   */
  accept (bytes: Uint8Array): AcceptOutcome {
    try {
      if (!this.wouldReplace(bytes)) {
        if (bytes.byteLength < PERIOD_OFFSET + 8) throw new MalformedDocumentError('document is truncated')
        return 'stale'
      }
      const doc = decodeDocument(bytes)
      const now = this.now()
      if (doc.validAfter > now + DOCUMENT_CLOCK_SKEW_MS) throw new DocumentNotYetValidError()
      if (doc.validUntil <= now) throw new DocumentExpiredError()
      const trust = this.trustValue ?? firstUseTrust(doc)
      verifyConsensus(doc, trust)
      this.trustValue = trust
      this.adopt(doc)
      return 'adopted'
    } catch (err) {
      if (err instanceof MembershipDocumentError) this.onReject?.(err.reason)
      throw err
    }
  }

  /** Drops the document in force once its validity ends; returns true if it did. */
  expire (): boolean {
    if (this.current == null || this.current.validUntil > this.now()) return false
    this.adopt(undefined)
    return true
  }

  private adopt (doc: SignedDocument | undefined): void {
    const previous = this.current
    const next = new Map<string, MemberEntry>()
    for (const m of doc?.members ?? []) next.set(m.peerId, m)
    const added: string[] = []
    const changed: string[] = []
    for (const [peer, m] of next) {
      const old = this.byPeer.get(peer)
      if (old == null) added.push(peer)
      else if (!sameEntry(old, m)) changed.push(peer)
    }
    const removed = [...this.byPeer.keys()].filter(p => !next.has(p))
    this.current = doc
    this.byPeer = next
    this.safeDispatchEvent('change', { detail: { previous, current: doc, added, removed, changed } })
  }
}

function sameEntry (a: MemberEntry, b: MemberEntry): boolean {
  return a.flags === b.flags && bytesEqual(a.recordHash, b.recordHash) && a.addrs.length === b.addrs.length &&
    a.addrs.every((x, i) => x.equals(b.addrs[i]))
}

/** A client with no pinned authorities believes the list its first document names, with at least a majority. */
function firstUseTrust (doc: SignedDocument): AuthorityTrust {
  return { authorities: doc.authorities, threshold: Math.max(doc.threshold, Math.floor(doc.authorities.length / 2) + 1) }
}
