import { GhostnodeError } from '../errors.js'

/** Base of the reasons a mailbox message cannot be opened as an envelope. */
export class EnvelopeError extends GhostnodeError {}

/** The bytes do not start with the envelope magic: a raw message (or not ghostnode's format). */
export class NotAnEnvelopeError extends EnvelopeError {
  constructor () {
    super('not a sealed envelope (no envelope header)', 'ERR_NOT_AN_ENVELOPE')
  }
}

/** An envelope of a version this client does not know. */
export class UnsupportedEnvelopeVersionError extends EnvelopeError {
  readonly version: number
  constructor (version: number) {
    super(`envelope version ${version} is not supported (this client opens version 1)`, 'ERR_ENVELOPE_VERSION')
    this.version = version
  }
}

/** The AEAD refused it: sealed to another mailbox, or changed on the way. */
export class EnvelopeOpenError extends EnvelopeError {
  constructor (detail = 'sealed to another mailbox, or tampered with') {
    super(`cannot open the envelope: ${detail}`, 'ERR_ENVELOPE_OPEN')
  }
}

/** It opened, but its inside is malformed or its sender signature does not verify. */
export class EnvelopeContentError extends EnvelopeError {
  constructor (detail: string) {
    super(`the envelope's content is not valid: ${detail}`, 'ERR_ENVELOPE_CONTENT')
  }
}

/** The content does not fit the largest envelope the swarm stores. */
export class EnvelopeTooLargeError extends EnvelopeError {
  constructor (bytes: number, max: number) {
    super(`a sealed message of ${bytes} content bytes does not fit in ${max} bytes (swarm.maxMessageBytes)`, 'ERR_ENVELOPE_TOO_LARGE')
  }
}
