/**
 * Deleted records remembered for their remaining lifetime, so anti-entropy
 * and handover do not copy a deleted record back from a member that missed
 * the delete, and instead pass the delete on to it.
 *
 * A tombstone blocks records with the same mailbox and hash whose timestamp
 * is not newer than the deleted one's: copies of the deleted record (same
 * timestamp) are refused, while the same content deposited again later (the
 * coordinator stamps a new timestamp) is stored.
 *
 * Each keeps the owner's signed delete that caused it: a member passes a
 * delete on only with that signature, which the other member verifies.
 *
 * Held in memory and bounded (oldest dropped first): a restart forgets them,
 * so a delete reaches a member that missed it only while a member that saw it
 * keeps running. docs/swarm.md discusses the trade-off.
 */

import type { SignedDelete } from '../peer/protocol.js'

export const DEFAULT_MAX_TOMBSTONES = 100_000

/** `proof`: the owner's signed delete, passed on to members that missed it (one object shared by its records). */
interface Tombstone { timestamp: number, expiry: number, proof?: SignedDelete }

export class Tombstones {
  private readonly entries = new Map<string, Tombstone>()
  private readonly max: number
  private readonly now: () => number

  constructor (init: { max?: number, now?: () => number } = {}) {
    this.max = init.max ?? DEFAULT_MAX_TOMBSTONES
    this.now = init.now ?? Date.now
  }

  get size (): number {
    return this.entries.size
  }

  add (mailbox: Uint8Array, hash: Uint8Array, timestamp: number, expiry: number, proof?: SignedDelete): void {
    const key = keyOf(mailbox, hash)
    const held = this.entries.get(key)
    this.entries.delete(key)
    const newer = held === undefined || timestamp >= held.timestamp
    const kept = newer ? (proof ?? held?.proof) : (held.proof ?? proof)
    const entry: Tombstone = { timestamp: Math.max(timestamp, held?.timestamp ?? 0), expiry: Math.max(expiry, held?.expiry ?? 0) }
    if (kept !== undefined) entry.proof = kept
    this.entries.set(key, entry)
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
    }
  }

  /** True when a record with this hash and timestamp was deleted (and its tombstone is still live). */
  blocks (mailbox: Uint8Array, hash: Uint8Array, timestamp: number): boolean {
    const key = keyOf(mailbox, hash)
    const t = this.entries.get(key)
    if (t === undefined) return false
    if (t.expiry <= this.now()) {
      this.entries.delete(key)
      return false
    }
    return timestamp <= t.timestamp
  }

  /** True when some version of this record was deleted and is still within its lifetime. */
  has (mailbox: Uint8Array, hash: Uint8Array): boolean {
    return this.blocks(mailbox, hash, 0)
  }

  /** The owner's signed delete behind a live tombstone, if it is known. */
  proofOf (mailbox: Uint8Array, hash: Uint8Array): SignedDelete | undefined {
    return this.has(mailbox, hash) ? this.entries.get(keyOf(mailbox, hash))?.proof : undefined
  }

  /** Drops tombstones whose records would have expired anyway. */
  sweep (): number {
    const now = this.now()
    let n = 0
    for (const [key, t] of this.entries) {
      if (t.expiry <= now) {
        this.entries.delete(key)
        n++
      }
    }
    return n
  }
}

function keyOf (mailbox: Uint8Array, hash: Uint8Array): string {
  return Buffer.from(mailbox.buffer, mailbox.byteOffset, mailbox.byteLength).toString('hex') +
    Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex')
}
