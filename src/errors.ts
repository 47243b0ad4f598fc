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

/** A listen address is taken by another process (EADDRINUSE). Names the address and the config key that set it. */
export class AddressInUseError extends GhostnodeError {
  readonly address: string
  constructor (address: string, key: string, options?: ErrorOptions) {
    super(`${address} is already in use by another process; stop it or choose another address with ${key}`, 'ERR_ADDRESS_IN_USE', options)
    this.address = address
  }
}

/**
 * The addresses libp2p reported EADDRINUSE for, from its UnsupportedListenAddressesError
 * (whose message lists `  <multiaddr>: Error: listen EADDRINUSE …` per address and keeps no causes).
 */
export function addressesInUse (err: unknown): string[] {
  if (!(err instanceof Error) || err.name !== 'UnsupportedListenAddressesError') return []
  return [...err.message.matchAll(/^\s*(\/\S+): .*EADDRINUSE/gm)].map(m => m[1])
}
