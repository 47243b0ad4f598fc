import { GhostnodeError } from '../../src/errors.js'

/** The testnet options cannot work as given (bad count, latency without namespaces, ...). */
export class TestnetConfigError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_TESTNET_CONFIG')
  }
}

/** A port the testnet needs is already taken by another process. */
export class PortInUseError extends GhostnodeError {
  readonly port: number

  constructor (port: number, what: string) {
    super(`port ${port} (${what}) is in use; pick another --base-port`, 'ERR_TESTNET_PORT_IN_USE')
    this.port = port
  }
}

/** --netns needs Linux, root and a working `ip netns`. */
export class NetnsUnavailableError extends GhostnodeError {
  constructor (reason: string, options?: ErrorOptions) {
    super(`--netns is not available here: ${reason}`, 'ERR_TESTNET_NETNS_UNAVAILABLE', options)
  }
}

/** --latency needs the kernel's netem qdisc (CONFIG_NET_SCH_NETEM / module sch_netem). */
export class NetemUnavailableError extends GhostnodeError {
  constructor (detail: string, options?: ErrorOptions) {
    super(`--latency needs tc netem, which this kernel does not offer (${detail}); load sch_netem or run without --latency`, 'ERR_TESTNET_NETEM_UNAVAILABLE', options)
  }
}

/** A condition the launcher waits for did not come true before its deadline. */
export class TestnetTimeoutError extends GhostnodeError {
  constructor (what: string, timeoutMs: number, lastState: string) {
    super(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${lastState})`, 'ERR_TESTNET_TIMEOUT')
  }
}

/** The launcher was asked to stop (signal) while still starting the testnet. */
export class TestnetAbortedError extends GhostnodeError {
  constructor () {
    super('testnet start aborted', 'ERR_TESTNET_ABORTED')
  }
}
