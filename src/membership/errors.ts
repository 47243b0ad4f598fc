import { GhostnodeError } from '../errors.js'

/**
 * Why a membership document or vote was refused. A fixed enum: the label
 * values of `ghostnode_membership_documents_rejected_total{reason}`.
 */
export const DOCUMENT_REJECT_REASONS = [
  'malformed',
  'too_large',
  'foreign_network',
  'too_few_signatures',
  'bad_signature',
  'not_yet_valid',
  'expired',
  'wrong_kind'
] as const
export type DocumentRejectReason = typeof DOCUMENT_REJECT_REASONS[number]

export class MembershipDocumentError extends GhostnodeError {
  readonly reason: DocumentRejectReason

  constructor (message: string, code: string, reason: DocumentRejectReason) {
    super(message, code)
    this.reason = reason
  }
}

/** The bytes do not decode as a membership document (truncated, trailing bytes, unsorted members...). */
export class MalformedDocumentError extends MembershipDocumentError {
  constructor (message = 'malformed membership document') {
    super(message, 'ERR_MEMBERSHIP_MALFORMED', 'malformed')
  }
}

export class DocumentTooLargeError extends MembershipDocumentError {
  constructor (message = 'membership document exceeds the size limit') {
    super(message, 'ERR_MEMBERSHIP_TOO_LARGE', 'too_large')
  }
}

/** The document's authority list shares fewer than k keys with the authorities this node trusts. */
export class ForeignNetworkError extends MembershipDocumentError {
  constructor (message = 'membership document names authorities this node does not trust') {
    super(message, 'ERR_MEMBERSHIP_FOREIGN_NETWORK', 'foreign_network')
  }
}

/** Fewer than k trusted authorities signed the document validly. */
export class TooFewSignaturesError extends MembershipDocumentError {
  constructor (message = 'membership document is signed by too few authorities') {
    super(message, 'ERR_MEMBERSHIP_TOO_FEW_SIGNATURES', 'too_few_signatures')
  }
}

/** A vote whose single signature does not verify. */
export class DocumentSignatureError extends MembershipDocumentError {
  constructor (message = 'membership signature does not verify') {
    super(message, 'ERR_MEMBERSHIP_SIGNATURE', 'bad_signature')
  }
}

export class DocumentNotYetValidError extends MembershipDocumentError {
  constructor (message = 'membership document is not valid yet') {
    super(message, 'ERR_MEMBERSHIP_NOT_YET_VALID', 'not_yet_valid')
  }
}

export class DocumentExpiredError extends MembershipDocumentError {
  constructor (message = 'membership document has expired') {
    super(message, 'ERR_MEMBERSHIP_EXPIRED', 'expired')
  }
}

/** A vote where a consensus document was expected, or the reverse. */
export class WrongDocumentKindError extends MembershipDocumentError {
  constructor (message = 'unexpected membership document kind') {
    super(message, 'ERR_MEMBERSHIP_WRONG_KIND', 'wrong_kind')
  }
}

/** An invalid value handed to the encoder (a bug in the caller, not peer input). */
export class InvalidDocumentFieldError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_MEMBERSHIP_FIELD')
  }
}

/** The membership wire protocol was broken (bad frame, unknown kind, unexpected status). */
export class MembershipProtocolError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_MEMBERSHIP_PROTOCOL')
  }
}

/** A `network.*` or authority policy file value that cannot be used. */
export class InvalidAuthorityError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_MEMBERSHIP_AUTHORITY')
  }
}
