import { ExitStatus } from '../onion/exit.js'
import {
  InvalidCursorError, InvalidRecordError, InvalidRequestError, MailboxFullError, MalformedStoredRecordError, StoredMessageTooLargeError,
  NodeFullError, StoredRecordExpiredError, RecordHashMismatchError, TtlOutOfBoundsError, UnsupportedRecordVersionError
} from './store/errors.js'
import {
  BadSignatureError, QuorumFailedError, ReplayedRequestError, StaleTimestampError, SwarmBusyError, SwarmNotReadyError, SwarmPeerStatusError,
  SubscriptionLimitError, SwarmProtocolError, SwarmRequestTimeoutError, SwarmUnauthorizedError, SwarmUnavailableError, UnsupportedSwarmVersionError
} from './service-errors.js'

/**
 * Status codes of swarm answers. The swarm-specific codes (16 and up) are the
 * same numbers in exit responses (docs/protocol.md §10.3) and in node-to-node
 * responses (§10.5), so a store error travels from a member through the
 * coordinator to the client unchanged. Codes below 16 are the exit's generic
 * ones (ExitStatus) at the exit, and SwarmPeerStatus on the node-to-node protocol.
 */
export const SwarmStatus = {
  /** The message's data exceeds `swarm.maxMessageBytes`. */
  MESSAGE_TOO_LARGE: 16,
  /** TTL below `swarm.minTtlMs` or above `swarm.maxTtlMs`. */
  TTL_OUT_OF_BOUNDS: 17,
  /** The mailbox's byte or record quota is reached. */
  MAILBOX_FULL: 18,
  /** The member's total byte quota is reached. */
  NODE_FULL: 19,
  /** The signature does not verify under the mailbox key. */
  BAD_SIGNATURE: 20,
  /** The signed timestamp is outside ±`swarm.clockSkewMs` of the node's clock. */
  STALE_TIMESTAMP: 21,
  /** Fewer than W members stored the message. */
  QUORUM_FAILED: 22,
  /** A record is malformed, expired, or its hash does not match its content. */
  INVALID_RECORD: 23,
  /** The retrieve cursor is not one the swarm issued. */
  INVALID_CURSOR: 24,
  /** No member of the mailbox's swarm could answer (none known, reachable or ready). */
  SWARM_UNAVAILABLE: 25,
  /** A member already executed this signed read or delete (same signature): a replay is refused. */
  REPLAYED: 26,
  /** Too many subscriptions wait on this circuit, node or member, or the memory budget is spent: retry later. */
  SUBSCRIPTION_LIMIT: 27
} as const

/** Node-to-node statuses below 16 (§10.5). */
export const SwarmPeerStatus = {
  OK: 0,
  BAD_REQUEST: 1,
  /** The requester has no verified node record with the SWARM capability. */
  UNAUTHORIZED: 2,
  RATE_LIMITED: 3,
  /** Too many requests in flight on this stream. */
  BUSY: 4,
  /** The member is still pulling the range this mailbox lies in. */
  NOT_READY: 5,
  INTERNAL: 6,
  UNKNOWN_OP: 7
} as const

/** Fixed label values for metrics: the status name, never a free-form string. */
const PEER_STATUS_NAMES: Record<number, string> = {
  0: 'ok',
  1: 'bad_request',
  2: 'unauthorized',
  3: 'rate_limited',
  4: 'busy',
  5: 'not_ready',
  6: 'internal',
  7: 'unknown_op',
  16: 'too_large',
  17: 'ttl_out_of_bounds',
  18: 'mailbox_full',
  19: 'node_full',
  22: 'quorum_failed',
  23: 'invalid_record',
  20: 'bad_signature',
  21: 'stale_timestamp',
  24: 'invalid_cursor',
  25: 'unavailable',
  26: 'replayed',
  27: 'subscription_limit'
}

export function peerStatusName (status: number): string {
  return PEER_STATUS_NAMES[status] ?? 'other'
}

