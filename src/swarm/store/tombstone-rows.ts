import { HASH_BYTES, MAILBOX_BYTES } from '../sizes.js'
import { writeU64 } from '../record-codec.js'
import { readU64 } from './store-keys.js'
import { StoreSchemaError } from './errors.js'

/**
 * Delete tombstones in the message store's LevelDB (layout version 1, tags
 * beside those of store-keys.ts), so that a delete survives restarts:
 *
 *   tag   key                          value
 *   04    mailbox | hash       (65 B)  timestamp u64 | expiry u64 | [proof id 64]
 *   05    proof id             (65 B)  expiry u64 | the owner's signed delete, as sent between members
 *
 * A proof (the owner's signed DELETE or DELETE_ALL) is shared by every
 * tombstone it caused, so it is stored once, under its signature, and kept
 * until the last of its tombstones expires. Rows are written in one batch
 * before the records they cover are deleted: a crash in between leaves the
 * tombstones, and the next start finishes the delete.
 */

const TAG_TOMBSTONE = 0x04
const TAG_PROOF = 0x05
export const PROOF_ID_BYTES = 64
const TOMBSTONE_KEY_BYTES = 1 + MAILBOX_BYTES + HASH_BYTES
const TOMBSTONE_VALUE_BYTES = 16

export interface TombstoneRow {
  mailbox: Uint8Array
  hash: Uint8Array
  timestamp: number
  expiry: number
  /** The signature of the proof that caused it, when known. */
  proofId?: Uint8Array
}

export interface ProofRow {
  id: Uint8Array
  expiry: number
  /** The encoded signed delete (opaque to the store). */
  bytes: Uint8Array
}

/** One atomic change to the persisted tombstones. */
export interface TombstoneBatch {
  put: TombstoneRow[]
  drop: Array<{ mailbox: Uint8Array, hash: Uint8Array }>
  proofs: ProofRow[]
  dropProofs: Uint8Array[]
}

/** Where tombstones are kept (the message store). */
export interface TombstonePersistence {
  writeTombstones: (batch: TombstoneBatch) => Promise<void>
  readTombstones: () => AsyncIterable<TombstoneRow>
  readDeleteProofs: () => AsyncIterable<ProofRow>
}

export function tombstoneKey (mailbox: Uint8Array, hash: Uint8Array): Uint8Array {
  const key = new Uint8Array(TOMBSTONE_KEY_BYTES)
  key[0] = TAG_TOMBSTONE
  key.set(mailbox, 1)
  key.set(hash, 1 + MAILBOX_BYTES)
  return key
}

export function encodeTombstoneValue (row: TombstoneRow): Uint8Array {
  const out = Buffer.alloc(TOMBSTONE_VALUE_BYTES + (row.proofId !== undefined ? PROOF_ID_BYTES : 0))
  writeU64(out, 0, row.timestamp)
  writeU64(out, 8, row.expiry)
  if (row.proofId !== undefined) out.set(row.proofId, TOMBSTONE_VALUE_BYTES)
  return out
}

export function decodeTombstoneRow (key: Uint8Array, value: Uint8Array): TombstoneRow {
  if (key.byteLength !== TOMBSTONE_KEY_BYTES || (value.byteLength !== TOMBSTONE_VALUE_BYTES && value.byteLength !== TOMBSTONE_VALUE_BYTES + PROOF_ID_BYTES)) {
    throw new StoreSchemaError('a tombstone row has the wrong size')
  }
  const row: TombstoneRow = {
    mailbox: key.slice(1, 1 + MAILBOX_BYTES),
    hash: key.slice(1 + MAILBOX_BYTES),
    timestamp: readU64(value, 0),
    expiry: readU64(value, 8)
  }
  if (value.byteLength > TOMBSTONE_VALUE_BYTES) row.proofId = value.slice(TOMBSTONE_VALUE_BYTES)
  return row
}

export function proofKey (id: Uint8Array): Uint8Array {
  const key = new Uint8Array(1 + PROOF_ID_BYTES)
  key[0] = TAG_PROOF
  key.set(id, 1)
  return key
}

export function encodeProofValue (row: ProofRow): Uint8Array {
  const out = Buffer.alloc(8 + row.bytes.byteLength)
  writeU64(out, 0, row.expiry)
  out.set(row.bytes, 8)
  return out
}

export function decodeProofRow (key: Uint8Array, value: Uint8Array): ProofRow {
  if (key.byteLength !== 1 + PROOF_ID_BYTES || value.byteLength < 8) throw new StoreSchemaError('a delete proof row has the wrong size')
  return { id: key.slice(1), expiry: readU64(value, 0), bytes: value.slice(8) }
}

/** The key range of one tag. */
export function tagRange (tag: 'tombstone' | 'proof'): { gte: Uint8Array, lt: Uint8Array } {
  const t = tag === 'tombstone' ? TAG_TOMBSTONE : TAG_PROOF
  return { gte: Uint8Array.of(t), lt: Uint8Array.of(t + 1) }
}
