/**
 * Defaults of the swarm service (node-to-node protocol, coordinator, churn,
 * request authentication). The store's and the ring's are in constants.ts.
 * Kept free of imports so the config module can read them cheaply.
 */

/** Write quorum W; 0 means a majority of the mailbox's swarm. */
export const DEFAULT_WRITE_QUORUM = 0

/** Deadline of one node-to-node request (the wait for a slot, the write and the answer). */
export const DEFAULT_SWARM_REQUEST_TIMEOUT_MS = 5_000

/** Largest retrieve page the coordinator assembles: fits a 128 KiB onion message with room to spare. */
export const DEFAULT_MAX_PAGE_BYTES = 96 * 1024

/** Period of anti-entropy rounds. */
export const DEFAULT_RECONCILE_INTERVAL_MS = 60_000
/** Anti-entropy compares a member whose shared arcs did not change here at least once in this many rounds. */
export const DEFAULT_FULL_RECONCILE_EVERY_ROUNDS = 10

/** A ring change is acted on after it has been quiet this long (joins often come in bursts). */
export const DEFAULT_CHURN_DELAY_MS = 200

/** Accepted distance between a signed request's timestamp and the node's clock (±). */
export const DEFAULT_AUTH_WINDOW_MS = 60_000
