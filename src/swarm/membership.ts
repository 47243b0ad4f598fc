import { TypedEventEmitter } from '@libp2p/interface'
import { Capability, type VerifiedNodeRecord } from '../onion/node-record.js'
import { HashRing } from './ring.js'
import type { DirectoryService } from '../onion/directory.js'

/** Directory events arriving within this window are applied to the ring together. */
export const DEFAULT_MEMBERSHIP_DEBOUNCE_MS = 50

export type MembershipDirectory = Pick<DirectoryService, 'records' | 'get' | 'addEventListener' | 'removeEventListener'>

export interface MembershipChange {
  added: string[]
  removed: string[]
}

export interface SwarmMembershipEvents {
  change: CustomEvent<MembershipChange>
}

export interface SwarmMembershipInit {
  selfId: string
  directory: MembershipDirectory
  /** @default 2048 */
  vnodesPerNode?: number
  /** @default 50 */
  debounceMs?: number
  now?: () => number
}

/** A record that puts its peer on the ring: verified (the directory holds only those), SWARM, unexpired. */
export function isSwarmRecord (record: VerifiedNodeRecord | undefined, now: number): boolean {
  return record != null && (record.capabilities & Capability.SWARM) !== 0 && record.validUntil > now
}

/**
 * The consistent-hash ring of swarm members, kept in step with the directory:
 * every peer with a verified, unexpired SWARM record, and this node. Directory
 * events are batched (a directory fetch adds records one by one) and applied
 * as one ring update, after which `change` fires with who joined and left.
 */
export class SwarmMembership extends TypedEventEmitter<SwarmMembershipEvents> {
  readonly selfId: string
  private readonly directory: MembershipDirectory
  private readonly now: () => number
  private readonly debounceMs: number
  private ringValue: HashRing
  private timer?: ReturnType<typeof setTimeout>
  private running = false

  constructor (init: SwarmMembershipInit) {
    super()
    this.selfId = init.selfId
    this.directory = init.directory
    this.now = init.now ?? Date.now
    this.debounceMs = init.debounceMs ?? DEFAULT_MEMBERSHIP_DEBOUNCE_MS
    this.ringValue = new HashRing({ vnodesPerNode: init.vnodesPerNode, nodes: [init.selfId] })
  }

  /** The current ring. Replaced, never mutated, on change: a caller may keep a reference as a snapshot. */
  get ring (): HashRing {
    return this.ringValue
  }

  start (): void {
    if (this.running) return
    this.running = true
    for (const type of ['record:added', 'record:updated', 'record:expired'] as const) this.directory.addEventListener(type, this.onRecord)
    this.refresh()
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    for (const type of ['record:added', 'record:updated', 'record:expired'] as const) this.directory.removeEventListener(type, this.onRecord)
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** True when `peer` holds a verified, unexpired SWARM record (or is this node). */
  isVerifiedMember (peer: string): boolean {
    return peer === this.selfId || isSwarmRecord(this.directory.get(peer), this.now())
  }

  /** Applies the directory's current state to the ring now; returns what changed. */
  refresh (): MembershipChange {
    clearTimeout(this.timer)
    this.timer = undefined
    const now = this.now()
    const want = new Set([this.selfId])
    for (const record of this.directory.records()) {
      if (isSwarmRecord(record, now)) want.add(record.peerId.toString())
    }
    const have = this.ringValue.nodes()
    const removed = have.filter(id => !want.has(id))
    const added = [...want].filter(id => !this.ringValue.has(id))
    if (added.length === 0 && removed.length === 0) return { added, removed }
    // a new ring object: holders of the old one keep a consistent snapshot
    const next = this.ringValue.clone()
    for (const id of removed) next.remove(id)
    next.addMany(added)
    this.ringValue = next
    const change = { added, removed }
    this.safeDispatchEvent('change', { detail: change })
    return change
  }

  private readonly onRecord = (): void => {
    if (!this.running || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.running) this.refresh()
    }, this.debounceMs)
    this.timer.unref?.()
  }
}
