import { SubscriptionLimitError } from './service-errors.js'
import type { MemoryBudget } from '../memory/budget.js'
import type { WatchRequest } from './peer/protocol.js'
import type { SwarmRecord } from './record-codec.js'

/** Watches a member keeps at once (each ~0.3–2.3 KiB, charged to the memory budget). */
export const DEFAULT_MAX_WATCHERS = 20_000
/** Watches one asking node may hold here: one exit cannot take the whole table. */
export const DEFAULT_MAX_WATCHERS_PER_PEER = 5_000
/** Longest a watch lives, whatever the request asks. */
export const MAX_WATCH_MS = 60_000
/** Memory charged per watch before its known hashes. */
const WATCHER_BASE_BYTES = 256

interface Watcher {
  peer: string
  key: string
  namespace: number
  known: Set<string>
  until: number
  bytes: number
}

export interface WatchersInit {
  now: () => number
  /** Hands a record to the node that watches for it (fire and forget). */
  push: (peer: string, record: SwarmRecord) => void
  budget?: MemoryBudget
  /** @default 20000 */
  max?: number
  /** @default 5000 */
  maxPerPeer?: number
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/**
 * The member's side of live delivery (docs/protocol.md §10.8): exits that
 * asked, with the owner's signature, to be told of the next record of a
 * mailbox. A newly stored record is pushed once to each watcher that does not
 * already know it, and the watch ends. Bounded in number, per asking node and
 * by the memory budget; expired watches are swept.
 */
export class Watchers {
  private readonly init: WatchersInit
  private readonly byMailbox = new Map<string, Set<Watcher>>()
  private readonly perPeer = new Map<string, number>()
  private count = 0

  constructor (init: WatchersInit) {
    this.init = init
  }

  get size (): number {
    return this.count
  }

  /**
   * Registers `peer` for `request`'s mailbox until its signed timestamp plus
   * its wait (at most MAX_WATCH_MS from now); returns a handle to drop it.
   * @throws SubscriptionLimitError when a bound or the memory budget refuses it
   */
  add (peer: string, request: WatchRequest): () => void {
    const now = this.init.now()
    if (this.count >= (this.init.max ?? DEFAULT_MAX_WATCHERS)) this.sweep()
    if (this.count >= (this.init.max ?? DEFAULT_MAX_WATCHERS)) throw new SubscriptionLimitError('this member watches too many mailboxes')
    if ((this.perPeer.get(peer) ?? 0) >= (this.init.maxPerPeer ?? DEFAULT_MAX_WATCHERS_PER_PEER)) throw new SubscriptionLimitError('too many watches from this node')
    const bytes = WATCHER_BASE_BYTES + request.known.length * 96
    if (this.init.budget?.tryReserve(bytes) === false) throw new SubscriptionLimitError('the memory budget is spent')
    const watcher: Watcher = {
      peer,
      key: hex(request.mailbox),
      namespace: request.namespace,
      known: new Set(request.known.map(hex)),
      until: Math.min(request.auth.timestamp + request.waitMs, now + MAX_WATCH_MS),
      bytes
    }
    let set = this.byMailbox.get(watcher.key)
    if (set == null) {
      set = new Set()
      this.byMailbox.set(watcher.key, set)
    }
    set.add(watcher)
    this.count++
    this.perPeer.set(peer, (this.perPeer.get(peer) ?? 0) + 1)
    return () => { this.remove(watcher) }
  }

  /** A record was newly stored here: push it to each live watcher that does not know it, ending those watches. */
  stored (record: SwarmRecord): void {
    const set = this.byMailbox.get(hex(record.mailbox))
    if (set == null) return
    const now = this.init.now()
    const hash = hex(record.hash)
    for (const w of [...set]) {
      if (w.until < now) {
        this.remove(w)
        continue
      }
      if (w.namespace !== record.namespace || w.known.has(hash)) continue
      this.remove(w)
      this.init.push(w.peer, record)
    }
  }

  /** Drops expired watches; returns how many. */
  sweep (): number {
    const now = this.init.now()
    let dropped = 0
    for (const set of [...this.byMailbox.values()]) {
      for (const w of [...set]) {
        if (w.until < now) {
          this.remove(w)
          dropped++
        }
      }
    }
    return dropped
  }

  /** Drops every watch (node stopping). */
  clear (): void {
    for (const set of [...this.byMailbox.values()]) for (const w of [...set]) this.remove(w)
  }

  private remove (w: Watcher): void {
    const set = this.byMailbox.get(w.key)
    if (set?.delete(w) !== true) return
    if (set.size === 0) this.byMailbox.delete(w.key)
    this.count--
    const left = (this.perPeer.get(w.peer) ?? 1) - 1
    if (left === 0) this.perPeer.delete(w.peer)
    else this.perPeer.set(w.peer, left)
    this.init.budget?.release(w.bytes)
  }
}
