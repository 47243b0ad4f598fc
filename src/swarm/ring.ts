import { hash } from 'node:crypto'
import { DEFAULT_REPLICATION_FACTOR, DEFAULT_VNODES_PER_NODE, MAX_VNODES_PER_NODE } from './constants.js'
import { InvalidRingParameterError } from './store/errors.js'

/**
 * Consistent-hash ring placing mailboxes on swarm members.
 *
 * Positions are u64 on a ring of size 2^64:
 * - vnode `v` of node `id` sits at the first 8 bytes (big-endian) of
 *   SHA-256(UTF-8(id) || u16be(v)), `id` being the peer id string as printed
 *   (base58btc / CID text), so every node derives the same ring from the same
 *   membership without agreeing on a binary peer id encoding;
 * - a mailbox sits at the first 8 bytes of SHA-256(mailbox public key).
 * A key is owned by the first vnode at or after its position (clockwise,
 * wrapping), so vnode `i` owns the arc (pos[i-1], pos[i]]. The swarm is the
 * first R distinct nodes met walking clockwise from the key.
 *
 * Positions are kept as two parallel u32 arrays rather than bigints: binary
 * search over number pairs measured ~2x faster than over a BigUint64Array.
 */

/** Keys k with start < k <= end, wrapping past 2^64; start === end is the whole ring. */
export interface RingRange {
  start: bigint
  end: bigint
}

export interface HashRingInit {
  /**
   * Virtual nodes per member.
   *
   * @default 2048
   */
  vnodesPerNode?: number
  /** Members to place at construction: one pairwise merge of their runs instead of N full merges. */
  nodes?: Iterable<string>
}

/** How one mailbox's swarm differs between two rings. */
export interface OwnershipChange {
  mailbox: Uint8Array
  before: string[]
  after: string[]
  /** Members of `after` not in `before`: they must fetch the mailbox. */
  added: string[]
  /** Members of `before` not in `after`: they may purge once `added` confirm. */
  removed: string[]
}

interface Run {
  hi: Uint32Array
  lo: Uint32Array
  owner: Uint32Array
}

const TWO_POW_32 = 2 ** 32
const TWO_POW_64 = 2 ** 64

/** Ring position of a mailbox: first 8 bytes of SHA-256(mailbox) as a u64. */
export function positionOf (mailbox: Uint8Array): bigint {
  return hash('sha256', mailbox, 'buffer').readBigUInt64BE(0)
}

/** True when `position` lies in `range`. */
export function rangeContains (range: RingRange, position: bigint): boolean {
  const { start, end } = range
  if (start === end) return true
  if (start < end) return position > start && position <= end
  return position > start || position <= end
}

export class HashRing {
  readonly vnodesPerNode: number
  private ids: string[] = []
  private readonly index = new Map<string, number>()
  private run: Run = emptyRun(0)
  private changes = 0

  constructor (init: HashRingInit = {}) {
    const v = init.vnodesPerNode ?? DEFAULT_VNODES_PER_NODE
    if (!Number.isInteger(v) || v < 1 || v > MAX_VNODES_PER_NODE) {
      throw new InvalidRingParameterError(`vnodesPerNode must be an integer in [1, ${MAX_VNODES_PER_NODE}], got ${v}`)
    }
    this.vnodesPerNode = v
    if (init.nodes != null) this.addMany(init.nodes)
  }

  /** Number of member nodes. */
  get size (): number {
    return this.ids.length
  }

  /** Increments on every membership change; lets callers cache per-version work. */
  get version (): number {
    return this.changes
  }

  has (nodeId: string): boolean {
    return this.index.has(nodeId)
  }

  /** Member ids in lexicographic order. */
  nodes (): string[] {
    return [...this.ids].sort()
  }

  /** Adds a member; false if it was already one. */
  add (nodeId: string): boolean {
    return this.addMany([nodeId]) === 1
  }

