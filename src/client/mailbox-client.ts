import { ExitError } from '../onion/circuit-errors.js'
import { ExitService, ExitStatus } from '../onion/exit.js'
import type { MailboxKey } from '../swarm/auth.js'
import {
  DEFAULT_SUBSCRIBE_WAIT_MS, deleteAllBody, deleteBody, retrieveBody, storeBody, subscribeBody, type RetrieveOptions, type SignedOptions, type StoreOptions
} from '../swarm/exit/client-ops.js'
import { SubscriptionState } from './subscription-state.js'
import { NoPathError } from '../onion/circuit-errors.js'
import {
  decodeDeleteCount, decodeRetrievePage, decodeStoreReceipt, type RetrievedMessage, type RetrievePage, type StoreReceipt
} from '../swarm/exit/exit-protocol.js'
import { SwarmStatus } from '../swarm/status.js'
import { CircuitClient, type CircuitClientInit } from './circuit-client.js'
import { EnvelopeError, NotAnEnvelopeError } from './envelope-errors.js'
import { openEnvelope, sealEnvelope } from './envelope.js'
import { DEFAULT_MAX_SWARM_MESSAGE_BYTES } from '../swarm/constants.js'

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
  /** Largest message the network's swarms store (`swarm.maxMessageBytes`): sealed envelopes pad up to it. @default 65536 */
  maxEnvelopeBytes?: number
}

export interface SendOptions extends StoreOptions {
  /** Store `data` as given, unsealed (for applications with their own encryption). @default false */
  raw?: boolean
  /** Sign inside the envelope with this mailbox key, so the recipient learns and verifies the sender. */
  from?: MailboxKey
  timeoutMs?: number
}

/** A mailbox message as `fetch` returns it: opened when it was sealed to the key. */
export interface FetchedMessage extends RetrievedMessage {
  /**
   * `sealed`: an envelope this key opened (`content`, and `sender` when signed);
   * `raw`: stored unsealed (`content` is the data); `unopenable`: an envelope
   * this key cannot open or whose inside is invalid (`error` says which).
   */
  kind: 'sealed' | 'raw' | 'unopenable'
  content?: Uint8Array
  /** The sender's mailbox key; present only when its signature inside the envelope verified. */
  sender?: Uint8Array
  error?: EnvelopeError
}

export interface SubscribeOptions {
  /** @default 0 */
  namespace?: number
  /** Deliver messages stored at or after this time (ms since the epoch). @default 0: everything in the mailbox, then what arrives */
  since?: number
  /** How long each request may wait at the exit (it holds at most 25 s). @default 20000 */
  waitMs?: number
  /** Ends the subscription. */
  signal?: AbortSignal
  /** Told of each failed attempt before the subscription tries again (through a new circuit when the old one failed). */
  onRetry?: (err: Error) => void
}

/** Pause after a failed subscription attempt, doubling up to the maximum. */
const SUBSCRIBE_RETRY_FIRST_MS = 250
const SUBSCRIBE_RETRY_MAX_MS = 5_000
/** Extra time the client gives a held request beyond its wait (circuit round trip, the exit's answer). */
const SUBSCRIBE_TIMEOUT_SLACK_MS = 10_000

export interface FetchedPage {
  messages: FetchedMessage[]
  cursor?: Uint8Array
}

