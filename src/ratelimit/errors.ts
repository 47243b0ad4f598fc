import { GhostnodeError } from '../errors.js'

/**
 * A request was refused by a token bucket. The limiter itself never throws
 * this on the hot path (it returns a result); handlers that answer over the
 * wire or reject a promise can turn a denied result into this error.
 */
export class RateLimitedError extends GhostnodeError {
  /** Milliseconds until the request could succeed; Infinity when it never can. */
  readonly retryAfterMs: number

  constructor (kind: string, retryAfterMs: number) {
    super(`rate limit exceeded for ${kind}`, 'ERR_RATE_LIMITED')
    this.retryAfterMs = retryAfterMs
  }
}

/** The peer is banned; requests are refused until the ban ends. */
export class PeerBannedError extends GhostnodeError {
  /** Milliseconds until the ban ends. */
  readonly retryAfterMs: number

  constructor (retryAfterMs: number) {
    // The peer id is deliberately not in the message: errors end up in logs and
    // responses, and the caller already knows which peer it asked about.
    super('peer is banned', 'ERR_PEER_BANNED')
    this.retryAfterMs = retryAfterMs
  }
}

/** A rate-limit or reputation setting is missing, of the wrong type or out of range. */
export class InvalidRateLimitConfigError extends GhostnodeError {
  readonly key: string
  readonly value: unknown

  constructor (key: string, value: unknown, reason: string) {
    super(`rate limit config key "${key}" has invalid value ${describe(value)}: ${reason}`, 'ERR_INVALID_RATE_LIMIT_CONFIG')
    this.key = key
    this.value = value
  }
}

/** A bucket was asked for a negative or non-numeric number of tokens (a caller bug). */
export class InvalidCostError extends GhostnodeError {
  readonly cost: number

  constructor (cost: number) {
    super(`token cost must be a finite number >= 0, got ${String(cost)}`, 'ERR_INVALID_COST')
    this.cost = cost
  }
}

/** The input is not an IPv4/IPv6 address (or a multiaddr starting with one). */
export class InvalidIpAddressError extends GhostnodeError {
  constructor (input: string) {
    super(`not an IP address: ${describe(input)}`, 'ERR_INVALID_IP_ADDRESS')
  }
}

/**
 * The multiaddr is well formed but has no IP the connection really comes from:
 * DNS names, unix sockets, or relayed (`/p2p-circuit`) addresses, whose first
 * IP is the relay's and would lump every relayed peer into the relay's prefix.
 */
export class UnsupportedAddressError extends GhostnodeError {
  constructor (input: string) {
    super(`address has no direct IP to key on: ${describe(input)}`, 'ERR_UNSUPPORTED_ADDRESS')
  }
}

/** The score store was used after `close()` or before `open()`. */
export class ScoreStoreClosedError extends GhostnodeError {
  constructor () {
    super('score store is not open', 'ERR_SCORE_STORE_CLOSED')
  }
}

function describe (value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 120 ? `${text.slice(0, 117)}...` : text
}
