import { performance } from 'node:perf_hooks'
import type { GhostClient } from '../../src/client/mailbox-client.js'
import type { MailboxKey } from '../../src/swarm/auth.js'

const encoder = new TextEncoder()
/** Pause after a failed store, so a lane with no usable path does not spin; counted in rebuild times. */
const FAILURE_PAUSE_MS = 10
export const LOAD_TTL_MS = 600_000

/** One acknowledged store. */
export interface AckedStore {
  text: string
  /** Index into the load's mailbox keys. */
  mailbox: number
  hash: Uint8Array
  /** Members the exit named as holding it when it acknowledged. */
  members: string[]
}

/** A completed request of one client: when it was sent and when it resolved (performance.now()). */
export interface Completion { client: number, startedAt: number, endedAt: number }

/**
 * Continuous STOREs through each client's circuits: `lanes` loops per client,
 * each sending the next store as soon as the previous one settles, spread over
 * the mailboxes; every body is unique. Records what was sent, acknowledged
 * (with its receipt) and refused, and when each client's stores completed.
 */
export class StoreLoad {
  sent = 0
  /**
   * Acknowledged as a duplicate (`stored: false`): an earlier attempt of the same
   * store reached the swarm but its answer was lost, and the client retried.
   */
  duplicates = 0
  readonly acked: AckedStore[] = []
  /** Failed stores by error code (or class name). */
  readonly failures = new Map<string, number>()
  readonly completions: Completion[][]
  private running = false
  private lanes: Array<Promise<void>> = []
  private readonly clients: GhostClient[]
  private readonly keys: MailboxKey[]
  private readonly lanesPerClient: number
  private readonly prefix: string

  constructor (init: { clients: GhostClient[], keys: MailboxKey[], lanesPerClient: number, prefix?: string }) {
    this.clients = init.clients
    this.keys = init.keys
    this.lanesPerClient = init.lanesPerClient
    this.prefix = init.prefix ?? 'load'
    this.completions = init.clients.map(() => [])
  }

  get failed (): number {
    let n = 0
    for (const v of this.failures.values()) n += v
    return n
  }

  start (): void {
    if (this.running) return
    this.running = true
    const total = this.clients.length * this.lanesPerClient
    this.lanes = this.clients.flatMap((_, c) => Array.from({ length: this.lanesPerClient }, async (_, l) => this.lane(c, l, total)))
  }

  /** Stops sending and waits for the stores in flight to settle (so `acked` is final). */
  async stop (): Promise<void> {
    this.running = false
    await Promise.all(this.lanes)
  }

  /**
   * Per client, ms from `since` to the end of its first successful store sent at
   * or after `since` (undefined: none yet). A store already in flight at `since`
   * does not count: it may have been answered by a circuit that no longer exists.
   */
  firstSuccessAfter (since: number): Array<number | undefined> {
    return this.completions.map(list => {
      const c = list.find(x => x.startedAt >= since)
      return c != null ? c.endedAt - since : undefined
    })
  }

  private async lane (client: number, lane: number, total: number): Promise<void> {
    const c = this.clients[client]
    const slot = client * this.lanesPerClient + lane
    for (let seq = 0; this.running; seq++) {
      const mailbox = (slot + seq * total) % this.keys.length
      const text = `${this.prefix}-c${client}-l${lane}-${seq}`
      this.sent++
      const startedAt = performance.now()
      try {
        const receipt = await c.store(this.keys[mailbox].publicKey, encoder.encode(text), { raw: true, ttlMs: LOAD_TTL_MS })
        this.completions[client].push({ client, startedAt, endedAt: performance.now() })
        this.acked.push({ text, mailbox, hash: receipt.hash, members: receipt.members })
        if (!receipt.stored) this.duplicates++
      } catch (err) {
        const code = (err as { code?: string }).code ?? (err as Error).name
        this.failures.set(code, (this.failures.get(code) ?? 0) + 1)
        await new Promise(resolve => setTimeout(resolve, FAILURE_PAUSE_MS))
      }
    }
  }
}
