import { GhostnodeError } from '../errors.js'

/** A cell was not exactly CELL_SIZE bytes. */
export class CellSizeError extends GhostnodeError {
  constructor (message = 'cell has the wrong size') {
    super(message, 'ERR_CELL_SIZE')
  }
}

/** The cell's command byte is not a known command. */
export class CellCommandError extends GhostnodeError {
  constructor (message = 'unknown cell command') {
    super(message, 'ERR_CELL_COMMAND')
  }
}

/** The circuit id is not allowed for the command (0 for a circuit cell, or out of range). */
export class CellCircIdError extends GhostnodeError {
  constructor (message = 'invalid circuit id for this command') {
    super(message, 'ERR_CELL_CIRC_ID')
  }
}

/** A payload handed to the encoder does not fit into one cell. */
export class CellPayloadSizeError extends GhostnodeError {
  constructor (message = 'payload does not fit in a cell') {
    super(message, 'ERR_CELL_PAYLOAD_SIZE')
  }
}

/** A cell stream ended in the middle of a cell. */
export class CellTruncatedError extends GhostnodeError {
  constructor (message = 'cell stream ended inside a cell') {
    super(message, 'ERR_CELL_TRUNCATED')
  }
}

/** The streaming decoder holds more undelivered bytes than its bound. */
export class CellBufferOverflowError extends GhostnodeError {
  constructor (message = 'cell decoder buffer limit exceeded') {
    super(message, 'ERR_CELL_BUFFER_OVERFLOW')
  }
}

/** A relay body is not exactly RELAY_BODY_BYTES bytes. */
export class RelayBodySizeError extends GhostnodeError {
  constructor (message = 'relay body has the wrong size') {
    super(message, 'ERR_RELAY_BODY_SIZE')
  }
}

/** Unknown relay command byte. */
export class RelayCommandError extends GhostnodeError {
  constructor (message = 'unknown relay command') {
    super(message, 'ERR_RELAY_COMMAND')
  }
}

/** Fragment header fields are out of range (index ≥ count, count 0, bad length). */
export class RelayFragmentError extends GhostnodeError {
  constructor (message = 'invalid relay fragment header') {
    super(message, 'ERR_RELAY_FRAGMENT')
  }
}

/** A message (or its announced fragment count) exceeds the configured maximum. */
export class MessageTooLargeError extends GhostnodeError {
  constructor (message = 'message exceeds the maximum size') {
    super(message, 'ERR_MESSAGE_TOO_LARGE')
  }
}

/** The same fragment index arrived twice for one partial message. */
export class DuplicateFragmentError extends GhostnodeError {
  constructor (message = 'duplicate fragment') {
    super(message, 'ERR_DUPLICATE_FRAGMENT')
  }
}

/** A fragment disagrees with earlier fragments of the same request (command or count). */
export class InconsistentFragmentError extends GhostnodeError {
  constructor (message = 'fragment is inconsistent with its message') {
    super(message, 'ERR_INCONSISTENT_FRAGMENT')
  }
}

/** Too many messages are being reassembled at once. */
export class TooManyPartialMessagesError extends GhostnodeError {
  constructor (message = 'too many partial messages') {
    super(message, 'ERR_TOO_MANY_PARTIAL_MESSAGES')
  }
}

/** Buffered fragment bytes would exceed the reassembler's memory bound. */
export class ReassemblyBufferFullError extends GhostnodeError {
  constructor (message = 'reassembly buffer is full') {
    super(message, 'ERR_REASSEMBLY_BUFFER_FULL')
  }
}

/** An option passed to an onion codec is out of its allowed range. */
export class InvalidOnionOptionError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_ONION_OPTION')
  }
}
