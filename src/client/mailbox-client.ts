import { ExitError } from '../onion/circuit-errors.js'
import { ExitService } from '../onion/exit.js'
import type { MailboxKey } from '../swarm/auth.js'
import {
  deleteAllBody, deleteBody, retrieveBody, storeBody, type RetrieveOptions, type SignedOptions, type StoreOptions
} from '../swarm/exit/client-ops.js'
import { decodeDeleteCount, decodeRetrievePage, decodeStoreReceipt, type RetrievePage, type StoreReceipt } from '../swarm/exit/exit-protocol.js'
import { SwarmStatus } from '../swarm/status.js'
import { CircuitClient, type CircuitClientInit } from './circuit-client.js'

/** How long a swarm request keeps retrying while the swarm answers "unavailable, retry shortly". */
export const DEFAULT_SWARM_UNAVAILABLE_RETRY_MS = 10_000
const SWARM_RETRY_FIRST_DELAY_MS = 100
const SWARM_RETRY_MAX_DELAY_MS = 1_000

export interface GhostClientInit extends CircuitClientInit {
  /**
   * A swarm request answered SWARM_UNAVAILABLE (members still pulling the mailbox
   * after a restart or a join, none reachable) is retried with backoff for this
   * long, signed afresh each time; 0 reports the status at once. @default 10000
   */
  swarmUnavailableRetryMs?: number
}

/**
 * The mailbox client: a CircuitClient that also stores, retrieves and deletes
 * mailbox messages through the exit's SWARM service (docs/protocol.md §10.3).
 */
export class GhostClient extends CircuitClient {
  protected declare readonly init: GhostClientInit

  static override async create (init: GhostClientInit): Promise<GhostClient> {
    return CircuitClient.open(init, (libp2p) => new GhostClient(libp2p, init))
  }

  /**
   * Deposits a message into `mailbox` (the recipient's Ed25519 public key) through a
   * circuit. The exit acknowledges once W swarm members hold it; the receipt names them.
   * Storing the same data again is harmless: the swarm keeps one copy (`stored: false`).
   * A refusal throws ExitError with the status of docs/protocol.md §10.3.
   */
  async store (mailbox: Uint8Array, data: Uint8Array, options: StoreOptions & { timeoutMs?: number } = {}): Promise<StoreReceipt> {
    return decodeStoreReceipt(await this.swarmRequest(() => storeBody(mailbox, data, options), options))
  }

  /** One page of the key's mailbox, signed by the key; pass `cursor` back for the next page. */
  async retrieve (key: MailboxKey, options: RetrieveOptions & { timeoutMs?: number } = {}): Promise<RetrievePage> {
    return decodeRetrievePage(await this.swarmRequest(() => retrieveBody(key, options), options))
  }

  /** Deletes the listed messages (by hash) from the key's mailbox; returns how many existed. */
  async delete (key: MailboxKey, hashes: Uint8Array[], options: SignedOptions & { timeoutMs?: number } = {}): Promise<number> {
    return decodeDeleteCount(await this.swarmRequest(() => deleteBody(key, hashes, options), options))
  }

  /** Deletes every message of the key's mailbox (or of one namespace). */
  async deleteAll (key: MailboxKey, options: { namespace?: number, timestamp?: number, timeoutMs?: number } = {}): Promise<number> {
    return decodeDeleteCount(await this.swarmRequest(() => deleteAllBody(key, options), options))
  }

  /**
   * A SWARM request, retried while the swarm is briefly unavailable. Every swarm
   * operation is idempotent (stores are deduplicated by content, deletes by hash),
   * so a retry cannot double anything; `body` is called per attempt so a signed
   * request carries a fresh timestamp.
   */
  private async swarmRequest (body: () => Uint8Array, options: { timeoutMs?: number }): Promise<Uint8Array> {
    const deadline = Date.now() + (this.init.swarmUnavailableRetryMs ?? DEFAULT_SWARM_UNAVAILABLE_RETRY_MS)
    let delay = SWARM_RETRY_FIRST_DELAY_MS
    for (;;) {
      try {
        return await this.request(ExitService.SWARM, body(), timeoutOf(options))
      } catch (err) {
        if (!(err instanceof ExitError) || err.status !== SwarmStatus.SWARM_UNAVAILABLE || Date.now() + delay > deadline) throw err
        await new Promise(resolve => setTimeout(resolve, delay))
        delay = Math.min(delay * 2, SWARM_RETRY_MAX_DELAY_MS)
      }
    }
  }
}

function timeoutOf (options: { timeoutMs?: number }): { timeoutMs?: number } {
  return options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}
}
