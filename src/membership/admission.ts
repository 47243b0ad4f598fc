import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { addressPrefixes, dialableAddrs, type AddressPolicy } from './address-policy.js'
import { MemberFlag } from './constants.js'
import type { AuthorityPolicyFile, AuthorityStateFile, PeerObservation } from './authority-files.js'
import type { MemberEntry } from './document.js'

/**
 * The admission policy of one authority, as a pure function of what it has
 * observed (docs/operators.md "Running an authority"): who it votes for, with
 * which flags. The caller probes reachability and persists the state.
 */

export interface AdmissionPolicy {
  address: AddressPolicy
  /** Uptime (since first found reachable) before GUARD, EXIT and SWARM are granted. */
  probationMs: number
  maxPer24: number
  maxPer16: number
  maxNewPerHour: number
  /**
   * A member whose probes failed for this long (the last answer older, a
   * probe since) is dropped and starts over as a candidate. One the authority
   * has not probed since it last answered (its own probing fell behind) is
   * kept up to UNPROBED_DROP_FACTOR times this.
   */
  dropAfterMs: number
  /** Only peers on the allowlist are admitted. */
  allowlistOnly: boolean
}

/** A candidate's newest record, as the authority needs it. */
export interface CandidateRecord {
  peerId: string
  key: Uint8Array
  recordHash: Uint8Array
  capabilities: number
  addrs: Multiaddr[]
}

export type AdmissionRefusal = 'denied' | 'not_allowlisted' | 'unreachable' | 'prefix_cap' | 'hourly_limit' | 'no_flags'

export interface AdmissionRound {
  members: MemberEntry[]
  /** Peers newly admitted in this round. */
  admitted: string[]
  /** Members dropped in this round (unreachable too long, or denied). */
  dropped: string[]
  refused: Map<string, AdmissionRefusal>
}

export interface AdmissionInput {
  now: number
  /** This authority: always a member with every flag its record asks for. */
  self: CandidateRecord
  /** Peer ids of the network's authorities: admitted without probation or caps. */
  authorities: Set<string>
  records: Map<string, CandidateRecord>
  state: AuthorityStateFile
  lists: AuthorityPolicyFile
  policy: AdmissionPolicy
}

const HOUR_MS = 3_600_000
/**
 * A member is dropped for silence only on evidence (a failed probe after its
 * last answer), or when the authority has not probed it at all for this many
 * drop times: a backlog of probes on an overloaded authority must not empty
 * its vote (at 100 relays on one machine, members went unprobed for minutes
 * and one authority's vote fell from 99 members to 15).
 */
export const UNPROBED_DROP_FACTOR = 3
const ROLE_FLAGS = MemberFlag.RELAY | MemberFlag.EXIT | MemberFlag.SWARM

/** Flags for a member whose record asks for `capabilities`, before or after probation. */
export function grantedFlags (capabilities: number, trusted: boolean): number {
  const roles = capabilities & ROLE_FLAGS
  if (!trusted) return roles & MemberFlag.RELAY
  return roles | ((roles & MemberFlag.RELAY) !== 0 ? MemberFlag.GUARD : 0)
}

/**
 * Evaluates every known peer and returns this authority's member list for
 * the round. Mutates `input.state` (admissions, drops): the caller persists it.
 */
