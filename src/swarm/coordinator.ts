import { createRecord, encodedRecordSize, type SwarmRecord } from './record-codec.js'
import { encodeCursor } from './store/store-keys.js'
import { checkPut, type StoreLimits } from './store/store-options.js'
import {
  MAX_PEER_PAGE_BYTES, SwarmOp, type GetRequest, type OwnerAuth, type PageAnswer, type PutAnswer, type SignedDelete, type WatchRequest
} from './peer/protocol.js'
import type { Subscriptions } from './subscriptions.js'
import { QuorumFailedError, SwarmNotReadyError, SwarmUnavailableError } from './service-errors.js'
import { InvalidRequestError, TtlOutOfBoundsError } from './store/errors.js'
import { isEd25519PublicKey } from '../crypto/ed25519.js'
import { DEFAULT_MAX_PAGE_BYTES } from './service-defaults.js'
import { swarmStatusOf } from './status.js'
import type { LocalReplica } from './replica.js'
import type { SwarmPeers } from './peer/peers.js'
import type { HashRing } from './ring.js'
import type { SwarmMetrics } from './swarm-metrics.js'
import type { Logger } from '@libp2p/interface'

export { DEFAULT_MAX_PAGE_BYTES }

export interface SwarmCoordinatorInit {
  selfId: string
  ring: () => HashRing
  local: LocalReplica
  peers: SwarmPeers
  /** R. @default 3 */
  replicas: number
  /** W; 0 means a majority of the swarm. */
  writeQuorum: number
  /** The store's limits, checked before any member is asked. */
  limits: StoreLimits
  /** @default 98304 */
  maxPageBytes?: number
  now: () => number
  metrics: SwarmMetrics
  log: Logger
  /** Notes a signed read or delete this node runs as a member for its own clients (its owner check then refuses a replay). */
  noteSigned?: (request: GetRequest | SignedDelete | WatchRequest) => void
  /** Clients' subscriptions waiting here for a member's PUSH. */
  subscriptions?: Subscriptions
}

/** A client's subscription as the exit runs it (the owner's signature checked). */
export interface SubscribeInit {
  mailbox: Uint8Array
  namespace: number
  since: number
  waitMs: number
  maxBytes: number
  known: Uint8Array[]
  auth: OwnerAuth
  /** Identifies the circuit (for its bound) and ends the wait when it closes. */
  circuit: object
  signal: AbortSignal
}

export interface StoreInit {
  mailbox: Uint8Array
  namespace: number
  ttlMs: number
  data: Uint8Array
}

export interface StoreOutcome {
  record: SwarmRecord
  /** False when an acknowledging member already held the message (a duplicate: only its expiry was extended). */
  stored: boolean
  expiry: number
  /** Peer ids of the members that had it durably when the write was acknowledged (at least W). */
  members: string[]
}

/** The per-member operations the coordinator needs, whether the member is this node or another. */
interface MemberOps {
  put: (record: SwarmRecord) => Promise<PutAnswer>
  get: (request: GetRequest) => Promise<PageAnswer>
  delete: (request: SignedDelete) => Promise<number>
  watch: (request: WatchRequest) => Promise<PageAnswer>
}

/**
 * Executes clients' swarm requests at the exit: finds the mailbox's swarm on
 * the ring, writes to every member at once (locally when this node is one)
 * and acknowledges after W durable copies; the remaining writes finish in the
 * background and anti-entropy repairs any that fail. Reads ask every member
 * and merge their pages; deletes go to every member.
 */
export class SwarmCoordinator {
  private readonly init: SwarmCoordinatorInit
  private readonly maxPageBytes: number

  constructor (init: SwarmCoordinatorInit) {
    this.init = init
    this.maxPageBytes = Math.min(init.maxPageBytes ?? DEFAULT_MAX_PAGE_BYTES, MAX_PEER_PAGE_BYTES)
  }

  /** The mailbox's swarm: the first min(R, N) members clockwise. */
  members (mailbox: Uint8Array): string[] {
    return this.init.ring().swarmFor(mailbox, this.init.replicas)
  }

  /** W for a swarm of `n` members: the configured quorum (at most n), or a majority. */
  quorum (n: number): number {
    const w = this.init.writeQuorum
    return w > 0 ? Math.min(w, n) : Math.floor(n / 2) + 1
  }