  /** Adds members not yet present; returns how many were added. */
  addMany (nodeIds: Iterable<string>): number {
    const runs: Run[] = []
    for (const id of nodeIds) {
      if (this.index.has(id)) continue
      this.index.set(id, this.ids.length)
      runs.push(this.vnodeRun(id, this.ids.length))
      this.ids.push(id)
    }
    const added = runs.length
    if (added === 0) return 0
    runs.push(this.run)
    // Pairwise merging of sorted runs: O(NV log N) instead of a comparator sort.
    while (runs.length > 1) {
      const next: Run[] = []
      for (let i = 0; i < runs.length; i += 2) {
        next.push(i + 1 < runs.length ? this.merge(runs[i], runs[i + 1]) : runs[i])
      }
      runs.splice(0, runs.length, ...next)
    }
    this.run = runs[0]
    this.changes++
    return added
  }

  /** Removes a member; false if it was not one. */
  remove (nodeId: string): boolean {
    const idx = this.index.get(nodeId)
    if (idx === undefined) return false
    const last = this.ids.length - 1
    const { hi, lo, owner } = this.run
    const out = emptyRun(hi.length - this.vnodesPerNode)
    let j = 0
    for (let i = 0; i < hi.length; i++) {
      const o = owner[i]
      if (o === idx) continue
      out.hi[j] = hi[i]
      out.lo[j] = lo[i]
      // The last id moves into the freed slot so owner indices stay dense.
      out.owner[j] = o === last ? idx : o
      j++
    }
    this.run = out
    this.index.delete(nodeId)
    if (idx !== last) {
      const moved = this.ids[last]
      this.ids[idx] = moved
      this.index.set(moved, idx)
    }
    this.ids.pop()
    this.changes++
    return true
  }

  /** Independent copy, e.g. to keep the pre-churn ring for {@link diffOwnership}. */
  clone (): HashRing {
    const copy = new HashRing({ vnodesPerNode: this.vnodesPerNode })
    copy.ids = [...this.ids]
    for (const [id, i] of this.index) copy.index.set(id, i)
    copy.run = { hi: this.run.hi.slice(), lo: this.run.lo.slice(), owner: this.run.owner.slice() }
    copy.changes = this.changes
    return copy
  }

  /** First min(r, size) distinct members clockwise from SHA-256(mailbox). */
  swarmFor (mailbox: Uint8Array, r: number = DEFAULT_REPLICATION_FACTOR): string[] {
    const d = hash('sha256', mailbox, 'buffer')
    return this.swarmAtHalves(d.readUInt32BE(0), d.readUInt32BE(4), r)
  }

  /** Same as {@link swarmFor} for a precomputed {@link positionOf}. */
  swarmAt (position: bigint, r: number = DEFAULT_REPLICATION_FACTOR): string[] {
    return this.swarmAtHalves(Number(position >> 32n), Number(position & 0xffffffffn), r)
  }

  /**
   * Arcs of the keyspace whose swarm (size r) includes `nodeId`, merged where
   * contiguous. Empty when the node is not a member.
   */
  rangesOwnedBy (nodeId: string, r: number = DEFAULT_REPLICATION_FACTOR): RingRange[] {
    return this.rangesWhere([nodeId], r)
  }

  /**
   * Arcs whose swarm (size r) includes both `a` and `b`, merged where
   * contiguous: the mailboxes two members should both hold.
   */
  rangesSharedBy (a: string, b: string, r: number = DEFAULT_REPLICATION_FACTOR): RingRange[] {
    return this.rangesWhere([a, b], r)
  }

  /**
   * For every member that shares arcs with `nodeId`, those arcs (as
   * {@link rangesSharedBy} gives them), in one pass over the ring instead of
   * one per member: O(vnodes · r) rather than O(members · vnodes · r).
   */
  rangesSharedWith (nodeId: string, r: number = DEFAULT_REPLICATION_FACTOR): Map<string, RingRange[]> {
    return this.rangesNear(nodeId, r, r)
  }

  /**
   * Members among the first `depth` distinct owners clockwise of any arc
   * `nodeId` holds a replica of (swarm size r): with depth r, the members it
   * shares arcs with; with depth r + k, also everyone who held one of those
   * arcs before up to k joins pushed them out of its swarm.
   */
  membersNear (nodeId: string, r: number, depth: number): Set<string> {
    return new Set(this.rangesNear(nodeId, r, depth).keys())
  }

