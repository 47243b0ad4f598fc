/**
 * Defaults for the swarm ring and the mailbox store. Units are in the names;
 * `init.x ?? DEFAULT_X` everywhere so this file is the single source of truth.
 */

/**
 * Virtual nodes per member on the hash ring. bench/ring.ts at 1,000 nodes and
 * 1,000,000 mailboxes, busiest node over mean, exact (from arc lengths) and
 * sampled: V=64 1.42 / 1.41, V=1024 1.11 / 1.17, V=2048 1.07 / 1.11 (random
 * assignment alone samples at 1.12, so 1.15 sampled needs ~2048). Lookups
 * stay O(log(N·V)) at 1–3 µs; the price is 12 bytes per vnode (24 MiB at
 * 1,000 nodes) and V SHA-256s per member added (~2.5 s to build 1,000
 * members at once on the 2-core dev machine; one join ~15 ms).
 */
export const DEFAULT_VNODES_PER_NODE = 2048

/** Largest vnode index that fits the u16 the position hash is keyed on. */
export const MAX_VNODES_PER_NODE = 0x10000

/** Replicas per mailbox (swarm size R). */
export const DEFAULT_REPLICATION_FACTOR = 3

/** Shortest declared TTL (`expiry - timestamp`) a record may carry. */
export const DEFAULT_MIN_TTL_MS = 10_000

/** Longest declared TTL a record may carry: 14 days. */
export const DEFAULT_MAX_TTL_MS = 14 * 24 * 60 * 60 * 1000

/**
 * Slack allowed between a sender's clock and ours when checking that a record
 * does not expire further in the future than the longest TTL permits; same
 * ±60 s window the design uses for signed requests.
 */
export const DEFAULT_CLOCK_SKEW_MS = 60_000

/** Largest `data` payload of one record: 64 KiB. */
export const DEFAULT_MAX_SWARM_MESSAGE_BYTES = 64 * 1024

/** Per-mailbox quota on stored bytes (encoded record sizes): 10 MiB. */
export const DEFAULT_MAILBOX_QUOTA_BYTES = 10 * 1024 * 1024

/** Per-mailbox quota on the number of records. */
export const DEFAULT_MAILBOX_QUOTA_RECORDS = 10_000

/** Per-node quota on stored bytes across all mailboxes: 1 GiB. */
export const DEFAULT_NODE_QUOTA_BYTES = 1024 * 1024 * 1024

/**
 * Most puts coalesced into one LevelDB batch. The store's raw batch baseline
 * in the design table is measured at 1,000; larger batches stop paying off and
 * lengthen the time a put waits for its acknowledgement.
 */
export const DEFAULT_MAX_BATCH_PUTS = 1000

/**
 * Width of the expiry index's buckets: a put batch writes one index entry per
 * bucket its records' expiries fall in. Matches the sweep period, so a sweep
 * mostly finds whole buckets due.
 */
export const DEFAULT_EXPIRY_BUCKET_MS = 60_000

/** Period between sweeper runs. */
export const DEFAULT_SWEEP_INTERVAL_MS = 60_000

/** Expired records deleted per LevelDB batch while sweeping. */
export const DEFAULT_SWEEP_BATCH_RECORDS = 1000