/** The swarm status (≥ 16) of a typed error, if it has one. */
export function swarmStatusOf (err: unknown): number | undefined {
  if (err instanceof StoredMessageTooLargeError) return SwarmStatus.MESSAGE_TOO_LARGE
  if (err instanceof TtlOutOfBoundsError) return SwarmStatus.TTL_OUT_OF_BOUNDS
  if (err instanceof MailboxFullError) return SwarmStatus.MAILBOX_FULL
  if (err instanceof NodeFullError) return SwarmStatus.NODE_FULL
  if (err instanceof BadSignatureError) return SwarmStatus.BAD_SIGNATURE
  if (err instanceof StaleTimestampError) return SwarmStatus.STALE_TIMESTAMP
  if (err instanceof QuorumFailedError) return SwarmStatus.QUORUM_FAILED
  if (err instanceof StoredRecordExpiredError || err instanceof RecordHashMismatchError || err instanceof InvalidRecordError ||
    err instanceof MalformedStoredRecordError || err instanceof UnsupportedRecordVersionError) return SwarmStatus.INVALID_RECORD
  if (err instanceof InvalidCursorError) return SwarmStatus.INVALID_CURSOR
  if (err instanceof SwarmUnavailableError) return SwarmStatus.SWARM_UNAVAILABLE
  if (err instanceof ReplayedRequestError) return SwarmStatus.REPLAYED
  if (err instanceof SubscriptionLimitError) return SwarmStatus.SUBSCRIPTION_LIMIT
  if (err instanceof SwarmPeerStatusError && err.status >= 16) return err.status
  return undefined
}

/** The node-to-node status for an error raised while serving a request. */
export function peerStatusOf (err: unknown): number {
  const swarm = swarmStatusOf(err)
  if (swarm !== undefined) return swarm
  if (err instanceof SwarmNotReadyError) return SwarmPeerStatus.NOT_READY
  if (err instanceof SwarmUnauthorizedError) return SwarmPeerStatus.UNAUTHORIZED
  if (err instanceof SwarmBusyError) return SwarmPeerStatus.BUSY
  if (err instanceof InvalidRequestError || err instanceof SwarmProtocolError || err instanceof UnsupportedSwarmVersionError) return SwarmPeerStatus.BAD_REQUEST
  return SwarmPeerStatus.INTERNAL
}

/** The exit status for an error raised while serving a SWARM exit request. */
export function exitStatusOf (err: unknown): number {
  const swarm = swarmStatusOf(err)
  if (swarm !== undefined) return swarm
  if (err instanceof InvalidRequestError || err instanceof SwarmProtocolError) return ExitStatus.BAD_REQUEST
  if (err instanceof SwarmRequestTimeoutError) return SwarmStatus.SWARM_UNAVAILABLE
  return ExitStatus.INTERNAL
}

/**
 * The typed error for a member's non-OK answer: store conditions come back as
 * the store's own classes, so the coordinator handles a remote refusal exactly
 * like a local one.
 */
export function errorOfPeerStatus (status: number, message: string): Error {
  switch (status) {
    case SwarmStatus.MESSAGE_TOO_LARGE: return Object.assign(new StoredMessageTooLargeError(0, 0), { message })
    case SwarmStatus.TTL_OUT_OF_BOUNDS: return Object.assign(new TtlOutOfBoundsError(0, 0, 0), { message })
    case SwarmStatus.MAILBOX_FULL: return Object.assign(new MailboxFullError('bytes', 0), { message })
    case SwarmStatus.NODE_FULL: return Object.assign(new NodeFullError(0), { message })
    case SwarmStatus.INVALID_RECORD: return new InvalidRecordError(message)
    case SwarmStatus.INVALID_CURSOR: return new InvalidCursorError(message)
    case SwarmStatus.BAD_SIGNATURE: return new BadSignatureError(message)
    case SwarmStatus.STALE_TIMESTAMP: return Object.assign(new StaleTimestampError(0, 0), { message })
    case SwarmStatus.REPLAYED: return new ReplayedRequestError(message)
    case SwarmStatus.SUBSCRIPTION_LIMIT: return new SubscriptionLimitError(message)
    case SwarmPeerStatus.NOT_READY: return new SwarmNotReadyError()
    case SwarmPeerStatus.UNAUTHORIZED: return new SwarmUnauthorizedError()
    case SwarmPeerStatus.BUSY: return new SwarmBusyError(message)
    default: return new SwarmPeerStatusError(status, message)
  }
}
