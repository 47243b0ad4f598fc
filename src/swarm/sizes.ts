/** Sizes in the swarm's formats, apart from the record codec so client code loads no storage code. */
export const MAILBOX_BYTES = 32
export const HASH_BYTES = 32
export const NAMESPACE_MIN = -0x8000
export const NAMESPACE_MAX = 0x7fff
/** Hashes a subscriber may list as already held (one u8 count on both wires). */
export const MAX_KNOWN_HASHES = 64