/** Opens one retrieved message with `key`, classifying what cannot be opened instead of throwing. */
export function openMessage (key: MailboxKey, message: RetrievedMessage): FetchedMessage {
  try {
    const opened = openEnvelope(key, message.data)
    return { ...message, kind: 'sealed', content: opened.content, ...(opened.sender != null ? { sender: opened.sender } : {}) }
  } catch (err) {
    if (err instanceof NotAnEnvelopeError) return { ...message, kind: 'raw', content: message.data }
    if (err instanceof EnvelopeError) return { ...message, kind: 'unopenable', error: err }
    throw err
  }
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
   * circuit, sealed to that key (envelope.ts; `raw: true` stores `data` as given).
   * The exit acknowledges once W swarm members hold it; the receipt names them.
   * The message is sealed once, so retries resend the same bytes and the swarm
   * keeps one copy (`stored: false` on a repeat); two calls with the same data are
   * two messages. A refusal throws ExitError with the status of docs/protocol.md §10.3.
   */
  async store (mailbox: Uint8Array, data: Uint8Array, options: SendOptions = {}): Promise<StoreReceipt> {
    const bytes = options.raw === true
      ? data
      : sealEnvelope(mailbox, data, { maxBytes: this.init.maxEnvelopeBytes ?? DEFAULT_MAX_SWARM_MESSAGE_BYTES, ...(options.from != null ? { from: options.from } : {}) })
    const body = storeBody(mailbox, bytes, options)
    return decodeStoreReceipt(await this.swarmRequest(() => body, options))
  }

  /** One page of the key's mailbox, each message opened with the key (see FetchedMessage). */
  async fetch (key: MailboxKey, options: RetrieveOptions & { timeoutMs?: number } = {}): Promise<FetchedPage> {
    const page = await this.retrieve(key, options)
    return { messages: page.messages.map(m => openMessage(key, m)), ...(page.cursor !== undefined ? { cursor: page.cursor } : {}) }
  }

  /**
   * Live delivery: yields each message of the key's mailbox once, opened, as it
   * is stored (docs/protocol.md §10.8). Each step is one signed long poll the
   * exit holds until a swarm member pushes a new record or the wait ends; no
   * polling. A lost circuit or relay is rebuilt around and the subscription
   * resumes from what it already has, so nothing is lost or repeated. Ends when
   * `signal` aborts.
   */
  async * subscribe (key: MailboxKey, options: SubscribeOptions = {}): AsyncGenerator<FetchedMessage> {
    const state = new SubscriptionState(options.since ?? 0)
    const waitMs = options.waitMs ?? DEFAULT_SUBSCRIBE_WAIT_MS
    const namespace = options.namespace ?? 0
    const signal = options.signal
    let delay = SUBSCRIBE_RETRY_FIRST_MS
    const ended = (): boolean => signal?.aborted === true
    while (!ended()) {
      let page: RetrievePage
      try {
        const body = await untilAborted(this.swarmRequest(
          () => subscribeBody(key, { namespace, since: state.since, waitMs, known: state.knownHashes() }),
          { timeoutMs: waitMs + SUBSCRIBE_TIMEOUT_SLACK_MS }), signal)
        if (body === undefined) return
        page = decodeRetrievePage(body)
        delay = SUBSCRIBE_RETRY_FIRST_MS
      } catch (err) {
        if (ended()) return
        // a refusal that retrying cannot fix ends the subscription; anything else is tried again
        if (err instanceof ExitError && !RETRYABLE_STATUSES.has(err.status)) throw err
        options.onRetry?.(err as Error)
        await untilAborted(new Promise(resolve => setTimeout(resolve, delay)), signal)
        delay = Math.min(delay * 2, SUBSCRIBE_RETRY_MAX_MS)
        if (err instanceof NoPathError) await this.refreshDirectory().catch(() => {})
        continue
      }
      for (const message of state.accept(page.messages, Date.now())) yield openMessage(key, message)
    }
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

/** Statuses after which a subscription tries again (after a pause) rather than ending. */
const RETRYABLE_STATUSES = new Set<number>([
  SwarmStatus.SWARM_UNAVAILABLE, SwarmStatus.SUBSCRIPTION_LIMIT, SwarmStatus.QUORUM_FAILED, SwarmStatus.STALE_TIMESTAMP, SwarmStatus.REPLAYED,
  ExitStatus.RATE_LIMITED, ExitStatus.UNAVAILABLE, ExitStatus.INTERNAL
])

/** `work`'s value, or undefined as soon as `signal` aborts (the work itself is left to finish). */
async function untilAborted<T> (work: Promise<T>, signal?: AbortSignal): Promise<T | undefined> {
  if (signal == null) return work
  // left to finish on its own after an abort: its failure then is nobody's business
  work.catch(() => {})
  if (signal.aborted) return undefined
  let onAbort!: () => void
  const aborted = new Promise<undefined>(resolve => { onAbort = () => { resolve(undefined) } })
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([work, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

function timeoutOf (options: { timeoutMs?: number }): { timeoutMs?: number } {
  return options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}
}
