/**
 * Wire-format constants shared by the cell codec, the onion crypto and the relay
 * message framing. Every size here is fixed by the protocol version: changing one
 * changes the bytes on the wire (see docs/protocol.md).
 */

/** Every cell on a link is exactly this many bytes (measured choice, see docs/protocol.md). */
export const CELL_SIZE = 1024
/** `[circId u32 BE][cmd u8]` */
export const CELL_HEADER_BYTES = 5
/** Bytes after the cell header: 1019. */
export const CELL_PAYLOAD_BYTES = CELL_SIZE - CELL_HEADER_BYTES
/** Largest circuit id (circuit ids are u32; 0 is reserved for link-level cells). */
export const MAX_CIRC_ID = 0xffffffff

/** Cell commands (the `cmd` byte). */
export const CellCommand = {
  CREATE: 1,
  CREATED: 2,
  RELAY: 3,
  DESTROY: 4,
  PADDING: 5
} as const
export type CellCommand = typeof CellCommand[keyof typeof CellCommand]

/**
 * DESTROY reason codes (first payload byte). Decoders pass unknown codes through
 * unchanged so newer peers can add reasons without breaking older ones.
 */
export const DestroyReason = {
  NONE: 0,
  PROTOCOL: 1,
  INTERNAL: 2,
  REQUESTED: 3,
  CONNECT_FAILED: 4,
  TIMEOUT: 5,
  RESOURCE_LIMIT: 6,
  INTEGRITY: 7,
  CREATE_FAILED: 8
} as const
export type DestroyReason = typeof DestroyReason[keyof typeof DestroyReason]

/** Longest and default circuit length. */
export const MAX_HOPS = 5
export const DEFAULT_HOPS = 3

/** X25519 public key size. */
export const X25519_KEY_BYTES = 32
/** Truncated HMAC-SHA256 carried in the CREATE header. */
export const CREATE_MAC_BYTES = 16
/** Per-hop routing slot inside the CREATE header's beta. */
export const ROUTING_SLOT_BYTES = 96
/** Longest next-hop peer id a routing slot can carry (opaque bytes). */
export const MAX_PEER_ID_BYTES = 42
/** beta = MAX_HOPS routing slots: 480 bytes. */
export const CREATE_BETA_BYTES = MAX_HOPS * ROUTING_SLOT_BYTES
/** `[ephPub 32][mac 16][beta 480]` = 528 bytes; the rest of the CREATE payload is random. */
export const CREATE_HEADER_BYTES = X25519_KEY_BYTES + CREATE_MAC_BYTES + CREATE_BETA_BYTES

/** Routing slot field offsets: `[flags 1][idLen 1][peerId 42][nextEph 32][nextMac 16][reserved 4]`. */
export const SLOT_FLAGS_OFFSET = 0
export const SLOT_PEER_ID_LEN_OFFSET = 1
export const SLOT_PEER_ID_OFFSET = 2
export const SLOT_NEXT_EPH_OFFSET = SLOT_PEER_ID_OFFSET + MAX_PEER_ID_BYTES
export const SLOT_NEXT_MAC_OFFSET = SLOT_NEXT_EPH_OFFSET + X25519_KEY_BYTES
/** The last 4 bytes of a slot: zero, so that one slot has one encoding. */
export const SLOT_RESERVED_OFFSET = SLOT_NEXT_MAC_OFFSET + CREATE_MAC_BYTES
/** Routing flag bit: this hop is the exit. Every other flag bit must be zero. */
export const SLOT_FLAG_EXIT = 0x01

/** Layer tag size (Poly1305). */
export const RELAY_TAG_BYTES = 16
/** Tag slots at the front of every RELAY/CREATED payload: one per possible hop. */
export const RELAY_TAGS_BYTES = MAX_HOPS * RELAY_TAG_BYTES
/** Encrypted body after the tag slots: 939 bytes. */
export const RELAY_BODY_BYTES = CELL_PAYLOAD_BYTES - RELAY_TAGS_BYTES

/** Relay message header: `[relayCmd u8][requestId u32][fragIndex u16][fragCount u16][len u16]`. */
export const RELAY_MESSAGE_HEADER_BYTES = 11
/** Data bytes one relay body can carry: 928. */
export const RELAY_DATA_BYTES = RELAY_BODY_BYTES - RELAY_MESSAGE_HEADER_BYTES
/** Default largest message the ends fragment/reassemble (128 KiB). */
export const DEFAULT_MAX_ONION_MESSAGE_BYTES = 128 * 1024
/** fragCount is a u16, which bounds any configured message size. */
export const MAX_FRAGMENTS = 0xffff

/** Relay commands (first byte of a decrypted relay body). */
export const RelayCommand = {
  REQUEST: 1,
  RESPONSE: 2,
  ERROR: 3,
  END: 4
} as const
export type RelayCommand = typeof RelayCommand[keyof typeof RelayCommand]

/** A new onion key every 24 h (the epoch of node records and replay tags). */
export const DEFAULT_ONION_EPOCH_MS = 86_400_000
/** The previous key is still accepted for 2 h after rotation (clients with a cached record). */
export const DEFAULT_ONION_GRACE_MS = 7_200_000
