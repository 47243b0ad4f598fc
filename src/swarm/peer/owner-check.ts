import { DEFAULT_AUTH_WINDOW_MS, deleteAllFields, deleteFields, retrieveFields, subscribeFields, verifyAuth, authMessage, type SignedFields } from '../auth.js'
import { SeenRequests } from '../seen-requests.js'
import { BadSignatureError, ReplayedRequestError, StaleTimestampError } from '../service-errors.js'
import { SwarmOp, type GetRequest, type SignedDelete, type WatchRequest } from './protocol.js'

/** Signed reads and deletes a member remembers (by signature) to refuse their replays. */
export const DEFAULT_MAX_SEEN_SIGNATURES = 50_000

const EMPTY = new Uint8Array(0)

/** The fields the owner's signature on a node-to-node read or delete covers. */
export function fieldsOfOwnerRequest (req: GetRequest | SignedDelete | WatchRequest): SignedFields {
  switch (req.op) {
    case SwarmOp.GET: return retrieveFields(req.mailbox, req.namespace, req.auth.timestamp, req.cursor)
    case SwarmOp.DELETE: return deleteFields(req.mailbox, req.namespace, req.auth.timestamp, req.hashes)
    case SwarmOp.DELETE_ALL: return deleteAllFields(req.mailbox, req.namespace, req.auth.timestamp)
    case SwarmOp.WATCH: return subscribeFields(req.mailbox, req.namespace, req.auth.timestamp, req.since, req.waitMs, req.known)
  }
}

export interface OwnerCheckInit {
  now: () => number
  /** Accepted skew of signed timestamps. @default 60000 */
  windowMs?: number
  /** @default 50000 */
  maxSeen?: number
}

/**
 * What makes a member believe a read or delete another member asks of it:
 * the mailbox owner's own signature, checked here, never the asking member's
 * word (docs/protocol.md §10.5).
 *
 * - A read must be signed within ±window of this member's clock, and each
 *   signature is served once: a replay is refused (REPLAYED).
 * - A delete within the window likewise runs once.
 * - A delete past the window is an owner's delete passed on by anti-entropy
 *   from a member that holds its tombstone: accepted only from a member of
 *   the mailbox's swarm, and harmless as a replay because a delete removes
 *   only records stored at or before its signed timestamp.
 *
 * The cheap checks (timestamp, seen cache) run before the signature verify.
 */
export class OwnerCheck {
  private readonly now: () => number
  private readonly windowMs: number
  private readonly seen: SeenRequests

  constructor (init: OwnerCheckInit) {
    this.now = init.now
    this.windowMs = init.windowMs ?? DEFAULT_AUTH_WINDOW_MS
    this.seen = new SeenRequests({ now: init.now, max: init.maxSeen ?? DEFAULT_MAX_SEEN_SIGNATURES })
  }

  /**
   * Throws StaleTimestampError, ReplayedRequestError or BadSignatureError
   * unless the request carries its mailbox owner's valid signature.
   * `fromSwarmPeer`: the requester is a member of the mailbox's swarm.
   */
  check (req: GetRequest | SignedDelete | WatchRequest, fromSwarmPeer: boolean): void {
    const { timestamp, signature } = req.auth
    const skew = timestamp - this.now()
    const fresh = Math.abs(skew) <= this.windowMs
    const passedOn = !fresh && (req.op === SwarmOp.DELETE || req.op === SwarmOp.DELETE_ALL) && fromSwarmPeer && skew < 0
    if (!fresh && !passedOn) throw new StaleTimestampError(skew, this.windowMs)
    if (fresh && this.seen.answerOf(signature) !== undefined) throw new ReplayedRequestError()
    if (!verifyAuth(req.mailbox, authMessage(fieldsOfOwnerRequest(req)), signature)) throw new BadSignatureError()
    // remembered until the timestamp leaves the window: after that the window check refuses it
    if (fresh) this.seen.remember(signature, EMPTY, timestamp + this.windowMs)
  }

  /**
   * This member runs a signed request for its own clients (it is their exit,
   * which checked the signature): noted, so the same signature sent to it
   * by another member is refused as a replay, as at every other member.
   */
  note (req: GetRequest | SignedDelete | WatchRequest): void {
    const { timestamp, signature } = req.auth
    if (Math.abs(timestamp - this.now()) <= this.windowMs) this.seen.remember(signature, EMPTY, timestamp + this.windowMs)
  }

  /**
   * The request `check` accepted failed before it took effect (a full disk,
   * a deadline): the same signature may come again, from anti-entropy
   * passing the delete on, and is then no replay.
   */
  release (req: GetRequest | SignedDelete | WatchRequest): void {
    this.seen.forget(req.auth.signature)
  }
}
