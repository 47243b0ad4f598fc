import { GhostnodeError } from '../../src/errors.js'

/** A benchmark flag is missing, malformed or out of range (exit code 2). */
export class BenchUsageError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_BENCH_USAGE')
  }
}

/** The benchmark could not set up what it measures (nodes unreachable, directory incomplete, ...). */
export class BenchSetupError extends GhostnodeError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_BENCH_SETUP', options)
  }
}

/** A request's answer differs from what was sent (an ECHO that does not echo). */
export class EchoMismatchError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_BENCH_ECHO_MISMATCH')
  }
}

/** The run was interrupted (SIGINT/SIGTERM) before it finished. */
export class BenchAbortedError extends GhostnodeError {
  constructor () {
    super('benchmark interrupted', 'ERR_BENCH_ABORTED')
  }
}

/** A helper command (`ip`, `tc`, a one-shot `ghostnode` command) failed or could not be run. */
export class CommandFailedError extends GhostnodeError {
  constructor (command: string, detail: string, options?: ErrorOptions) {
    super(`${command} failed: ${detail}`, 'ERR_COMMAND_FAILED', options)
  }
}

/** A `ghostnode start` process exited before it was up, or did not come up in time. */
export class NodeStartError extends GhostnodeError {
  constructor (name: string, detail: string, outputTail: string) {
    super(`${name}: ${detail}:\n${outputTail}`, 'ERR_NODE_START')
  }
}