  /**
   * For every member of {@link membersNear}, the arcs of `nodeId` it is near
   * (among the first `depth` owners clockwise of), merged where contiguous:
   * the arcs that member may hold mailboxes of. A pull asks each member only
   * for these, not for every arc `nodeId` holds: over all members together,
   * each arc is asked of at most depth - 1 of them, rather than of all N - 1.
   */
  rangesNear (nodeId: string, r: number, depth: number): Map<string, RingRange[]> {
    checkReplication(r)
    const self = this.index.get(nodeId)
    const len = this.run.hi.length
    const out = new Map<string, RingRange[]>()
    if (self === undefined || len === 0) return out
    const byOwner = new Map<number, RingRange[]>()
    const scratch = new Int32Array(r)
    for (let i = 0; i < len; i++) {
      // most arcs are not ours: that is decided without building their owner lists
      if (!this.inSwarmOfArc(i, r, self, scratch)) continue
      const owners = this.ownersOfArc(i, Math.max(r, depth))
      const start = this.positionAt(i === 0 ? len - 1 : i - 1)
      const end = this.positionAt(i)
      for (const o of owners) {
        if (o === self) continue
        let ranges = byOwner.get(o)
        if (ranges === undefined) byOwner.set(o, ranges = [])
        appendArc(ranges, start, end)
      }
    }
    for (const [o, ranges] of byOwner) out.set(this.ids[o], closeWrap(ranges))
    return out
  }

  private rangesWhere (nodeIds: string[], r: number): RingRange[] {
    checkReplication(r)
    const idxs = nodeIds.map(id => this.index.get(id))
    const len = this.run.hi.length
    if (idxs.some(i => i === undefined) || len === 0) return []
    const ranges: RingRange[] = []
    const scratch = new Int32Array(r)
    for (let i = 0; i < len; i++) {
      let all = true
      for (let k = 0; k < idxs.length && all; k++) all = this.inSwarmOfArc(i, r, idxs[k]!, scratch)
      if (!all) continue
      appendArc(ranges, this.positionAt(i === 0 ? len - 1 : i - 1), this.positionAt(i))
    }
    return closeWrap(ranges)
  }

  /**
   * Fraction of the keyspace each member holds a replica of (sums to
   * min(r, size)). Exact, from arc lengths: no sampling noise.
   */
  keyspaceShares (r: number = DEFAULT_REPLICATION_FACTOR): Map<string, number> {
    checkReplication(r)
    const acc = new Float64Array(this.ids.length)
    const { hi, lo } = this.run
    const len = hi.length
    for (let i = 0; i < len; i++) {
      const p = i === 0 ? len - 1 : i - 1
      let arc = (hi[i] - hi[p]) * TWO_POW_32 + (lo[i] - lo[p])
      // Arc 0 wraps past 2^64 (and is the whole ring when there is one vnode).
      if (i === 0) arc += TWO_POW_64
      for (const o of this.ownersOfArc(i, r)) acc[o] += arc / TWO_POW_64
    }
    const shares = new Map<string, number>()
    this.ids.forEach((id, i) => shares.set(id, acc[i]))
    return shares
  }

  private swarmAtHalves (h: number, l: number, r: number): string[] {
    checkReplication(r)
    const len = this.run.hi.length
    if (len === 0) return []
    let i = this.lowerBound(h, l)
    if (i === len) i = 0
    return this.ownersOfArc(i, r).map(o => this.ids[o])
  }

  /** True when `member` is in the swarm (size r) of the arc ending at vnode i; `scratch` holds r entries. No allocation. */
  private inSwarmOfArc (i: number, r: number, member: number, scratch: Int32Array): boolean {
    const { owner } = this.run
    const len = owner.length
    const want = Math.min(r, this.ids.length)
    let found = 0
    while (found < want) {
      const o = owner[i]
      if (o === member) return true
      let seen = false
      for (let j = 0; j < found; j++) {
        if (scratch[j] === o) {
          seen = true
          break
        }
      }
      if (!seen) scratch[found++] = o
      if (++i === len) i = 0
    }
    return false
  }

  /** Owner indices of the swarm for keys on the arc ending at vnode i. */
  private ownersOfArc (i: number, r: number): number[] {
    const { owner } = this.run
    const len = owner.length
    const want = Math.min(r, this.ids.length)
    const picked: number[] = []
    while (picked.length < want) {
      const o = owner[i]
      if (!picked.includes(o)) picked.push(o)
      if (++i === len) i = 0
    }
    return picked
  }

