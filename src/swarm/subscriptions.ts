import { SubscriptionLimitError } from './service-errors.js'
import type { MemoryBudget } from '../memory/budget.js'
import type { SwarmRecord } from './record-codec.js'

/** Subscriptions an exit holds open at once. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 10_000
/** Subscriptions one circuit may hold open (a client needs one per mailbox it follows). */
export const DEFAULT_MAX_SUBSCRIPTIONS_PER_CIRCUIT = 8
/** Longest an exit holds a subscription open; the client asks again after it. */
export const DEFAULT_MAX_SUBSCRIBE_WAIT_MS = 25_000
/** Memory charged per waiting subscription (its state and the answer it may hold). */
const SUBSCRIPTION_BASE_BYTES = 1024

export interface SubscriptionsInit {
  now: () => number
  budget?: MemoryBudget
  /** @default 10000 */
  max?: number
  /** @default 8 */
  maxPerCircuit?: number
}

interface Waiter {
  key: string
  namespace: number
  known: Set<string>
  circuit: object
  bytes: number
  timer?: ReturnType<typeof setTimeout>
  resolve: (record: SwarmRecord | undefined) => void
  reject: (err: Error) => void
}

/** One waiting subscription: `record` settles with the first record pushed, undefined at the deadline. */
export interface Subscription {
  record: Promise<SwarmRecord | undefined>
  /** Ends the wait now (answered otherwise, or given up); idempotent. */
  close: () => void
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/**
 * The exit's side of live delivery: clients' subscriptions waiting for a
 * member to PUSH the next record of their mailbox. Bounded per circuit, per
 * node and by the memory budget, charged before anything is held; a
 * subscription ends at its deadline, when its circuit closes (the request's
 * signal) or when a record for it arrives.
 */
export class Subscriptions {
  private readonly init: SubscriptionsInit
  private readonly byMailbox = new Map<string, Set<Waiter>>()
  private readonly perCircuit = new WeakMap<object, number>()
  private count = 0

  constructor (init: SubscriptionsInit) {
    this.init = init
  }

  get size (): number {
    return this.count
  }

  /**
   * Opens a subscription to `mailbox`/`namespace` for records not in `known`,
   * held by `circuit` (any object that identifies it) for up to `waitMs`.
   * @throws SubscriptionLimitError
   */
  open (mailbox: Uint8Array, namespace: number, known: Uint8Array[], waitMs: number, circuit: object, signal: AbortSignal): Subscription {
    if (this.count >= (this.init.max ?? DEFAULT_MAX_SUBSCRIPTIONS)) throw new SubscriptionLimitError('this exit holds too many subscriptions')
    if ((this.perCircuit.get(circuit) ?? 0) >= (this.init.maxPerCircuit ?? DEFAULT_MAX_SUBSCRIPTIONS_PER_CIRCUIT)) {
      throw new SubscriptionLimitError('too many subscriptions on this circuit')
    }
    const bytes = SUBSCRIPTION_BASE_BYTES + known.length * 96
    if (this.init.budget?.tryReserve(bytes) === false) throw new SubscriptionLimitError('the memory budget is spent')
    let settle!: Pick<Waiter, 'resolve' | 'reject'>
    const record = new Promise<SwarmRecord | undefined>((resolve, reject) => { settle = { resolve, reject } })
    const waiter: Waiter = { key: hex(mailbox), namespace, known: new Set(known.map(hex)), circuit, bytes, ...settle }
    let set = this.byMailbox.get(waiter.key)
    if (set == null) {
      set = new Set()
      this.byMailbox.set(waiter.key, set)
    }
    set.add(waiter)
    this.count++
    this.perCircuit.set(circuit, (this.perCircuit.get(circuit) ?? 0) + 1)
    const end = (): void => { this.remove(waiter) }
    waiter.timer = setTimeout(() => {
      end()
      waiter.resolve(undefined)
    }, waitMs)
    const onAbort = (): void => {
      end()
      waiter.reject(signal.reason instanceof Error ? signal.reason : new Error('subscription aborted'))
    }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    return {
      record: record.finally(() => { signal.removeEventListener('abort', onAbort) }),
      close: () => {
        end()
        waiter.resolve(undefined)
      }
    }
  }

  /** Is anyone here waiting for this mailbox's records? */
  wants (mailbox: Uint8Array): boolean {
    return this.byMailbox.has(hex(mailbox))
  }

  /** A member pushed a record: every subscription it answers ends with it. Returns how many took it. */
  deliver (record: SwarmRecord): number {
    const set = this.byMailbox.get(hex(record.mailbox))
    if (set == null) return 0
    const hash = hex(record.hash)
    let taken = 0
    for (const w of [...set]) {
      if (w.namespace !== record.namespace || w.known.has(hash)) continue
      this.remove(w)
      w.resolve(record)
      taken++
    }
    return taken
  }

  /** Ends every subscription (node stopping): each answers with no record. */
  clear (): void {
    for (const set of [...this.byMailbox.values()]) {
      for (const w of [...set]) {
        this.remove(w)
        w.resolve(undefined)
      }
    }
  }

  private remove (w: Waiter): void {
    const set = this.byMailbox.get(w.key)
    if (set?.delete(w) !== true) return
    clearTimeout(w.timer)
    if (set.size === 0) this.byMailbox.delete(w.key)
    this.count--
    const left = (this.perCircuit.get(w.circuit) ?? 1) - 1
    if (left === 0) this.perCircuit.delete(w.circuit)
    else this.perCircuit.set(w.circuit, left)
    this.init.budget?.release(w.bytes)
  }
}