  async store (request: StoreInit): Promise<StoreOutcome> {
    const now = this.init.now()
    const { minTtlMs, maxTtlMs } = this.init.limits
    // before the record is built: a TTL near 2^53 would overflow its expiry and be reported as malformed
    if (!(request.ttlMs >= minTtlMs && request.ttlMs <= maxTtlMs)) throw new TtlOutOfBoundsError(request.ttlMs, minTtlMs, maxTtlMs)
    // a mailbox that is no Ed25519 key could never sign a read or a delete: its messages would be stuck
    if (!isEd25519PublicKey(request.mailbox)) throw new InvalidRequestError('mailbox is not an Ed25519 public key')
    const record = createRecord({ ...request, timestamp: now })
    // size, TTL and hash are refused here, before any member is asked: nothing is stored anywhere
    checkPut(record, this.init.limits, now)
    const members = this.members(record.mailbox)
    if (members.length === 0) throw new SwarmUnavailableError('no swarm members known')
    const w = this.quorum(members.length)
    const started = performance.now()
    const writes = members.map(async (member) => {
      const answer = await this.on(member).put(record)
      return { member, answer }
    })
    return new Promise<StoreOutcome>((resolve, reject) => {
      const ok: Array<{ member: string, answer: PutAnswer }> = []
      const failures: unknown[] = []
      let settled = false
      let remaining = members.length
      let ackedAt = 0
      const finishOne = (): void => {
        if (--remaining > 0) return
        if (settled && ackedAt > 0 && ok.length > w) this.init.metrics.replicationLag.observe((performance.now() - ackedAt) / 1000)
        if (failures.length > 0) this.init.metrics.replicationFailures.inc(failures.length)
      }
      for (const write of writes) {
        write.then((done) => {
          ok.push(done)
          if (!settled && ok.length >= w) {
            settled = true
            ackedAt = performance.now()
            this.init.metrics.quorumSeconds.observe((ackedAt - started) / 1000)
            resolve({
              record,
              stored: ok.every(o => o.answer.stored),
              expiry: Math.max(...ok.map(o => o.answer.expiry)),
              members: ok.map(o => o.member)
            })
          }
          finishOne()
        }, (err: unknown) => {
          failures.push(err)
          if (swarmStatusOf(err) === undefined) this.init.log('swarm write to a member failed - %e', err)
          if (!settled && failures.length > members.length - w) {
            settled = true
            reject(writeFailure(failures, ok.length, w))
          }
          finishOne()
        })
      }
    })
  }

  /**
   * One page of a mailbox namespace, merged from every member that answers
   * (deduplicated by hash, in (timestamp, hash) order). A member that is still
   * pulling its range refuses and is left out; if none answers the request
   * fails with SwarmUnavailableError, which a client may retry.
   */
  async retrieve (mailbox: Uint8Array, namespace: number, options: { cursor?: Uint8Array, maxBytes: number, auth: OwnerAuth }): Promise<PageAnswer> {
    const members = this.members(mailbox)
    if (members.length === 0) throw new SwarmUnavailableError('no swarm members known')
    const budget = Math.max(1, Math.min(options.maxBytes, this.maxPageBytes))
    // each member verifies the owner's signature itself: the exit's word is not enough
    const request: GetRequest = { op: SwarmOp.GET, mailbox, namespace, maxBytes: budget, auth: options.auth, ...(options.cursor !== undefined ? { cursor: options.cursor } : {}) }
    const results = await Promise.allSettled(members.map(async m => this.on(m).get(request)))
    const pages = results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    if (pages.length === 0) {
      const errors = results.map(r => (r as PromiseRejectedResult).reason as unknown)
      // the same client error everywhere (e.g. a foreign cursor) is the answer; anything else is unavailability
      const typed = errors.find(e => swarmStatusOf(e) !== undefined)
      if (typed !== undefined && errors.every(e => swarmStatusOf(e) === swarmStatusOf(typed))) throw typed
      const notReady = errors.some(e => e instanceof SwarmNotReadyError)
      throw new SwarmUnavailableError(notReady ? 'swarm members are still pulling this mailbox; retry shortly' : 'no swarm member answered')
    }
    return mergePages(pages, budget)
  }

  /**
   * Live delivery (docs/protocol.md §10.8). The subscription is opened here
   * first, then every member is asked to WATCH: each answers the records at or
   * after `since` the client does not know, or registers this node and later
   * PUSHes the next new record. Any records: answered at once (merged, the
   * subscription closed). None: the first record pushed, or none at the
   * deadline. Throws SwarmUnavailableError when no member took the watch.
   */
  async subscribe (req: SubscribeInit): Promise<SwarmRecord[]> {
    const hub = this.init.subscriptions
    if (hub == null) throw new SwarmUnavailableError('this node does not serve subscriptions')
    const members = this.members(req.mailbox)
    if (members.length === 0) throw new SwarmUnavailableError('no swarm members known')
    const subscription = hub.open(req.mailbox, req.namespace, req.known, req.waitMs, req.circuit, req.signal)
    const budget = Math.max(1, Math.min(req.maxBytes, this.maxPageBytes))
    const watch: WatchRequest = {
      op: SwarmOp.WATCH, mailbox: req.mailbox, namespace: req.namespace, since: req.since, waitMs: req.waitMs, maxBytes: budget, known: req.known, auth: req.auth
    }
    const results = await Promise.allSettled(members.map(async m => this.on(m).watch(watch)))
    const pages = results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    if (pages.length === 0) {
      subscription.close()
      await subscription.record.catch(() => {})
      const errors = results.map(r => (r as PromiseRejectedResult).reason as unknown)
      const typed = errors.find(e => swarmStatusOf(e) !== undefined)
      if (typed !== undefined && errors.every(e => swarmStatusOf(e) === swarmStatusOf(typed))) throw typed
      throw new SwarmUnavailableError(errors.some(e => e instanceof SwarmNotReadyError) ? 'swarm members are still pulling this mailbox; retry shortly' : 'no swarm member answered')
    }
    const failed = results.length - pages.length
    if (failed > 0) this.init.metrics.replicationFailures.inc(failed)
    const merged = mergePages(pages.map(p => ({ records: p.records })), budget).records
    if (merged.length > 0) {
      subscription.close()
      await subscription.record.catch(() => {})
      return merged
    }
    const record = await subscription.record
    return record != null ? [record] : []
  }

