/**
 * Base class for every error ghostnode raises on purpose. `code` is stable and
 * machine-readable (it is what crosses the wire as a status and what metrics
 * count); `name` is the concrete class name so logs and `instanceof` agree.
 */
export class GhostnodeError extends Error {
  readonly code: string

  constructor (message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** True when `err` is one of ghostnode's typed errors (as opposed to a bug). */
export function isGhostnodeError (err: unknown): err is GhostnodeError {
  return err instanceof GhostnodeError
}

/**
 * start() on a node that was stopped: its storage is closed and its parts are
 * spent. Create a new node (createGhostnode) with the same config instead.
 */
export class NodeClosedError extends GhostnodeError {
  constructor () {
    super('this node was stopped and cannot start again: create a new one with the same config', 'ERR_NODE_CLOSED')
  }
}
