import { ExitStatus, ExitStatusError, type ExitHandler, type ExitRequestContext } from '../../onion/exit.js'
import { DEFAULT_MAX_SUBSCRIBE_WAIT_MS } from '../subscriptions.js'
import { DEFAULT_AUTH_WINDOW_MS, checkAuth } from '../auth.js'
import {
  SwarmExitOp, decodeSwarmExitRequest, encodeDeleteCount, encodeRetrievePage, encodeStoreReceipt, signedFieldsOf,
  type SwarmExitRequest
} from './exit-protocol.js'
import { InvalidRequestError } from '../store/errors.js'
import { SeenRequests } from '../seen-requests.js'
import { SwarmStatus, exitStatusOf } from '../status.js'
import type { SwarmCoordinator } from '../coordinator.js'
import type { ClientOp, ClientOutcome, SwarmMetrics } from '../swarm-metrics.js'

export interface SwarmExitInit {
  coordinator: SwarmCoordinator
  /** Charges one deposit to the mailbox's budget (`rateLimit.limits.deposit`); false refuses it. */
  allowDeposit: (mailbox: Uint8Array) => boolean
  metrics: SwarmMetrics
  now: () => number
  /** Accepted skew of signed timestamps. @default 60000 */
  authWindowMs?: number
  /** Executed deletes by signature: a replay gets the first answer. @default a fresh one */
  seen?: SeenRequests
  /** Charges one subscription to the mailbox's budget (`rateLimit.limits.subscribe`); false refuses it. @default always allow */
  allowSubscribe?: (mailbox: Uint8Array) => boolean
  /** Longest a subscription is held open here. @default 25000 */
  maxSubscribeWaitMs?: number
}

const OP_NAMES: Record<number, ClientOp> = { 1: 'store', 2: 'retrieve', 3: 'delete', 4: 'delete_all', 5: 'subscribe' }

/** Fixed metric outcome for an exit status. */
function outcomeOf (status: number): ClientOutcome {
  switch (status) {
    case ExitStatus.RATE_LIMITED: return 'rate_limited'
    case SwarmStatus.BAD_SIGNATURE:
    case SwarmStatus.STALE_TIMESTAMP:
    case SwarmStatus.REPLAYED: return 'unauthorized'
    case SwarmStatus.SUBSCRIPTION_LIMIT: return 'rate_limited'
    case SwarmStatus.MAILBOX_FULL:
    case SwarmStatus.NODE_FULL: return 'quota'
    case SwarmStatus.QUORUM_FAILED:
    case SwarmStatus.SWARM_UNAVAILABLE: return 'failed'
    case ExitStatus.INTERNAL: return 'error'
    default: return 'rejected'
  }
}

/**
 * The SWARM exit service (service id 2): decodes the client's request,
 * applies the deposit rate limit (STORE) or checks the mailbox owner's
 * signature and timestamp (RETRIEVE, DELETE, DELETE_ALL), and hands it to the
 * coordinator. Typed errors become the statuses of docs/protocol.md §10.3.
 */
