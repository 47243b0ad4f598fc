import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { platform } from '../crypto/platform/index.js'
import { bytesToHex } from '../wire/bytes.js'
import { DEFAULT_HOPS, MAX_HOPS } from '../wire/onion-format.js'
import { InvalidOnionOptionError } from '../onion/errors.js'
import { Capability, hasCapability } from '../directory/node-record.js'
import { InsufficientPathNodesError, NoExitNodeError, UnusableFirstHopError } from '../directory/record-errors.js'
import type { PeerId } from '@libp2p/interface'

/** What path selection needs from a (verified) node record. */
export interface PathCandidate {
  peerId: PeerId
  addrs: Multiaddr[]
  capabilities: number
}

export interface SelectPathOptions {
  /** Circuit length, 1..MAX_HOPS. @default 3 */
  hops?: number
  /** Peers that must not appear (a hop that just failed, the client itself). */
  exclude?: Iterable<PeerId | string>
  /** Use this peer as hop 1 (the node the client is connected to). */
  firstHop?: PeerId | string
  /**
   * Capability hop 1 needs on a circuit of 2 or more hops. Clients on an
   * admitted network pass `Capability.GUARD`, which only authorities grant.
   * @default Capability.RELAY
   */
  firstHopRole?: number
  /** Uniform integer in [0, maxExclusive). Tests inject a seeded one. @default crypto.randomInt */
  random?: (maxExclusive: number) => number
}

export interface SelectedPath<T extends PathCandidate> {
  /** Hop 1 first, the exit last. */
  hops: T[]
  /**
   * True when no path kept every hop in its own IPv4 /16 and IPv6 /48, so the
   * rule was dropped (a loopback testnet, a tiny network); distinctness still holds.
   */
  relaxed: boolean
}

/** Candidate checks a strict search may spend before it concludes the network rule cannot be met. */
export const STRICT_SEARCH_BUDGET = 20_000
const IP6_CODE = 41

/**
 * Network groups of a node's addresses: `4:a.b` per IPv4 address (its /16) and
 * `6:<hex of the first 6 bytes>` per IPv6 address (its /48); IPv4-mapped IPv6
 * counts as IPv4. DNS names give no group: they cannot be compared unresolved.
 */
