import { TypedEventEmitter } from '@libp2p/interface'
import { MemberFlag } from '../membership/constants.js'
import { HashRing } from './ring.js'
import type { MembershipView } from '../membership/view.js'

/** Membership changes arriving within this window are applied to the ring together. */
export const DEFAULT_MEMBERSHIP_DEBOUNCE_MS = 50

export interface MembershipChange {
  added: string[]
  removed: string[]
}

export interface SwarmMembershipEvents {
  change: CustomEvent<MembershipChange>
}

export interface SwarmMembershipInit {
  selfId: string
  /** The network's membership document in force: the ring is its SWARM members. */
  view: Pick<MembershipView, 'members' | 'hasFlag' | 'addEventListener' | 'removeEventListener'>
  /** @default 2048 */
  vnodesPerNode?: number
  /** @default 50 */
  debounceMs?: number
}

/**
 * The consistent-hash ring of swarm members, kept in step with the
 * membership document: exactly the members the authorities granted the SWARM
 * flag (this node too, only if it is one), so every node that holds the same
 * document computes the same swarms. Whatever a peer signs about itself does
 * not put it on the ring. Changes are batched and applied as one ring update,
 * after which `change` fires with who joined and left.
 */
export class SwarmMembership extends TypedEventEmitter<SwarmMembershipEvents> {
  readonly selfId: string
  private readonly view: SwarmMembershipInit['view']
  private readonly debounceMs: number
  private ringValue: HashRing
  private timer?: ReturnType<typeof setTimeout>
  private running = false

  constructor (init: SwarmMembershipInit) {
    super()
    this.selfId = init.selfId
    this.view = init.view
    this.debounceMs = init.debounceMs ?? DEFAULT_MEMBERSHIP_DEBOUNCE_MS
    this.ringValue = new HashRing({ vnodesPerNode: init.vnodesPerNode, nodes: this.wanted() })
  }

  /** The current ring. Replaced, never mutated, on change: a caller may keep a reference as a snapshot. */
  get ring (): HashRing {
    return this.ringValue
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.view.addEventListener('change', this.onChange)
    this.refresh()
  }

  stop (): void {
    if (!this.running) return
    this.running = false
    this.view.removeEventListener('change', this.onChange)
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** True when the document in force makes `peer` a swarm member. */
  isVerifiedMember (peer: string): boolean {
    return this.view.hasFlag(peer, MemberFlag.SWARM)
  }

  /** Applies the document in force to the ring now; returns what changed. */
  refresh (): MembershipChange {
    clearTimeout(this.timer)
    this.timer = undefined
    const want = new Set(this.wanted())
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

  private wanted (): string[] {
    return this.view.members().filter(m => (m.flags & MemberFlag.SWARM) !== 0).map(m => m.peerId)
  }

  private readonly onChange = (): void => {
    if (!this.running || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.running) this.refresh()
    }, this.debounceMs)
    this.timer.unref?.()
  }
}
