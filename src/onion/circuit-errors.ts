import { GhostnodeError } from '../errors.js'

/** A link's send queue is full: the cell was shed (the caller destroys its circuit). */
export class LinkQueueFullError extends GhostnodeError {
  constructor () {
    super('link send queue is full', 'ERR_LINK_QUEUE_FULL')
  }
}

/** The link to a neighbour closed (or could not be opened). */
export class LinkClosedError extends GhostnodeError {
  constructor (message = 'link closed', options?: ErrorOptions) {
    super(message, 'ERR_LINK_CLOSED', options)
  }
}

/** No free circuit id on a link (all ids of our half are in use). */
export class CircuitIdExhaustedError extends GhostnodeError {
  constructor () {
    super('no free circuit id on this link', 'ERR_CIRCUIT_ID_EXHAUSTED')
  }
}

/** The circuit was destroyed; `reason` is the DESTROY reason code. */
export class CircuitDestroyedError extends GhostnodeError {
  readonly reason: number
  /** Index of the hop that reported the failure, when the client could tell (0 = first hop). */
  readonly hop?: number
  constructor (reason: number, reasonName: string, hop?: number) {
    super(`circuit destroyed: ${reasonName}${hop != null ? ` (hop ${hop + 1} failed)` : ''}`, 'ERR_CIRCUIT_DESTROYED')
    this.reason = reason
    if (hop != null) this.hop = hop
  }
}

/** Building a circuit did not complete in time. */
export class CircuitBuildTimeoutError extends GhostnodeError {
  constructor (timeoutMs: number) {
    super(`circuit not built within ${timeoutMs} ms`, 'ERR_CIRCUIT_BUILD_TIMEOUT')
  }
}

/** A request through a circuit got no response in time. */
export class RequestTimeoutError extends GhostnodeError {
  constructor (timeoutMs: number) {
    super(`no response within ${timeoutMs} ms`, 'ERR_REQUEST_TIMEOUT')
  }
}

/** Too many circuits or requests in flight. */
export class CircuitLimitError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_CIRCUIT_LIMIT')
  }
}

/** The exit answered with an error status. */
export class ExitError extends GhostnodeError {
  readonly status: number
  constructor (status: number, message: string) {
    super(message, 'ERR_EXIT_REPLIED_ERROR')
    this.status = status
  }
}

/** Not enough usable relays in the directory for the requested path. */
export class NoPathError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_NO_PATH')
  }
}