export function networkGroups (addrs: Multiaddr[]): string[] {
  const groups = new Set<string>()
  for (const addr of addrs) {
    for (const c of addr.getComponents()) {
      if (c.name === 'ip4' && c.value != null) {
        const [a, b] = c.value.split('.')
        groups.add(`4:${a}.${b}`)
      } else if (c.name === 'ip6' && c.value != null) {
        const bytes = ip6Bytes(c.value)
        if (bytes == null) continue
        const mapped = bytes.subarray(0, 10).every(x => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff
        groups.add(mapped ? `4:${bytes[12]}.${bytes[13]}` : `6:${bytesToHex(bytes.subarray(0, 6))}`)
      }
    }
  }
  return [...groups]
}

/** The 16 address bytes, via multiaddr's own parser (`/ip6` has a one-byte code). */
function ip6Bytes (value: string): Uint8Array | undefined {
  try {
    const bytes = multiaddr(`/ip6/${value}`).bytes
    return bytes[0] === IP6_CODE && bytes.byteLength === 17 ? bytes.subarray(1) : undefined
  } catch {
    return undefined
  }
}

/** A lazily drawn uniform permutation of 0..n-1 (sparse Fisher–Yates: O(1) per draw). */
function * randomOrder (n: number, random: (maxExclusive: number) => number): Generator<number> {
  const swapped = new Map<number, number>()
  for (let i = 0; i < n; i++) {
    const j = i + random(n - i)
    const atJ = swapped.get(j) ?? j
    swapped.set(j, swapped.get(i) ?? i)
    yield atJ
  }
}

interface Node<T> { record: T, key: string, groups: string[] }

class SearchBudgetExceeded extends Error {}

/**
 * Chooses `hops` distinct nodes for a circuit: hop 1 (fixed or random) and the
 * middle hops among relays, the last hop among exits, each uniformly at random
 * among what the constraints allow. No two hops share an IPv4 /16 or IPv6 /48
 * when some path allows it; otherwise the rule is relaxed (and reported) but
 * shared groups are still avoided where possible.
 */
export function selectPath<T extends PathCandidate> (records: Iterable<T>, options: SelectPathOptions = {}): SelectedPath<T> {
  const hops = options.hops ?? DEFAULT_HOPS
  if (!Number.isInteger(hops) || hops < 1 || hops > MAX_HOPS) {
    throw new InvalidOnionOptionError(`hops must be an integer in 1..${MAX_HOPS}`)
  }
  const random = options.random ?? ((maxExclusive: number) => platform.randomInt(0, maxExclusive))
  const excluded = new Set<string>()
  for (const p of options.exclude ?? []) excluded.add(p.toString())

  const pool = new Map<string, Node<T>>()
  for (const record of records) {
    const key = record.peerId.toString()
    if (!excluded.has(key) && !pool.has(key)) pool.set(key, { record, key, groups: networkGroups(record.addrs) })
  }

  let first: Node<T> | undefined
  if (options.firstHop != null) {
    first = pool.get(options.firstHop.toString())
    const role = hops === 1 ? Capability.EXIT : (options.firstHopRole ?? Capability.RELAY)
    if (first == null || !hasCapability(first.record, role)) throw new UnusableFirstHopError()
    if (hops === 1) return { hops: [first.record], relaxed: false }
    pool.delete(first.key)
  }

  const nodes = [...pool.values()]
  const exits = nodes.filter(n => hasCapability(n.record, Capability.EXIT))
  const relays = nodes.filter(n => hasCapability(n.record, Capability.RELAY))
  if (exits.length === 0) throw new NoExitNodeError()
  // Hall's condition for `relayNeeded` relay slots plus one exit slot, all distinct
  const relayNeeded = hops - 1 - (first != null ? 1 : 0)
  const eligible = new Set([...exits, ...relays]).size
  if (relays.length < relayNeeded || eligible < relayNeeded + 1) throw new InsufficientPathNodesError()
  // hop 1, when drawn here, needs the first-hop role (a guard)
  const firstRole = options.firstHopRole ?? Capability.RELAY
  const guards = first == null && hops > 1 ? relays.filter(n => hasCapability(n.record, firstRole)) : undefined
  if (guards?.length === 0) throw new InsufficientPathNodesError()

  // the exit is the scarcest role, so it is drawn first; then hop 1 (if not fixed), then the middles
  const slots: Array<Array<Node<T>>> = guards != null
    ? [exits, guards, ...Array.from({ length: relayNeeded - 1 }, () => relays)]
    : [exits, ...Array.from({ length: relayNeeded }, () => relays)]
  const fixed = first != null ? [first] : []

  let chosen: Array<Node<T>> | undefined
  let relaxed = false
  try {
    chosen = search(slots, fixed, random, true)
  } catch (err) {
    if (!(err instanceof SearchBudgetExceeded)) throw err
  }
  if (chosen == null) {
    relaxed = true
    chosen = search(slots, fixed, random, false)
  }
  if (chosen == null) throw new InsufficientPathNodesError()
  const [exit, ...rest] = chosen.slice(fixed.length)
  return { hops: [...fixed, ...rest, exit].map(n => n.record), relaxed }
}

/**
 * Depth-first search over the slots with candidates in random order. Strict:
 * no shared network group, bounded by STRICT_SEARCH_BUDGET. Relaxed: any
 * distinct nodes, trying non-conflicting candidates before conflicting ones.
 */
function search<T extends PathCandidate> (slots: Array<Array<Node<T>>>, fixed: Array<Node<T>>,
  random: (maxExclusive: number) => number, strict: boolean): Array<Node<T>> | undefined {
  const chosen: Array<Node<T>> = [...fixed]
  const used = new Set(fixed.map(n => n.key))
  const groupCount = new Map<string, number>()
  const addGroups = (n: Node<T>, d: number): void => {
    for (const g of n.groups) groupCount.set(g, (groupCount.get(g) ?? 0) + d)
  }
  const conflicts = (n: Node<T>): boolean => n.groups.some(g => (groupCount.get(g) ?? 0) > 0)
  for (const n of fixed) addGroups(n, 1)
  let steps = 0

  const tryNode = (n: Node<T>, level: number): boolean => {
    chosen.push(n)
    used.add(n.key)
    addGroups(n, 1)
    if (step(level + 1)) return true
    chosen.pop()
    used.delete(n.key)
    addGroups(n, -1)
    return false
  }

  const step = (level: number): boolean => {
    if (level === slots.length) return true
    const candidates = slots[level]
    const deferred: Array<Node<T>> = []
    for (const i of randomOrder(candidates.length, random)) {
      if (strict && ++steps > STRICT_SEARCH_BUDGET) throw new SearchBudgetExceeded()
      const n = candidates[i]
      if (used.has(n.key)) continue
      if (conflicts(n)) {
        if (!strict) deferred.push(n)
        continue
      }
      if (tryNode(n, level)) return true
    }
    for (const n of deferred) {
      if (tryNode(n, level)) return true
    }
    return false
  }

  return step(0) ? chosen : undefined
}
