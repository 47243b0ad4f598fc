import { GhostnodeError } from '../errors.js'

/**
 * Errors of the swarm service: the node-to-node protocol, the coordinator,
 * request authentication and churn. The store's own errors are in errors.ts.
 */

/** Bytes from the wire are not a well-formed swarm frame or body. */
export class SwarmProtocolError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_SWARM_PROTOCOL')
  }
}

/** A swarm message carries a wire version this build does not speak. */
export class UnsupportedSwarmVersionError extends GhostnodeError {
  readonly version: number
  constructor (version: number) {
    super(`unsupported swarm wire version ${version}`, 'ERR_SWARM_VERSION')
    this.version = version
  }
}

/** A frame announces more bytes than the protocol allows. */
export class SwarmFrameTooLargeError extends GhostnodeError {
  constructor (length: number, max: number) {
    super(`swarm frame of ${length} bytes exceeds ${max}`, 'ERR_SWARM_FRAME_TOO_LARGE')
  }
}

/** The stream to a swarm peer closed (or could not be opened) before the answer came. */
export class SwarmChannelClosedError extends GhostnodeError {
  constructor (message = 'swarm channel closed', options?: ErrorOptions) {
    super(message, 'ERR_SWARM_CHANNEL_CLOSED', options)
  }
}

/** Too many requests to one peer are already in flight or queued. */
export class SwarmBusyError extends GhostnodeError {
  constructor (message = 'too many swarm requests in flight') {
    super(message, 'ERR_SWARM_BUSY')
  }
}

/** A swarm peer did not answer in time. */
export class SwarmRequestTimeoutError extends GhostnodeError {
  constructor (timeoutMs: number) {
    super(`no swarm answer within ${timeoutMs} ms`, 'ERR_SWARM_TIMEOUT')
  }
}

/** A swarm peer answered with a status that has no more specific error class. */
export class SwarmPeerStatusError extends GhostnodeError {
  readonly status: number
  constructor (status: number, message: string) {
    super(message, 'ERR_SWARM_PEER_STATUS')
    this.status = status
  }
}

/** This member has not yet pulled the range the mailbox lies in (after a ring change). */
export class SwarmNotReadyError extends GhostnodeError {
  constructor () {
    super('swarm member is still pulling this range', 'ERR_SWARM_NOT_READY')
  }
}

/** The requesting peer has no verified node record with the SWARM capability. */
export class SwarmUnauthorizedError extends GhostnodeError {
  constructor () {
    super('peer is not a verified swarm member', 'ERR_SWARM_UNAUTHORIZED')
  }
}

/** Fewer than W members acknowledged a write. */
export class QuorumFailedError extends GhostnodeError {
  readonly stored: number
  readonly required: number
  constructor (stored: number, required: number, detail = '') {
    super(`only ${stored} of the ${required} required swarm members stored the message${detail !== '' ? ` (${detail})` : ''}`, 'ERR_SWARM_QUORUM')
    this.stored = stored
    this.required = required
  }
}

/** No swarm member could answer (none known, none reachable, or none ready). */
export class SwarmUnavailableError extends GhostnodeError {
  constructor (message = 'no swarm member could answer') {
    super(message, 'ERR_SWARM_UNAVAILABLE')
  }
}

/** A signed request's signature does not verify under the mailbox key. */
export class BadSignatureError extends GhostnodeError {
  constructor (message = 'signature does not verify under the mailbox key') {
    super(message, 'ERR_SWARM_BAD_SIGNATURE')
  }
}

/** A signed request's timestamp is outside the accepted window around the node's clock. */
export class StaleTimestampError extends GhostnodeError {
  readonly skewMs: number
  constructor (skewMs: number, windowMs: number) {
    super(`request timestamp is ${Math.round(skewMs / 1000)} s from the node's clock (window ±${windowMs / 1000} s)`, 'ERR_SWARM_STALE_TIMESTAMP')
    this.skewMs = skewMs
  }
}

/** A signed read or delete this member has already executed (same signature): not run twice. */
export class ReplayedRequestError extends GhostnodeError {
  constructor (message = 'this signed request was already executed here') {
    super(message, 'ERR_SWARM_REPLAYED')
  }
}

/** A mailbox key file or key text is not usable. */
export class InvalidMailboxKeyError extends GhostnodeError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_MAILBOX_KEY', options)
  }
}

/** A subscription over its bounds: per circuit, per node, per member, or the memory budget. */
export class SubscriptionLimitError extends GhostnodeError {
  constructor (message = 'too many subscriptions waiting') {
    super(message, 'ERR_SUBSCRIPTION_LIMIT')
  }
}