export function runAdmission (input: AdmissionInput): AdmissionRound {
  const { now, policy, state } = input
  const allow = new Set(input.lists.allow)
  const deny = new Set(input.lists.deny)
  state.admissions = state.admissions.filter(t => t > now - HOUR_MS)
  const members: MemberEntry[] = []
  const admitted: string[] = []
  const dropped: string[] = []
  const refused = new Map<string, AdmissionRefusal>()
  const per24 = new Map<string, number>()
  const per16 = new Map<string, number>()
  const count = (addrs: Multiaddr[]): void => {
    const ps = prefixesOf(addrs)
    for (const narrow of new Set(ps.map(p => p.narrow))) per24.set(narrow, (per24.get(narrow) ?? 0) + 1)
    for (const wide of new Set(ps.map(p => p.wide))) per16.set(wide, (per16.get(wide) ?? 0) + 1)
  }
  const push = (r: CandidateRecord, flags: number, addrs: Multiaddr[]): void => {
    members.push({ peerId: r.peerId, key: r.key, recordHash: r.recordHash, flags, addrs })
    count(addrs)
  }

  push(input.self, grantedFlags(input.self.capabilities, true), dialableAddrs(input.self.addrs, policy.address))

  // members first (oldest admission first), then candidates by first reachability: caps favour the established
  const others = [...input.records.values()].filter(r => r.peerId !== input.self.peerId)
  const obs = (r: CandidateRecord): PeerObservation => state.peers[r.peerId] ?? (state.peers[r.peerId] = { reachable: [] })
  others.sort((a, b) => order(obs(a)) - order(obs(b)) || (a.peerId < b.peerId ? -1 : 1))

  for (const r of others) {
    const o = obs(r)
    if (deny.has(r.peerId)) {
      if (o.admittedAt != null) dropped.push(r.peerId)
      delete state.peers[r.peerId]
      refused.set(r.peerId, 'denied')
      continue
    }
    if (input.authorities.has(r.peerId)) {
      // an authority is part of the trust root: no probation, no caps; listed with the addresses it announces
      o.admittedAt ??= now
      push(r, grantedFlags(r.capabilities, true), dialableAddrs(r.addrs, policy.address))
      continue
    }
    if (o.admittedAt != null) {
      const reachable = memberSilent(o, now, policy) ? [] : addrsOf(o, policy)
      if (reachable.length === 0) {
        dropped.push(r.peerId)
        delete state.peers[r.peerId]
        refused.set(r.peerId, 'unreachable')
        continue
      }
      const trusted = allow.has(r.peerId) || (o.firstSeen != null && now - o.firstSeen >= policy.probationMs)
      push(r, grantedFlags(r.capabilities, trusted), reachable)
      continue
    }
    const reachable = reachableAddrs(o, now, policy)
    const refusal = admissionRefusal(r, o, reachable, allow.has(r.peerId), { now, policy, state, per24, per16 })
    if (refusal != null) {
      refused.set(r.peerId, refusal)
      continue
    }
    const trusted = allow.has(r.peerId) || (o.firstSeen != null && now - o.firstSeen >= policy.probationMs)
    o.admittedAt = now
    if (!allow.has(r.peerId)) state.admissions.push(now)
    admitted.push(r.peerId)
    push(r, grantedFlags(r.capabilities, trusted), reachable)
  }
  return { members, admitted, dropped, refused }
}

function order (o: PeerObservation): number {
  if (o.admittedAt != null) return o.admittedAt - 1e15
  return o.firstSeen ?? Number.MAX_SAFE_INTEGER
}

function admissionRefusal (r: CandidateRecord, o: PeerObservation, reachable: Multiaddr[], allowlisted: boolean,
  ctx: { now: number, policy: AdmissionPolicy, state: AuthorityStateFile, per24: Map<string, number>, per16: Map<string, number> }): AdmissionRefusal | undefined {
  if (ctx.policy.allowlistOnly && !allowlisted) return 'not_allowlisted'
  if (reachable.length === 0 || o.lastReachable == null || o.lastReachable <= ctx.now - ctx.policy.dropAfterMs) return 'unreachable'
  if (grantedFlags(r.capabilities, false) === 0) return 'no_flags'
  if (allowlisted) return undefined
  for (const p of prefixesOf(reachable)) {
    if ((ctx.per24.get(p.narrow) ?? 0) >= ctx.policy.maxPer24 || (ctx.per16.get(p.wide) ?? 0) >= ctx.policy.maxPer16) return 'prefix_cap'
  }
  if (ctx.state.admissions.length >= ctx.policy.maxNewPerHour) return 'hourly_limit'
  return undefined
}

/** A member not heard from in dropAfterMs, with a failed probe since; or not probed at all for UNPROBED_DROP_FACTOR times that. */
function memberSilent (o: PeerObservation, now: number, policy: AdmissionPolicy): boolean {
  if (o.lastReachable == null) return true
  if (o.lastReachable > now - policy.dropAfterMs) return false
  const failedSince = (o.lastProbe ?? 0) > o.lastReachable
  return failedSince || o.lastReachable <= now - UNPROBED_DROP_FACTOR * policy.dropAfterMs
}

/** The addresses of the last full test, when it passed within dropAfterMs, that still pass the address policy. */
function reachableAddrs (o: PeerObservation, now: number, policy: AdmissionPolicy): Multiaddr[] {
  if (o.lastReachable == null || o.lastReachable <= now - policy.dropAfterMs) return []
  return addrsOf(o, policy)
}

/** The addresses of the last full test that still pass the address policy. */
function addrsOf (o: PeerObservation, policy: AdmissionPolicy): Multiaddr[] {
  const out: Multiaddr[] = []
  for (const text of o.reachable) {
    try {
      out.push(multiaddr(text))
    } catch {
      // a state file edited by hand: skip what does not parse
    }
  }
  return dialableAddrs(out, policy.address)
}

/** Distinct prefixes of a member's addresses: one member counts once per prefix. */
function prefixesOf (addrs: Multiaddr[]): Array<{ narrow: string, wide: string }> {
  const seen = new Map<string, { narrow: string, wide: string }>()
  for (const a of addrs) {
    const p = addressPrefixes(a)
    if (p != null) seen.set(p.narrow, p)
  }
  return [...seen.values()]
}
