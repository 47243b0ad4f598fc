/** What the tracker needs of an inbound connection that is still upgrading. */
export interface PendingConnection {
  addEventListener: (type: 'close', listener: () => void) => void
  removeEventListener: (type: 'close', listener: () => void) => void
}

/**
 * Counts inbound connections still in their handshake (multistream-select,
 * Noise, yamux) per network prefix. libp2p caps them node-wide
 * (connections.maxIncomingPending) and gives each 10 s; without a per-prefix
 * cap, TCP connections that never send a byte - from any prefix the
 * connection bucket lets through - can hold every slot and keep all new
 * connections out (classic slowloris). A connection stops counting once its
 * upgrade finishes or it closes, whichever comes first.
 */
export class PendingUpgrades {
  readonly maxPerPrefix: number
  private readonly byPrefix = new Map<string, number>()
  private readonly tracked = new WeakMap<PendingConnection, { key: string, onClose: () => void }>()

  constructor (maxPerPrefix: number) {
    this.maxPerPrefix = maxPerPrefix
  }

  /** Upgrading connections from `key`'s prefix now. */
  count (key: string): number {
    return this.byPrefix.get(key) ?? 0
  }

  /** Prefixes with a connection upgrading (bounded by the node-wide pending cap). */
  get prefixes (): number {
    return this.byPrefix.size
  }

  /** Starts counting `conn` against `key`; false (and nothing counted) when the prefix is at its cap. */
  admit (key: string, conn: PendingConnection): boolean {
    const n = this.count(key)
    if (n >= this.maxPerPrefix) return false
    this.byPrefix.set(key, n + 1)
    const onClose = (): void => { this.done(conn) }
    this.tracked.set(conn, { key, onClose })
    conn.addEventListener('close', onClose)
    return true
  }

  /** The connection finished its upgrade (or closed): it no longer counts. Safe to call twice. */
  done (conn: PendingConnection): void {
    const entry = this.tracked.get(conn)
    if (entry == null) return
    this.tracked.delete(conn)
    conn.removeEventListener('close', entry.onClose)
    const left = this.count(entry.key) - 1
    if (left > 0) this.byPrefix.set(entry.key, left)
    else this.byPrefix.delete(entry.key)
  }
}
