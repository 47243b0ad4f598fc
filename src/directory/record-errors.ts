import { GhostnodeError } from '../errors.js'

/**
 * Why a node record was refused. A fixed enum: these are the label values of
 * `ghostnode_directory_records_rejected_total{reason}`.
 */
export const RECORD_REJECT_REASONS = [
  'malformed',
  'too_large',
  'unsupported_format',
  'bad_signature',
  'wrong_signer',
  'expired',
  'far_future',
  'bad_epoch',
  'low_order_key',
  'capacity',
  'unadmitted'
] as const
export type RecordRejectReason = typeof RECORD_REJECT_REASONS[number]

/** Base of every refusal of a node record; `reason` is what the rejection counter counts. */
export class NodeRecordError extends GhostnodeError {
  readonly reason: RecordRejectReason

  constructor (message: string, code: string, reason: RecordRejectReason, options?: ErrorOptions) {
    super(message, code, options)
    this.reason = reason
  }
}

/** The bytes do not parse as a node record (truncated, trailing bytes, bad field, bad multiaddr). */
export class MalformedRecordError extends NodeRecordError {
  constructor (message = 'malformed node record', options?: ErrorOptions) {
    super(message, 'ERR_RECORD_MALFORMED', 'malformed', options)
  }
}

/** The encoded record is larger than MAX_NODE_RECORD_BYTES. */
export class RecordTooLargeError extends NodeRecordError {
  constructor (message = 'node record exceeds the size limit') {
    super(message, 'ERR_RECORD_TOO_LARGE', 'too_large')
  }
}

/** The record's format version byte is not one this node understands. */
export class UnsupportedRecordFormatError extends NodeRecordError {
  constructor (message = 'unsupported node record format') {
    super(message, 'ERR_RECORD_FORMAT', 'unsupported_format')
  }
}

/** The signature does not verify under the identity key the record names. */
export class RecordSignatureError extends NodeRecordError {
  constructor (message = 'node record signature does not verify') {
    super(message, 'ERR_RECORD_SIGNATURE', 'bad_signature')
  }
}

/** A valid record, but for another peer than the one the context requires (DHT key, publisher). */
export class RecordWrongSignerError extends NodeRecordError {
  constructor (message = 'node record is signed by another peer than expected') {
    super(message, 'ERR_RECORD_WRONG_SIGNER', 'wrong_signer')
  }
}

/** The record's peer is not a member of the network (no membership document in force admits it). */
export class UnadmittedRecordError extends NodeRecordError {
  constructor (message = 'node record of a peer the network has not admitted') {
    super(message, 'ERR_RECORD_UNADMITTED', 'unadmitted')
  }
}

/** `validUntil` is not in the future. */
export class RecordExpiredError extends NodeRecordError {
  constructor (message = 'node record has expired') {
    super(message, 'ERR_RECORD_EXPIRED', 'expired')
  }
}

/** `validUntil` lies further ahead than one epoch plus grace plus clock skew. */
export class RecordFarFutureError extends NodeRecordError {
  constructor (message = 'node record is valid for implausibly long') {
    super(message, 'ERR_RECORD_FAR_FUTURE', 'far_future')
  }
}

/**
 * The record's epoch does not match its validity: the epoch starts in the
 * future, or the record claims to be valid past the end of its epoch's key
 * (plus grace): a relay cannot keep a stale onion key in use by signing a
 * long validity over an old epoch.
 */
export class RecordEpochError extends NodeRecordError {
  constructor (message = 'node record epoch does not match its validity') {
    super(message, 'ERR_RECORD_EPOCH', 'bad_epoch')
  }
}

/** The onion key is a small-order X25519 point: every shared secret with it is predictable. */
export class RecordLowOrderKeyError extends NodeRecordError {
  constructor (message = 'node record carries a low-order onion key') {
    super(message, 'ERR_RECORD_LOW_ORDER_KEY', 'low_order_key')
  }
}

/** A field handed to the record encoder is out of range (a local bug or bad config, not a peer). */
export class InvalidRecordFieldError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_RECORD_FIELD')
  }
}

/** A directory request or response does not follow /ghostnode/dir/1.0.0. */
export class DirectoryProtocolError extends GhostnodeError {
  constructor (message: string, options?: ErrorOptions) {
    super(message, 'ERR_DIRECTORY_PROTOCOL', options)
  }
}

/** A directory response announced or carried more records or bytes than this node accepts. */
export class DirectoryResponseTooLargeError extends GhostnodeError {
  constructor (message = 'directory response exceeds the configured bound') {
    super(message, 'ERR_DIRECTORY_RESPONSE_TOO_LARGE')
  }
}

/** The peer refused to serve the directory because we asked again too soon. */
export class DirectoryRateLimitedError extends GhostnodeError {
  constructor (message = 'directory request refused: asked too often') {
    super(message, 'ERR_DIRECTORY_RATE_LIMITED')
  }
}

/** A directory operation that needs the network was called before start() or after stop(). */
export class DirectoryNotStartedError extends GhostnodeError {
  constructor (message = 'directory service is not running') {
    super(message, 'ERR_DIRECTORY_NOT_STARTED')
  }
}

/** The onion key file can be read by other users: those keys must be considered leaked. */
export class InsecureOnionKeyFileError extends GhostnodeError {
  constructor (path: string, mode: number) {
    super(`onion key file ${path} has mode ${(mode & 0o777).toString(8).padStart(3, '0')}; other users may read it. ` +
      `Run "chmod 600 ${path}" (and delete it if it was shared: new onion keys are generated on start)`, 'ERR_ONION_KEY_FILE_INSECURE')
  }
}

/** The onion key file exists but cannot be used. */
export class InvalidOnionKeyFileError extends GhostnodeError {
  constructor (path: string, reason: string, options?: ErrorOptions) {
    super(`onion key file ${path} is unusable: ${reason}`, 'ERR_ONION_KEY_FILE_INVALID', options)
  }
}

/** The key manager was asked for keys before start() loaded them. */
export class OnionKeysNotLoadedError extends GhostnodeError {
  constructor (message = 'onion keys are not loaded; call start() first') {
    super(message, 'ERR_ONION_KEYS_NOT_LOADED')
  }
}

/** Fewer eligible nodes than hops (after exclusions and capability filters). */
export class InsufficientPathNodesError extends GhostnodeError {
  constructor (message = 'not enough eligible nodes for the requested path length') {
    super(message, 'ERR_PATH_INSUFFICIENT_NODES')
  }
}

/** No eligible record advertises the exit capability. */
export class NoExitNodeError extends GhostnodeError {
  constructor (message = 'no eligible exit node') {
    super(message, 'ERR_PATH_NO_EXIT')
  }
}

/** The requested fixed first hop has no usable record (unknown, excluded, or not a relay). */
export class UnusableFirstHopError extends GhostnodeError {
  constructor (message = 'the fixed first hop has no usable node record') {
    super(message, 'ERR_PATH_FIRST_HOP')
  }
}
