import { bytesToHex } from '../wire/bytes.js'
import { MAX_KNOWN_HASHES } from '../swarm/sizes.js'
import type { RetrievedMessage } from '../swarm/exit/exit-protocol.js'

/**
 * How far back a subscription keeps asking: record timestamps come from the
 * storing exit's clock, which the swarm lets differ from others by up to
 * `swarm.clockSkewMs` (60 s by default), and a write in flight lands after
 * later ones. A message stamped earlier than the newest one seen can still
 * arrive within this window, so the window is asked again, minus what is known.
 */
export const SUBSCRIPTION_OVERLAP_MS = 60_000
/** Hashes remembered to never hand the application the same message twice. */
const MAX_DELIVERED = 4096

/**
 * Where a subscription stands: `since` and the hashes it already holds at or
 * after it (sent to the exit, at most 64), plus a larger local memory of what
 * was delivered. Resuming from this state through any circuit, after any
 * failure, neither loses nor repeats a message (docs/protocol.md §10.8).
 */
export class SubscriptionState {
  since: number
  /** hash hex → timestamp of messages at or after `since` */
  private readonly known = new Map<string, { hash: Uint8Array, timestamp: number }>()
  private readonly delivered = new Set<string>()

  constructor (since = 0) {
    this.since = since
  }

  /** The known hashes to send: the newest MAX_KNOWN_HASHES at or after `since`. */
  knownHashes (): Uint8Array[] {
    return [...this.known.values()].map(k => k.hash)
  }

  /**
   * Takes an answer; returns the messages not delivered before, in order. A
   * full page (more may follow at once) moves `since` to its last record;
   * otherwise `since` trails the newest timestamp by the overlap window.
   */
  accept (messages: RetrievedMessage[], now: number): RetrievedMessage[] {
    const fresh: RetrievedMessage[] = []
    for (const m of messages) {
      const id = bytesToHex(m.hash)
      if (m.timestamp >= this.since) this.known.set(id, { hash: m.hash, timestamp: m.timestamp })
      if (this.delivered.has(id)) continue
      this.delivered.add(id)
      fresh.push(m)
    }
    const newest = Math.max(0, ...[...this.known.values()].map(k => k.timestamp))
    // never ahead of the clock, never back
    this.since = Math.max(this.since, Math.min(newest, now) - SUBSCRIPTION_OVERLAP_MS)
    this.trim()
    return fresh
  }

  private trim (): void {
    for (const [id, k] of this.known) if (k.timestamp < this.since) this.known.delete(id)
    if (this.known.size > MAX_KNOWN_HASHES) {
      // keep the newest; the oldest kept sets `since`, so what is dropped is also excluded by time
      const sorted = [...this.known.entries()].sort((a, b) => b[1].timestamp - a[1].timestamp)
      const kept = sorted.slice(0, MAX_KNOWN_HASHES)
      let since = kept[kept.length - 1][1].timestamp
      // a dropped hash at that very millisecond would come back at once, and again: start past it
      if (sorted[MAX_KNOWN_HASHES][1].timestamp >= since) since++
      this.since = Math.max(this.since, since)
      this.known.clear()
      for (const [id, k] of kept) if (k.timestamp >= this.since) this.known.set(id, k)
    }
    if (this.delivered.size > MAX_DELIVERED) {
      // a Set iterates in insertion order: drop the oldest half
      let drop = this.delivered.size - MAX_DELIVERED / 2
      for (const id of this.delivered) {
        if (drop-- <= 0) break
        this.delivered.delete(id)
      }
    }
  }
}
