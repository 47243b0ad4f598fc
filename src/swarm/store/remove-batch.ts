import { bytesId, type BatchOp, type StoreDb } from './put-batch.js'
import {
  KEY_NODE_META, encodeNodeMeta, hashKey, recordKey, type HashEntry, type NodeMeta, type Usage
} from './store-keys.js'
import type { UsageCache, UsageScan } from './usage-cache.js'

/** A stored record to remove, as the hash index describes it. */
export interface Removal {
  mailbox: Uint8Array
  hash: Uint8Array
  entry: HashEntry
}

export interface RemovalContext {
  db: StoreDb
  usageCache: UsageCache
  scanUsage: UsageScan
  meta: NodeMeta
  sync: boolean
}

/**
 * Deletes records (record and hash-index entries; their expiry pointers go
 * stale and are dropped by the sweeper) and lowers the node totals in the
 * same atomic batch, together with `extraOps`. Runs inside the store's writer,
 * each record passed once. Returns the node meta after the batch.
 */
export async function commitRemoval (ctx: RemovalContext, removals: Removal[], extraOps: BatchOp[] = []): Promise<NodeMeta> {
  if (removals.length === 0 && extraOps.length === 0) return ctx.meta
  const mailboxes = new Map<string, Uint8Array>()
  for (const r of removals) mailboxes.set(bytesId(r.mailbox), r.mailbox)
  const usage = await ctx.usageCache.load(ctx.scanUsage, mailboxes)
  const node: NodeMeta = { ...ctx.meta }
  const ops: BatchOp[] = [...extraOps]
  for (const { mailbox, hash, entry } of removals) {
    ops.push(
      { type: 'del', key: recordKey({ mailbox, namespace: entry.namespace, timestamp: entry.timestamp }, hash) },
      { type: 'del', key: hashKey(mailbox, hash) }
    )
    const u = usage.get(bytesId(mailbox)) as Usage
    u.records--
    u.bytes -= entry.size
    node.records--
    node.bytes -= entry.size
  }
  ops.push({ type: 'put', key: KEY_NODE_META, value: encodeNodeMeta(node) })
  await ctx.db.batch(ops, { sync: ctx.sync })
  ctx.usageCache.commit(usage)
  return node
}