export function swarmExitHandler (init: SwarmExitInit): ExitHandler {
  const window = init.authWindowMs ?? DEFAULT_AUTH_WINDOW_MS
  const seen = init.seen ?? new SeenRequests({ now: init.now })
  /** Runs a signed delete once per signature: a replay within the window gets the first answer. */
  const once = async (req: { signature: Uint8Array, timestamp: number }, run: () => Promise<Uint8Array>): Promise<{ body: Uint8Array, duplicate?: boolean }> => {
    const answered = seen.answerOf(req.signature)
    if (answered !== undefined) return { body: answered, duplicate: true }
    const body = await run()
    seen.remember(req.signature, body, req.timestamp + window)
    return { body }
  }
  const maxWaitMs = init.maxSubscribeWaitMs ?? DEFAULT_MAX_SUBSCRIBE_WAIT_MS
  const run = async (req: SwarmExitRequest, context: ExitRequestContext): Promise<{ body: Uint8Array, duplicate?: boolean }> => {
    const c = init.coordinator
    switch (req.op) {
      case SwarmExitOp.STORE: {
        if (!init.allowDeposit(req.mailbox)) throw new ExitStatusError(ExitStatus.RATE_LIMITED, 'too many deposits to this mailbox')
        const out = await c.store(req)
        return {
          body: encodeStoreReceipt({ stored: out.stored, expiry: out.expiry, hash: out.record.hash, members: out.members }),
          duplicate: !out.stored
        }
      }
      case SwarmExitOp.RETRIEVE: {
        checkAuth(signedFieldsOf(req), req.signature, init.now(), window)
        if (req.maxBytes < 1) throw new InvalidRequestError('maxBytes must be at least 1')
        const auth = { timestamp: req.timestamp, signature: req.signature }
        const page = await c.retrieve(req.mailbox, req.namespace, { maxBytes: req.maxBytes, auth, ...(req.cursor !== undefined ? { cursor: req.cursor } : {}) })
        return {
          body: encodeRetrievePage({
            messages: page.records.map(r => ({ timestamp: r.timestamp, expiry: r.expiry, hash: r.hash, data: r.data })),
            ...(page.nextCursor !== undefined ? { cursor: page.nextCursor } : {})
          })
        }
      }
      case SwarmExitOp.DELETE:
        checkAuth(signedFieldsOf(req), req.signature, init.now(), window)
        return once(req, async () => encodeDeleteCount(await c.delete(req.mailbox, req.namespace, req.hashes, { timestamp: req.timestamp, signature: req.signature })))
      case SwarmExitOp.DELETE_ALL:
        checkAuth(signedFieldsOf(req), req.signature, init.now(), window)
        // what the owner signed at T covers what was stored by T: a replay spares newer messages
        return once(req, async () => encodeDeleteCount(await c.deleteAll(req.mailbox, req.namespace, { timestamp: req.timestamp, signature: req.signature })))
      case SwarmExitOp.SUBSCRIBE: {
        checkAuth(signedFieldsOf(req), req.signature, init.now(), window)
        if (req.maxBytes < 1) throw new InvalidRequestError('maxBytes must be at least 1')
        if (init.allowSubscribe?.(req.mailbox) === false) throw new ExitStatusError(ExitStatus.RATE_LIMITED, 'too many subscriptions to this mailbox')
        const records = await c.subscribe({
          mailbox: req.mailbox,
          namespace: req.namespace,
          since: req.since,
          waitMs: Math.min(req.waitMs, maxWaitMs),
          maxBytes: req.maxBytes,
          known: req.known,
          auth: { timestamp: req.timestamp, signature: req.signature },
          // one signal per circuit: it is the circuit's identity for the per-circuit bound
          circuit: context.signal,
          signal: context.signal
        })
        return { body: encodeRetrievePage({ messages: records.map(r => ({ timestamp: r.timestamp, expiry: r.expiry, hash: r.hash, data: r.data })) }) }
      }
    }
  }
  return async (request, context) => {
    let req: SwarmExitRequest
    try {
      req = decodeSwarmExitRequest(request)
    } catch (err) {
      throw new ExitStatusError(ExitStatus.BAD_REQUEST, (err as Error).message)
    }
    const op = OP_NAMES[req.op]
    try {
      const { body, duplicate } = await run(req, context)
      init.metrics.requests.inc({ op, outcome: duplicate === true ? 'duplicate' : 'ok' })
      return body
    } catch (err) {
      const status = err instanceof ExitStatusError ? err.status : exitStatusOf(err)
      init.metrics.requests.inc({ op, outcome: outcomeOf(status) })
      if (err instanceof ExitStatusError) throw err
      // internal failures carry no details to the client
      throw new ExitStatusError(status, status === ExitStatus.INTERNAL ? 'internal error' : (err as Error).message)
    }
  }
}
