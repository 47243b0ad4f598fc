/**
 * Membership of a ghostnode network: who the network's authorities admitted,
 * with which flags (docs/protocol.md §11). Constants shared by the document
 * codec, the view that nodes and clients keep, and the authority.
 */

/** Flags an authority grants a member. The first three share their bits with node-record capabilities. */
export const MemberFlag = {
  /** Carries circuits as a middle hop. */
  RELAY: 0x1,
  /** Ends circuits and executes requests (needs the EXIT capability in the member's own record). */
  EXIT: 0x2,
  /** Holds swarm mailboxes: a position on the ring (needs the SWARM capability). */
  SWARM: 0x4,
  /** May be a client's first hop. */
  GUARD: 0x8
} as const
export const ALL_MEMBER_FLAGS = 0xf

/** Domain of every membership signature (votes and consensus documents). */
export const MEMBERSHIP_SIGNING_DOMAIN = 'ghostnode/v1/membership'
export const MEMBERSHIP_FORMAT = 1
export const DocumentKind = { VOTE: 1, CONSENSUS: 2 } as const
export type DocumentKindValue = typeof DocumentKind[keyof typeof DocumentKind]

export const MAX_AUTHORITIES = 32
export const MAX_MEMBER_ADDRS = 16
export const MAX_MEMBER_ADDR_BYTES = 256
export const MAX_PEER_ID_BYTES = 64
export const RECORD_HASH_BYTES = 32
/** Largest encoded document or vote accepted from anyone (~40,000 members with two addresses each). */
export const MAX_DOCUMENT_BYTES = 8 * 1024 * 1024

/** Length of one document period: a new membership document is voted per period. */
export const DEFAULT_DOCUMENT_INTERVAL_MS = 600_000
/** How long the last document stays in force after its period ends (authorities unreachable). */
export const DEFAULT_DOCUMENT_GRACE_MS = 86_400_000
/** A document that becomes valid further than this in the future is refused. */
export const DOCUMENT_CLOCK_SKEW_MS = 300_000

/** Admission policy defaults (network.admission.*). */
export const DEFAULT_PROBATION_MS = 86_400_000
export const DEFAULT_MAX_MEMBERS_PER_24 = 2
export const DEFAULT_MAX_MEMBERS_PER_16 = 8
export const DEFAULT_MAX_NEW_MEMBERS_PER_HOUR = 60
export const DEFAULT_DROP_AFTER_MS = 1_800_000
export const DEFAULT_MAX_CANDIDATES = 1_000

/** The protocol nodes and clients fetch and gossip documents with, and authorities vote with. */
export const MEMBERSHIP_PROTOCOL = '/ghostnode/membership/1.0.0'
