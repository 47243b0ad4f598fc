import { Counter, type Registry } from 'prom-client'

/** Connections are pruned once this share of connections.max is in use, so a new client always finds a slot. */
export const CONNECTION_PRUNE_SHARE = 0.9
/** A connection younger than this is not "idle" yet: it may not have opened its first stream. */
export const DEFAULT_IDLE_GRACE_MS = 10_000

/** What slot keeping needs to know of an open connection. */
export interface SlotConnection {
  remotePeer: string
  /** The remote /24 (IPv4) or /48 (IPv6); undefined for a non-IP transport. */
  prefix?: string
  /** When it opened (ms, the `now` clock). */
  opened: number
  /** Streams open on it now (links, swarm channels, directory and membership exchanges). */
  streams: number
  close: () => void
}

export interface ConnectionSlotsInit {
  /** connections.max */
  max: number
  /** Established connections from one prefix, not counting members'. */
  maxPerPrefix: number
  /** An admitted member (relays are pruned last and never count against a prefix). */
  isMember: (peer: string) => boolean
  now: () => number
  /** @default 10000 */
  idleGraceMs?: number
  /** The node's registry. */
  registry: Registry
}

export type SlotVerdict = 'admit' | 'refuse'

/**
 * Connection slots for those who use them (docs/threat-model.md). When an
 * inbound connection finishes its upgrade:
 *
 * - a prefix at its cap of established non-member connections makes room by
 *   closing its idlest connection (no stream open, past the grace period),
 *   or the newcomer is refused;
 * - past CONNECTION_PRUNE_SHARE of connections.max, the idlest connection
 *   anywhere is closed: strangers' first, admitted members' last.
 *
 * Idle connections cost an attacker a TCP handshake each; a client that is
 * using its connection (a link with circuits, a swarm or directory stream)
 * holds a stream and is never the one closed.
 */
export class ConnectionSlots {
  private readonly init: ConnectionSlotsInit
  private readonly graceMs: number
  private readonly pruned: Counter<'reason'>
  private readonly refused: Counter

  constructor (init: ConnectionSlotsInit) {
    this.init = init
    this.graceMs = init.idleGraceMs ?? DEFAULT_IDLE_GRACE_MS
    const registers = [init.registry]
    this.pruned = new Counter({ name: 'ghostnode_connections_pruned_total', help: 'Idle connections closed to make room, by reason (prefix: its /24 or /48 was at its cap; capacity: near connections.max)', labelNames: ['reason'], registers })
    this.refused = new Counter({ name: 'ghostnode_connections_prefix_refused_total', help: 'Upgraded inbound connections refused: their prefix was at its cap and none of its connections was idle', registers })
    for (const reason of ['prefix', 'capacity']) this.pruned.inc({ reason }, 0)
  }

  /** Decides on a connection from `peer` at `prefix` that finished its upgrade, given the ones already open. */
  admit (peer: string, prefix: string | undefined, open: SlotConnection[]): SlotVerdict {
    const member = this.init.isMember(peer)
    if (!member && prefix !== undefined) {
      const same = open.filter(c => c.prefix === prefix && !this.init.isMember(c.remotePeer))
      if (same.length >= this.init.maxPerPrefix) {
        const victim = this.idlest(same)
        if (victim === undefined) {
          this.refused.inc()
          return 'refuse'
        }
        victim.close()
        this.pruned.inc({ reason: 'prefix' })
        open = open.filter(c => c !== victim)
      }
    }
    if (open.length >= this.soft) this.pruneOne(open)
    return 'admit'
  }

  /**
   * Closes idle connections (strangers' first) until fewer than
   * CONNECTION_PRUNE_SHARE of connections.max are open: run on a timer, so
   * slots filled faster than the grace period free up without a newcomer
   * having to get in first (at connections.max libp2p refuses before asking).
   */
  sweep (open: SlotConnection[]): number {
    let left = open
    let closed = 0
    while (left.length >= this.soft) {
      const victim = this.pruneOne(left)
      if (victim === undefined) break
      left = left.filter(c => c !== victim)
      closed++
    }
    return closed
  }

  /** Where pruning for capacity starts: CONNECTION_PRUNE_SHARE of connections.max. */
  private get soft (): number {
    return Math.floor(this.init.max * CONNECTION_PRUNE_SHARE)
  }

  /** Closes the idlest connection, a stranger's if any is idle, else a member's; returns it. */
  private pruneOne (open: SlotConnection[]): SlotConnection | undefined {
    const victim = this.idlest(open.filter(c => !this.init.isMember(c.remotePeer))) ?? this.idlest(open)
    if (victim === undefined) return undefined
    victim.close()
    this.pruned.inc({ reason: 'capacity' })
    return victim
  }

  /** The connection with no stream open that has been open longest past the grace period. */
  private idlest (candidates: SlotConnection[]): SlotConnection | undefined {
    const cutoff = this.init.now() - this.graceMs
    let best: SlotConnection | undefined
    for (const c of candidates) {
      if (c.streams > 0 || c.opened > cutoff) continue
      if (best === undefined || c.opened < best.opened) best = c
    }
    return best
  }
}
