import type { Level } from 'level'
import { bytesId, getManyParallel, type BatchOp } from './put-batch.js'
import { commitRemoval, type Removal, type RemovalContext } from './remove-batch.js'
import {
  decodePointers, dueExpiryRange, encodePointers, hashKey, parseHashValue, type ExpiryPointer, type HashEntry,
  type NodeMeta
} from './store-keys.js'

export interface SweepContext extends RemovalContext {
  level: Level<Uint8Array, Uint8Array>
}

export interface SweepChunkResult {
  swept: number
  meta: NodeMeta
  /** Key of the last expiry entry handled; the next chunk starts after it. */
  lastKey?: Uint8Array
  more: boolean
}

/**
 * One sweeper step, run inside the store's writer: reads due expiry entries
 * (bucket start <= now) holding up to `maxPointers` pointers, checks each
 * pointer against the hash index, deletes the records that expired, and in
 * the same batch drops each entry or rewrites it with the pointers still
 * pending (its bucket is only partly past). Pointers left stale by deletes or
 * expiry extensions (the hash index holds no record, or another expiry) are
 * dropped.
 */
export async function sweepChunk (ctx: SweepContext, now: number, maxPointers: number, after?: Uint8Array): Promise<SweepChunkResult> {
  const range = dueExpiryRange(now)
  const it = ctx.level.iterator(after === undefined ? range : { gt: after, lt: range.lt })
  const entries: Array<{ key: Uint8Array, pointers: ExpiryPointer[] }> = []
  let pointerCount = 0
  let more = false
  try {
    for (;;) {
      const next = await it.next()
      if (next === undefined) break
      if (pointerCount >= maxPointers) {
        more = true
        break
      }
      const pointers = decodePointers(next[1])
      entries.push({ key: next[0], pointers })
      pointerCount += pointers.length
    }
  } finally {
    await it.close()
  }

  // Several entries may point at one record (re-stored after a delete): look it up, and remove it, once.
  const unique = new Map<string, { p: ExpiryPointer, key: Uint8Array }>()
  for (const e of entries) {
    for (const p of e.pointers) {
      const key = hashKey(p.mailbox, p.hash)
      unique.set(bytesId(key), { p, key })
    }
  }
  const lookups = [...unique]
  const values = await getManyParallel(ctx.db, lookups.map(([, u]) => u.key))
  const current = new Map<string, HashEntry>()
  lookups.forEach(([id], i) => {
    const v = values[i]
    if (v !== undefined) current.set(id, parseHashValue(v))
  })

  // Any pointer reaching a record now expired may remove it, stale or not.
  const removals: Removal[] = []
  for (const [id, { p }] of unique) {
    const entry = current.get(id)
    if (entry !== undefined && entry.expiry <= now) removals.push({ mailbox: p.mailbox, hash: p.hash, entry })
  }
  const ops: BatchOp[] = []
  for (const e of entries) {
    // Kept: pointers that are current (same expiry as the index) and not yet due.
    const pending = e.pointers.filter(p => {
      const entry = current.get(bytesId(hashKey(p.mailbox, p.hash)))
      return entry !== undefined && entry.expiry === p.expiry && entry.expiry > now
    })
    if (pending.length === 0) ops.push({ type: 'del', key: e.key })
    else if (pending.length < e.pointers.length) ops.push({ type: 'put', key: e.key, value: encodePointers(pending) })
  }
  const meta = await commitRemoval(ctx, removals, ops)
  return { swept: removals.length, meta, lastKey: entries[entries.length - 1]?.key, more }
}
