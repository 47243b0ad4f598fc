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