  /**
   * Deletes the listed records stored at or before the owner's signed
   * timestamp on every member; returns the largest count a member deleted.
   */
  async delete (mailbox: Uint8Array, namespace: number, hashes: Uint8Array[], auth: OwnerAuth): Promise<number> {
    return this.everywhere({ op: SwarmOp.DELETE, mailbox, namespace, hashes, auth })
  }

  /**
   * Deletes every record of the mailbox (or one namespace) stored at or before
   * the owner's signed timestamp on every member.
   */
  async deleteAll (mailbox: Uint8Array, namespace: number | undefined, auth: OwnerAuth): Promise<number> {
    return this.everywhere(namespace === undefined ? { op: SwarmOp.DELETE_ALL, mailbox, auth } : { op: SwarmOp.DELETE_ALL, mailbox, namespace, auth })
  }

  private async everywhere (request: SignedDelete): Promise<number> {
    const members = this.members(request.mailbox)
    if (members.length === 0) throw new SwarmUnavailableError('no swarm members known')
    const results = await Promise.allSettled(members.map(async m => this.on(m).delete(request)))
    const counts = results.flatMap(r => r.status === 'fulfilled' ? [r.value] : [])
    const failed = results.length - counts.length
    if (failed > 0) this.init.metrics.replicationFailures.inc(failed)
    if (counts.length === 0) {
      const first = (results[0] as PromiseRejectedResult).reason as unknown
      throw swarmStatusOf(first) !== undefined ? first : new SwarmUnavailableError('no swarm member answered')
    }
    return Math.max(...counts)
  }

  private on (member: string): MemberOps {
    if (member === this.init.selfId) {
      // this node is a member: the exit handler has checked the owner's signature
      const { local, noteSigned } = this.init
      return {
        put: async (record) => local.put(record),
        get: async (r) => {
          noteSigned?.(r)
          return local.get(r.mailbox, r.namespace, r.maxBytes, r.cursor)
        },
        delete: async (r) => {
          noteSigned?.(r)
          return r.op === SwarmOp.DELETE ? local.delete(r) : local.deleteAll(r)
        },
        watch: async (r) => {
          noteSigned?.(r)
          return local.watch(this.init.selfId, r)
        }
      }
    }
    const peers = this.init.peers
    return {
      put: async (record) => peers.put(member, record),
      get: async (r) => peers.get(member, r),
      delete: async (r) => peers.delete(member, r),
      watch: async (r) => peers.watch(member, r)
    }
  }
}

/**
 * The error a failed write reports: a refusal by the store (full mailbox,
 * full node...) when a member gave one, since that is what the client can act
 * on; otherwise that the quorum was not reached.
 */
function writeFailure (failures: unknown[], stored: number, required: number): unknown {
  const typed = failures.find(e => swarmStatusOf(e) !== undefined)
  if (typed !== undefined) return typed
  return new QuorumFailedError(stored, required)
}

const cmpBytes = (a: Uint8Array, b: Uint8Array): number =>
  Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength))

/** Order of records in a mailbox namespace (the store's key order). */
function cmpRecords (a: SwarmRecord, b: SwarmRecord): number {
  return a.timestamp !== b.timestamp ? a.timestamp - b.timestamp : cmpBytes(a.hash, b.hash)
}

/**
 * Merges members' pages of the same range. A member that has more stopped at
 * its last record; past the earliest such stop another member's records may
 * be missing from this round, so the merged page ends there and the cursor
 * resumes from it. The first record is always returned, so paging progresses.
 */
export function mergePages (pages: PageAnswer[], budget: number): PageAnswer {
  const byHash = new Map<string, SwarmRecord>()
  let cut: SwarmRecord | undefined
  for (const page of pages) {
    for (const record of page.records) byHash.set(Buffer.from(record.hash).toString('hex'), record)
    if (page.nextCursor !== undefined && page.records.length > 0) {
      const last = page.records[page.records.length - 1]
      if (cut === undefined || cmpRecords(last, cut) < 0) cut = last
    }
  }
  const sorted = [...byHash.values()].sort(cmpRecords)
  const out: SwarmRecord[] = []
  let bytes = 0
  let more = cut !== undefined
  for (const record of sorted) {
    if (cut !== undefined && cmpRecords(record, cut) > 0) break
    const size = encodedRecordSize(record)
    if (out.length > 0 && bytes + size > budget) {
      more = true
      break
    }
    out.push(record)
    bytes += size
  }
  if (!more || out.length === 0) return { records: out }
  const last = out[out.length - 1]
  return { records: out, nextCursor: encodeCursor(last.timestamp, last.hash) }
}
