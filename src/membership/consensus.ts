import { ALL_MEMBER_FLAGS, DocumentKind } from './constants.js'
import { bytesEqual, compareBytes, type DocumentBody, type MemberEntry, type SignedDocument } from './document.js'

/**
 * The consensus of a period's votes, computed the same way by every authority
 * so that identical vote sets give byte-identical bodies to sign:
 * - only votes of the same period, authority list and threshold count, one per voter;
 * - a peer is a member when at least `threshold` votes list it;
 * - a flag is granted when at least `threshold` of those votes grant it;
 * - its record hash and addresses are the most common (hash, addresses) pair
 *   among its entries (ties: the smallest encoding);
 * - validAfter is the latest and validUntil the earliest of the votes'.
 * Undefined when fewer than `threshold` votes are at hand.
 */
export function computeConsensus (votes: SignedDocument[]): DocumentBody | undefined {
  if (votes.length === 0) return undefined
  const first = votes[0]
  const usable = uniqueVoters(votes.filter(v => v.kind === DocumentKind.VOTE && sameNetwork(v, first) && v.period === first.period))
  if (usable.length < first.threshold) return undefined

  const entries = new Map<string, MemberEntry[]>()
  for (const vote of usable) {
    for (const m of vote.members) {
      const list = entries.get(m.peerId)
      if (list == null) entries.set(m.peerId, [m])
      else list.push(m)
    }
  }
  const members: MemberEntry[] = []
  for (const list of entries.values()) {
    if (list.length < first.threshold) continue
    let flags = 0
    for (let bit = 1; bit <= ALL_MEMBER_FLAGS; bit <<= 1) {
      if (list.filter(m => (m.flags & bit) !== 0).length >= first.threshold) flags |= bit
    }
    const chosen = mostCommon(list)
    members.push({ peerId: chosen.peerId, key: chosen.key, recordHash: chosen.recordHash, addrs: chosen.addrs, flags })
  }
  members.sort((a, b) => compareBytes(a.key, b.key))
  return {
    kind: DocumentKind.CONSENSUS,
    period: first.period,
    validAfter: Math.max(...usable.map(v => v.validAfter)),
    validUntil: Math.min(...usable.map(v => v.validUntil)),
    threshold: first.threshold,
    authorities: first.authorities,
    members
  }
}

function sameNetwork (a: SignedDocument, b: SignedDocument): boolean {
  return a.threshold === b.threshold && a.authorities.length === b.authorities.length &&
    a.authorities.every((k, i) => bytesEqual(k, b.authorities[i]))
}

function uniqueVoters (votes: SignedDocument[]): SignedDocument[] {
  const byVoter = new Map<number, SignedDocument>()
  for (const v of votes) {
    const held = byVoter.get(v.voter ?? -1)
    // one vote per authority and period; should one sign two, the smaller hash is used everywhere
    if (held == null || compareBytes(v.hash, held.hash) < 0) byVoter.set(v.voter ?? -1, v)
  }
  return [...byVoter.values()]
}

/** The (record hash, addresses) pair most entries agree on; ties broken by the encoding. */
function mostCommon (list: MemberEntry[]): MemberEntry {
  const keyOf = (m: MemberEntry): string => Buffer.from(m.recordHash).toString('hex') + '|' + m.addrs.map(a => Buffer.from(a.bytes).toString('hex')).join(',')
  const counts = new Map<string, { n: number, entry: MemberEntry }>()
  for (const m of list) {
    const k = keyOf(m)
    const c = counts.get(k)
    if (c == null) counts.set(k, { n: 1, entry: m })
    else c.n++
  }
  let best: { key: string, n: number, entry: MemberEntry } | undefined
  for (const [key, { n, entry }] of counts) {
    if (best == null || n > best.n || (n === best.n && key < best.key)) best = { key, n, entry }
  }
  return best!.entry
}