  private lowerBound (h: number, l: number): number {
    const { hi, lo } = this.run
    let a = 0
    let b = hi.length
    while (a < b) {
      const m = (a + b) >>> 1
      const x = hi[m]
      if (x < h || (x === h && lo[m] < l)) a = m + 1
      else b = m
    }
    return a
  }

  private positionAt (i: number): bigint {
    return (BigInt(this.run.hi[i]) << 32n) | BigInt(this.run.lo[i])
  }

  private vnodeRun (nodeId: string, ownerIdx: number): Run {
    const v = this.vnodesPerNode
    const id = Buffer.from(nodeId, 'utf8')
    const input = Buffer.alloc(id.length + 2)
    id.copy(input)
    const his = new Uint32Array(v)
    const los = new Uint32Array(v)
    for (let k = 0; k < v; k++) {
      input.writeUInt16BE(k, id.length)
      const d = hash('sha256', input, 'buffer')
      his[k] = d.readUInt32BE(0)
      los[k] = d.readUInt32BE(4)
    }
    const order = Array.from({ length: v }, (_, k) => k)
      .sort((a, b) => his[a] - his[b] || los[a] - los[b])
    const run = emptyRun(v)
    order.forEach((k, j) => {
      run.hi[j] = his[k]
      run.lo[j] = los[k]
      run.owner[j] = ownerIdx
    })
    return run
  }

  private merge (a: Run, b: Run): Run {
    const out = emptyRun(a.hi.length + b.hi.length)
    let i = 0
    let j = 0
    for (let k = 0; k < out.hi.length; k++) {
      const takeA = j >= b.hi.length || (i < a.hi.length && this.before(a, i, b, j))
      const src = takeA ? a : b
      const s = takeA ? i++ : j++
      out.hi[k] = src.hi[s]
      out.lo[k] = src.lo[s]
      out.owner[k] = src.owner[s]
    }
    return out
  }

  /** Order by position; equal positions (never seen in practice) by node id so every node agrees. */
  private before (a: Run, i: number, b: Run, j: number): boolean {
    if (a.hi[i] !== b.hi[j]) return a.hi[i] < b.hi[j]
    if (a.lo[i] !== b.lo[j]) return a.lo[i] < b.lo[j]
    return this.ids[a.owner[i]] <= this.ids[b.owner[j]]
  }
}

/** Appends the arc (start, end] to sorted `ranges`, extending the last one when they touch. */
function appendArc (ranges: RingRange[], start: bigint, end: bigint): void {
  const prev = ranges[ranges.length - 1]
  if (prev !== undefined && prev.end === start) prev.end = end
  else ranges.push({ start, end })
}

/** Joins the last range to the first when they meet across the top of the keyspace. */
function closeWrap (ranges: RingRange[]): RingRange[] {
  const first = ranges[0]
  const last = ranges[ranges.length - 1]
  if (ranges.length > 1 && last.end === first.start) {
    first.start = last.start
    ranges.pop()
  }
  return ranges
}

/**
 * For each mailbox whose swarm differs between `before` and `after`, the
 * members that joined and left it. Unchanged mailboxes are omitted.
 */
export function diffOwnership (before: HashRing, after: HashRing, mailboxes: Iterable<Uint8Array>, r: number = DEFAULT_REPLICATION_FACTOR): OwnershipChange[] {
  const changes: OwnershipChange[] = []
  for (const mailbox of mailboxes) {
    const position = positionOf(mailbox)
    const was = before.swarmAt(position, r)
    const now = after.swarmAt(position, r)
    const added = now.filter(id => !was.includes(id))
    const removed = was.filter(id => !now.includes(id))
    if (added.length > 0 || removed.length > 0) {
      changes.push({ mailbox, before: was, after: now, added, removed })
    }
  }
  return changes
}

function checkReplication (r: number): void {
  if (!Number.isInteger(r) || r < 1) {
    throw new InvalidRingParameterError(`replication factor must be a positive integer, got ${r}`)
  }
}

function emptyRun (length: number): Run {
  return { hi: new Uint32Array(length), lo: new Uint32Array(length), owner: new Uint32Array(length) }
}
