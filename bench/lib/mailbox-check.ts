import { join } from 'node:path'
import { ExitError } from '../../src/onion/circuit-errors.js'
import { SwarmStatus } from '../../src/swarm/status.js'
import { MessageStore } from '../../src/swarm/store.js'
import type { GhostClient } from '../../src/onion/client.js'
import type { MailboxKey } from '../../src/swarm/auth.js'
import type { RetrievePage } from '../../src/swarm/exit-protocol.js'

const decoder = new TextDecoder()
/** A restarted or just-healed member answers "still pulling" for a moment; how long a read keeps retrying. */
export const DEFAULT_NOT_READY_DEADLINE_MS = 10_000
const NOT_READY_PAUSE_MS = 50

/** One page, retried while the swarm answers SWARM_UNAVAILABLE (members still pulling their range). */
async function page (client: GhostClient, key: MailboxKey, cursor: Uint8Array | undefined, deadline: number): Promise<RetrievePage> {
  for (;;) {
    try {
      return await client.retrieve(key, cursor != null ? { cursor } : {})
    } catch (err) {
      if (!(err instanceof ExitError) || err.status !== SwarmStatus.SWARM_UNAVAILABLE || Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, NOT_READY_PAUSE_MS))
    }
  }
}

/** Every message of the key's mailbox (namespace 0) as text, read through circuits with signed RETRIEVEs, following cursors. */
export async function readMailbox (client: GhostClient, key: MailboxKey, notReadyDeadlineMs = DEFAULT_NOT_READY_DEADLINE_MS): Promise<Set<string>> {
  const deadline = Date.now() + notReadyDeadlineMs
  const found = new Set<string>()
  let cursor: Uint8Array | undefined
  do {
    const p = await page(client, key, cursor, deadline)
    for (const m of p.messages) found.add(decoder.decode(m.data))
    cursor = p.cursor
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
    const store = new MessageStore({ path: join(dir, 'swarm') })
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
