import { randomBytes } from 'node:crypto'
import { ExitError } from '../../src/onion/circuit-errors.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { BenchSetupError, EchoMismatchError } from './errors.js'
import { tcpMultiaddr, waitForDirectories } from './onion-workload.js'
import type { Workload, WorkloadContext, WorkloadInstance } from './workload.js'

/** Mailboxes the workload cycles through, so each gets a few messages and pages stay small. */
const MAILBOXES = 64
const TTL_MS = 600_000

/**
 * Swarm STORE then RETRIEVE of the same message through 3-hop circuits: one
 * operation deposits `size` bytes into a mailbox (acked by a write quorum of
 * its swarm) and reads the mailbox back with a signed request, checking the
 * message is there. The relays' deposit and cell limits apply as configured.
 */
export const swarmStoreRetrieveWorkload: Workload = {
  name: 'swarm-store-retrieve',
  description: 'swarm STORE then signed RETRIEVE of the same message through 3-hop circuits (GhostClient in the bench process)',
  setup: async (ctx: WorkloadContext): Promise<WorkloadInstance> => {
    if (ctx.nodes.length < 3) throw new BenchSetupError(`a 3-hop circuit needs 3 nodes, got ${ctx.nodes.length}`)
    await waitForDirectories(ctx.nodes, ctx.signal)
    const client = await GhostClient.create({ bootstrap: ctx.nodes.map(tcpMultiaddr), requestTimeoutMs: ctx.requestTimeoutMs })
    const keys = Array.from({ length: MAILBOXES }, () => MailboxKey.generate())
    let next = 0
    let stored = 0
    return {
      op: async () => {
        const key = keys[next++ % keys.length]
        const data = randomBytes(ctx.sizeBytes)
        await client.store(key.publicKey, data, { raw: true, ttlMs: TTL_MS, timeoutMs: ctx.requestTimeoutMs })
        stored++
        const page = await client.retrieve(key, { timeoutMs: ctx.requestTimeoutMs })
        if (!page.messages.some(m => Buffer.from(m.data).equals(data))) {
          throw new EchoMismatchError(`a stored message of ${data.byteLength} B was not in its mailbox's first page`)
        }
      },
      classifyError: (err) => err instanceof ExitError ? `ExitError:${err.status}` : (err as Error).name ?? 'Error',
      resourceTargets: () => [
        ...ctx.nodes.map(n => ({ name: n.name, role: 'relay', httpUrl: n.httpUrl, ...(n.pid != null ? { pid: n.pid } : {}) })),
        { name: 'bench', role: 'bench-client', pid: process.pid }
      ],
      details: () => ({ mailboxes: MAILBOXES, messages_stored: stored, ttl_ms: TTL_MS }),
      close: async () => { await client.stop() }
    }
  }
}
