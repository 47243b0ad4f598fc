import { encodeSwarmExitRequest, signedFieldsOf, SwarmExitOp, type SwarmExitRequest } from './exit-protocol.js'
import { authMessage, type MailboxKey } from '../auth.js'

/**
 * Client side of the SWARM exit service: builds (and for reads and deletes,
 * signs) request bodies. GhostClient sends them through a circuit.
 */

/** TTL of a stored message when the caller gives none: one day. */
export const DEFAULT_CLIENT_TTL_MS = 86_400_000
/** Page budget of a retrieve when the caller gives none. */
export const DEFAULT_RETRIEVE_MAX_BYTES = 64 * 1024

export interface StoreOptions {
  /** @default 86400000 (1 day) */
  ttlMs?: number
  /** @default 0 */
  namespace?: number
}

export interface SignedOptions {
  /** @default 0 */
  namespace?: number
  /** Signed timestamp in ms. @default Date.now() */
  timestamp?: number
}

export interface RetrieveOptions extends SignedOptions {
  /** `cursor` of the previous page. */
  cursor?: Uint8Array
  /** @default 65536 */
  maxBytes?: number
}

export function storeBody (mailbox: Uint8Array, data: Uint8Array, options: StoreOptions = {}): Uint8Array {
  return encodeSwarmExitRequest({ op: SwarmExitOp.STORE, mailbox, namespace: options.namespace ?? 0, ttlMs: options.ttlMs ?? DEFAULT_CLIENT_TTL_MS, data })
}

export function retrieveBody (key: MailboxKey, options: RetrieveOptions = {}): Uint8Array {
  return signed(key, {
    op: SwarmExitOp.RETRIEVE,
    mailbox: key.publicKey,
    namespace: options.namespace ?? 0,
    timestamp: options.timestamp ?? Date.now(),
    maxBytes: options.maxBytes ?? DEFAULT_RETRIEVE_MAX_BYTES,
    ...(options.cursor !== undefined ? { cursor: options.cursor } : {}),
    signature: new Uint8Array(64)
  })
}

export function deleteBody (key: MailboxKey, hashes: Uint8Array[], options: SignedOptions = {}): Uint8Array {
  return signed(key, {
    op: SwarmExitOp.DELETE,
    mailbox: key.publicKey,
    namespace: options.namespace ?? 0,
    timestamp: options.timestamp ?? Date.now(),
    hashes,
    signature: new Uint8Array(64)
  })
}

/** Without `namespace`, every namespace of the mailbox. */
export function deleteAllBody (key: MailboxKey, options: { namespace?: number, timestamp?: number } = {}): Uint8Array {
  return signed(key, {
    op: SwarmExitOp.DELETE_ALL,
    mailbox: key.publicKey,
    ...(options.namespace !== undefined ? { namespace: options.namespace } : {}),
    timestamp: options.timestamp ?? Date.now(),
    signature: new Uint8Array(64)
  })
}

function signed (key: MailboxKey, req: Exclude<SwarmExitRequest, { op: typeof SwarmExitOp.STORE }>): Uint8Array {
  req.signature = key.sign(authMessage(signedFieldsOf(req)))
  return encodeSwarmExitRequest(req)
}

export interface SubscribeBodyOptions extends SignedOptions {
  /** Records stored at or after this time (ms). @default 0 (all) */
  since?: number
  /** How long the exit may hold the request open. @default 20000 */
  waitMs?: number
  /** @default 65536 */
  maxBytes?: number
  /** Hashes of records at or after `since` the subscriber already has (at most 64). */
  known?: Uint8Array[]
}

/** How long a subscription asks the exit to wait when the caller gives nothing. */
export const DEFAULT_SUBSCRIBE_WAIT_MS = 20_000

export function subscribeBody (key: MailboxKey, options: SubscribeBodyOptions = {}): Uint8Array {
  return signed(key, {
    op: SwarmExitOp.SUBSCRIBE,
    mailbox: key.publicKey,
    namespace: options.namespace ?? 0,
    timestamp: options.timestamp ?? Date.now(),
    since: options.since ?? 0,
    waitMs: options.waitMs ?? DEFAULT_SUBSCRIBE_WAIT_MS,
    maxBytes: options.maxBytes ?? DEFAULT_RETRIEVE_MAX_BYTES,
    known: options.known ?? [],
    signature: new Uint8Array(64)
  })
}
