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
 * Bounded (oldest dropped first) and, given a persistence (the message
 * store), durable: `flush()` writes what `add`, eviction and `sweep` changed
 * in one synced batch, and the replica flushes before it deletes the records,
 * so a delete survives any restart; `load()` reads them back at start
 * (tombstone-rows.ts has the layout).
 */

import { SwarmOp, decodeMessage, encodeRequestMessage, type SignedDelete } from '../peer/protocol.js'
import type { ProofRow, TombstoneBatch, TombstonePersistence, TombstoneRow } from '../store/tombstone-rows.js'

export const DEFAULT_MAX_TOMBSTONES = 100_000

/** `proof`: the owner's signed delete, passed on to members that missed it (one object shared by its records). */
interface Tombstone { timestamp: number, expiry: number, proof?: SignedDelete }

interface Pending {
  put: Map<string, TombstoneRow>
  drop: Map<string, { mailbox: Uint8Array, hash: Uint8Array }>
  proofs: Map<string, ProofRow>
  dropProofs: Map<string, Uint8Array>
}

export interface TombstonesInit {
  max?: number
  now?: () => number
  /** Where they are kept across restarts; without it they live in memory only. */
  persistence?: TombstonePersistence
}

export class Tombstones {
  private readonly entries = new Map<string, Tombstone>()
  private readonly max: number
  private readonly now: () => number
  private readonly persistence?: TombstonePersistence
  /** Persisted proofs by signature (hex): the expiry written with each. */
  private readonly proofExpiry = new Map<string, { id: Uint8Array, expiry: number }>()
  private pending: Pending = emptyPending()

