import { join } from 'node:path'
import { MessageStore } from '../../src/swarm/store/store.js'
import type { GhostClient } from '../../src/client/mailbox-client.js'
import type { MailboxKey } from '../../src/swarm/auth.js'
import { Registry } from 'prom-client'

const decoder = new TextDecoder()

/**
 * Every message of the key's mailbox (namespace 0) as text, read through circuits with signed RETRIEVEs,
 * following cursors. A restarted or just-healed member's "still pulling" answer is retried by the client
 * (GhostClientInit.swarmUnavailableRetryMs).
 */
export async function readMailbox (client: GhostClient, key: MailboxKey): Promise<Set<string>> {
  const found = new Set<string>()
  let cursor: Uint8Array | undefined
  do {
    const page = await client.retrieve(key, cursor != null ? { cursor } : {})
    for (const m of page.messages) found.add(decoder.decode(m.data))
    cursor = page.cursor
  } while (cursor != null)
  return found
}

export interface StoredCheck { mailbox: Uint8Array, hash: Uint8Array }

/**
 * Whether each node's own database holds each record: `result[node][check]`.
 * Opens `<dataDir>/swarm` of every node in turn, so the nodes must have
 * stopped (LevelDB allows one process per database). Nothing is written.
 */
export async function inspectStores (dataDirs: string[], checks: StoredCheck[]): Promise<boolean[][]> {
  const out: boolean[][] = []
  for (const dir of dataDirs) {
    const store = new MessageStore({ path: join(dir, 'swarm'), registry: new Registry() })
    await store.open()
    try {
      const held: boolean[] = []
      for (const c of checks) held.push(await store.has(c.mailbox, c.hash))
      out.push(held)
    } finally {
      await store.close()
    }
  }
  return out
}
