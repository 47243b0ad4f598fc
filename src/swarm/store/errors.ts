import { GhostnodeError } from '../../errors.js'

/** A record's `data` is larger than the store's maximum message size. */
export class StoredMessageTooLargeError extends GhostnodeError {
  readonly sizeBytes: number
  readonly maxBytes: number

  constructor (sizeBytes: number, maxBytes: number) {
    super(`message of ${sizeBytes} bytes exceeds the ${maxBytes}-byte limit`, 'ERR_STORED_MESSAGE_TOO_LARGE')
    this.sizeBytes = sizeBytes
    this.maxBytes = maxBytes
  }
}

/** A record's TTL is below the minimum or above the maximum the store accepts. */
export class TtlOutOfBoundsError extends GhostnodeError {
  readonly ttlMs: number

  constructor (ttlMs: number, minMs: number, maxMs: number) {
    super(`ttl of ${ttlMs} ms is outside [${minMs}, ${maxMs}] ms`, 'ERR_TTL_OUT_OF_BOUNDS')
    this.ttlMs = ttlMs
  }
}

/** A record's expiry has already passed; nothing worth storing. */
export class StoredRecordExpiredError extends GhostnodeError {
  constructor (expiry: number, now: number) {
    super(`record expired at ${expiry}, now is ${now}`, 'ERR_STORED_RECORD_EXPIRED')
  }
}

/** Which per-mailbox limit a put would have crossed. */
export type MailboxQuotaKind = 'bytes' | 'records'

/** Storing the record would exceed the mailbox's byte or record quota. */
export class MailboxFullError extends GhostnodeError {
  readonly kind: MailboxQuotaKind

  constructor (kind: MailboxQuotaKind, limit: number) {
    super(`mailbox ${kind} quota of ${limit} reached`, 'ERR_MAILBOX_FULL')
    this.kind = kind
  }
}

/** Storing the record would exceed the node's total byte quota. */
export class NodeFullError extends GhostnodeError {
  constructor (limitBytes: number) {
    super(`node storage quota of ${limitBytes} bytes reached`, 'ERR_NODE_FULL')
  }
}

/** A record's fields are structurally wrong (lengths, ranges). */
export class InvalidRecordError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_RECORD')
  }
}

/** A record's hash does not match SHA-256 over its content. */
export class RecordHashMismatchError extends GhostnodeError {
  constructor () {
    super('record hash does not match its content', 'ERR_RECORD_HASH_MISMATCH')
  }
}

/** Bytes handed to the record decoder are not a well-formed record. */
export class MalformedStoredRecordError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_MALFORMED_STORED_RECORD')
  }
}

/** An encoded record carries a format version this build cannot read. */
export class UnsupportedRecordVersionError extends GhostnodeError {
  readonly version: number

  constructor (version: number) {
    super(`unsupported record encoding version ${version}`, 'ERR_UNSUPPORTED_RECORD_VERSION')
    this.version = version
  }
}

/** A retrieve cursor is not one this store issued. */
export class InvalidCursorError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_CURSOR')
  }
}

/** The store is not open (never opened, closing, or closed). */
export class StoreClosedError extends GhostnodeError {
  constructor () {
    super('message store is not open', 'ERR_STORE_CLOSED')
  }
}

/** The database on disk was written with a key layout this build does not know. */
export class StoreSchemaError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_STORE_SCHEMA')
  }
}

/** A ring parameter (vnode count, replication factor) is out of range. */
export class InvalidRingParameterError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_RING_PARAMETER')
  }
}

/** A store read or delete was called with malformed arguments (mailbox length, budget). */
export class InvalidRequestError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_INVALID_REQUEST')
  }
}