  constructor (init: TombstonesInit = {}) {
    this.max = init.max ?? DEFAULT_MAX_TOMBSTONES
    this.now = init.now ?? Date.now
    if (init.persistence !== undefined) this.persistence = init.persistence
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
    this.stage(key, mailbox, hash, entry)
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
      this.stageDrop(oldest)
    }
  }

  /** True when a record with this hash and timestamp was deleted (and its tombstone is still live). */
  blocks (mailbox: Uint8Array, hash: Uint8Array, timestamp: number): boolean {
    const key = keyOf(mailbox, hash)
    const t = this.entries.get(key)
    if (t === undefined) return false
    if (t.expiry <= this.now()) {
      this.entries.delete(key)
      this.stageDrop(key)
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

  /** Every live tombstone (for finishing deletes a crash interrupted). */
  * live (): Generator<{ mailbox: Uint8Array, hash: Uint8Array, timestamp: number }> {
    const now = this.now()
    for (const [key, t] of this.entries) {
      if (t.expiry > now) yield { ...splitKey(key), timestamp: t.timestamp }
    }
  }

  /** Drops tombstones whose records would have expired anyway (and their proofs); `flush()` writes that. */
  sweep (): number {
    const now = this.now()
    let n = 0
    for (const [key, t] of this.entries) {
      if (t.expiry <= now) {
        this.entries.delete(key)
        this.stageDrop(key)
        n++
      }
    }
    for (const [sig, p] of this.proofExpiry) {
      if (p.expiry <= now) {
        this.proofExpiry.delete(sig)
        this.pending.proofs.delete(sig)
        this.pending.dropProofs.set(sig, p.id)
      }
    }
    return n
  }

  /** Writes every change since the last flush in one synced batch; a no-op without persistence. */
  async flush (): Promise<void> {
    if (this.persistence === undefined) return
    const p = this.pending
    if (p.put.size + p.drop.size + p.proofs.size + p.dropProofs.size === 0) return
    this.pending = emptyPending()
    const batch: TombstoneBatch = { put: [...p.put.values()], drop: [...p.drop.values()], proofs: [...p.proofs.values()], dropProofs: [...p.dropProofs.values()] }
    try {
      await this.persistence.writeTombstones(batch)
    } catch (err) {
      // not written: keep the changes for the next flush (newer changes to the same keys win)
      for (const [k, v] of p.put) if (!this.pending.put.has(k) && !this.pending.drop.has(k)) this.pending.put.set(k, v)
      for (const [k, v] of p.drop) if (!this.pending.put.has(k)) this.pending.drop.set(k, v)
      for (const [k, v] of p.proofs) if (!this.pending.proofs.has(k)) this.pending.proofs.set(k, v)
      for (const [k, v] of p.dropProofs) if (!this.pending.proofs.has(k)) this.pending.dropProofs.set(k, v)
      throw err
    }
  }

  /**
   * Reads the persisted tombstones back (at start, before the swarm serves
   * anyone); expired ones and their proofs are dropped. Returns how many are live.
   */
  async load (): Promise<number> {
    if (this.persistence === undefined) return 0
    const now = this.now()
    const proofs = new Map<string, SignedDelete>()
    for await (const row of this.persistence.readDeleteProofs()) {
      const sig = hex(row.id)
      const proof = row.expiry > now ? decodeProof(row.bytes) : undefined
      if (proof === undefined) {
        this.pending.dropProofs.set(sig, row.id)
        continue
      }
      proofs.set(sig, proof)
      this.proofExpiry.set(sig, { id: row.id, expiry: row.expiry })
    }
    for await (const row of this.persistence.readTombstones()) {
      const key = keyOf(row.mailbox, row.hash)
      if (row.expiry <= now) {
        this.pending.drop.set(key, { mailbox: row.mailbox, hash: row.hash })
        continue
      }
      const entry: Tombstone = { timestamp: row.timestamp, expiry: row.expiry }
      const proof = row.proofId !== undefined ? proofs.get(hex(row.proofId)) : undefined
      if (proof !== undefined) entry.proof = proof
      this.entries.set(key, entry)
    }
    while (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value
      if (oldest === undefined) break
      this.entries.delete(oldest)
      this.stageDrop(oldest)
    }
    await this.flush()
    return this.entries.size
  }

  private stage (key: string, mailbox: Uint8Array, hash: Uint8Array, entry: Tombstone): void {
    if (this.persistence === undefined) return
    const row: TombstoneRow = { mailbox: mailbox.slice(), hash: hash.slice(), timestamp: entry.timestamp, expiry: entry.expiry }
    if (entry.proof !== undefined) {
      const id = entry.proof.auth.signature
      const sig = hex(id)
      row.proofId = id
      const held = this.proofExpiry.get(sig)
      if (held === undefined || held.expiry < entry.expiry) {
        this.proofExpiry.set(sig, { id, expiry: entry.expiry })
        this.pending.dropProofs.delete(sig)
        this.pending.proofs.set(sig, { id, expiry: entry.expiry, bytes: encodeRequestMessage(0, entry.proof) })
      }
    }
    this.pending.drop.delete(key)
    this.pending.put.set(key, row)
  }

  private stageDrop (key: string): void {
    if (this.persistence === undefined) return
    this.pending.put.delete(key)
    this.pending.drop.set(key, splitKey(key))
  }
}

function emptyPending (): Pending {
  return { put: new Map(), drop: new Map(), proofs: new Map(), dropProofs: new Map() }
}

/** A persisted proof back as the signed delete it was; undefined when it does not decode as one. */
function decodeProof (bytes: Uint8Array): SignedDelete | undefined {
  try {
    const message = decodeMessage(bytes)
    if (message.type !== 'request') return undefined
    const req = message.request
    return req.op === SwarmOp.DELETE || req.op === SwarmOp.DELETE_ALL ? req : undefined
  } catch {
    return undefined
  }
}

function hex (b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

function keyOf (mailbox: Uint8Array, hash: Uint8Array): string {
  return hex(mailbox) + hex(hash)
}

function splitKey (key: string): { mailbox: Uint8Array, hash: Uint8Array } {
  return { mailbox: Buffer.from(key.slice(0, 64), 'hex'), hash: Buffer.from(key.slice(64), 'hex') }
}
