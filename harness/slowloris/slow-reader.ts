import { setTimeout as sleep } from 'node:timers/promises'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { defaultLogger } from '@libp2p/logger'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { LINK_PROTOCOL, Link } from '../../src/onion/link.js'
import { AttackCircuit } from './attack-circuit.js'
import type { VerifiedNodeRecord } from '../../src/directory/node-record.js'
import type { Connection } from '@libp2p/interface'

export interface SlowReaderOptions {
  /** The relay's multiaddr, ending in /p2p/<peer id>. */
  target: string
  /** The relay's verified record (its onion key). */
  exit: VerifiedNodeRecord
  /** Link streams held at once (the relay accepts 4 per connection). */
  links: number
  circuitsPerLink: number
  /** ECHO request body: the relay queues an answer of the same size towards us. */
  bodyBytes: number
  /** Cells per second this identity sends, all kinds together (stays under the relay's per-peer budget). */
  cellsPerSecond: number
  /** Of those, first fragments of requests that never complete. */
  partialsPerSecond: number
  /** The size the partial requests claim (sets their fragment count). */
  partialMessageBytes: number
  buildTimeoutMs: number
}

export interface SlowReaderStats {
  linksOpened: number
  /** Links that ended while held (the relay closed them: stall, memory pressure, ban...). */
  linksClosed: number
  /** Link streams or dials the relay refused. */
  linkOpenFailures: number
  circuitsBuilt: number
  buildsFailed: number
  cellsSent: number
  echoRequests: number
  partials: number
  /** Turns when our own link queue was full (the relay did not read fast enough). */
  queueFull: number
}

interface HeldLink { link: Link, circuits: AttackCircuit[] }

const TURN_MS = 10
const REOPEN_DELAY_MS = 250
/** Paces CREATEs under the relay's per-peer circuit budget (10/s, burst 30 by default). */
const CREATES_PER_SECOND = 8
const CREATE_BURST = 24
/** Most sending one turn may catch up on. */
const MAX_BURST_S = 0.1

/**
 * One attacker identity: its own libp2p node, `links` link streams to the
 * relay, circuits on each with the relay as exit; once they are built it stops
 * reading every link (yamux stops granting window, so the relay's answers back
 * up into its queues) and keeps sending ECHO requests whose answers it will
 * never read, plus first fragments of requests it never completes. A link the
 * relay closes is replaced, so the pressure lasts.
 */
export class SlowReader {
  readonly stats: SlowReaderStats = { linksOpened: 0, linksClosed: 0, linkOpenFailures: 0, circuitsBuilt: 0, buildsFailed: 0, cellsSent: 0, echoRequests: 0, partials: 0, queueFull: 0 }
  private readonly options: SlowReaderOptions
  private readonly libp2p: Libp2p
  private readonly held = new Set<HeldLink>()
  private readonly log = defaultLogger().forComponent('bench:slow-reader')
  private running = false
  /** Aborts dials and stream opens in flight when the reader stops (a relay refusing them may never answer). */
  private readonly shutdown = new AbortController()
  private loop?: Promise<void>
  private keeper?: Promise<void>
  private createTokens = CREATE_BURST
  private createsAt = 0
  private rr = 0

  private constructor (libp2p: Libp2p, options: SlowReaderOptions) {
    this.libp2p = libp2p
    this.options = options
  }

  static async create (options: SlowReaderOptions): Promise<SlowReader> {
    const libp2p = await createLibp2p({
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      // a window that never grows past yamux's initial 256 KiB: the relay can push
      // no more than that before its own queues must hold the rest
      streamMuxers: [yamux({ streamOptions: { maxStreamWindowSize: 256 * 1024 } })],
      // nothing here should ping or reconnect on its own
      connectionMonitor: { enabled: false }
    })
    return new SlowReader(libp2p, options)
  }

  get peerId (): string {
    return this.libp2p.peerId.toString()
  }

  /** Connects and opens the first links; resolves once they are built and no longer read. */
  async start (): Promise<void> {
    this.running = true
    this.createsAt = performance.now()
    await this.fill()
    this.loop = this.send()
    this.keeper = this.keep()
  }

  async stop (): Promise<void> {
    this.running = false
    this.shutdown.abort()
    await this.loop
    await this.keeper
    await this.libp2p.stop()
  }

  /** Opens links until `links` are held. */
  private async fill (): Promise<void> {
    while (this.running && this.held.size < this.options.links) {
      try {
        await this.openOne()
      } catch (err) {
        this.stats.linkOpenFailures++
        this.log('opening a link failed - %e', err)
        return
      }
    }
  }

  private async keep (): Promise<void> {
    while (this.running) {
      await sleep(REOPEN_DELAY_MS)
      if (this.running && this.held.size < this.options.links) await this.fill()
    }
  }

  private signal (): AbortSignal {
    return AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(10_000)])
  }

  private async connection (): Promise<Connection> {
    return this.libp2p.dial(multiaddr(this.options.target), { signal: this.signal() })
  }

  private async openOne (): Promise<void> {
    const conn = await this.connection()
    const stream = await conn.newStream(LINK_PROTOCOL, { signal: this.signal() })
    const byCirc = new Map<number, AttackCircuit>()
    const entry: HeldLink = { link: undefined as unknown as Link, circuits: [] }
    entry.link = new Link(stream, conn.remotePeer, true, {
      onCell: (_link, cell) => { byCirc.get(cell.circId)?.onCell(cell) },
      onClose: () => {
        if (this.held.delete(entry)) this.stats.linksClosed++
        for (const c of byCirc.values()) c.fail(new Error('link closed'))
      }
    }, this.log)
    this.stats.linksOpened++
    this.held.add(entry)
    const builds: Array<Promise<void>> = []
    for (let i = 0; i < this.options.circuitsPerLink; i++) {
      await this.paceCreate()
      if (!entry.link.isOpen) break
      const circuit = new AttackCircuit(entry.link, this.options.exit)
      byCirc.set(circuit.circId, circuit)
      builds.push(circuit.build(this.options.buildTimeoutMs).then(() => {
        this.stats.circuitsBuilt++
        entry.circuits.push(circuit)
      }, () => { this.stats.buildsFailed++ }))
    }
    await Promise.all(builds)
    // from here on nothing on this link is read again
    if (entry.link.isOpen) stream.pause()
  }

  private async paceCreate (): Promise<void> {
    for (;;) {
      const now = performance.now()
      this.createTokens = Math.min(CREATE_BURST, this.createTokens + (now - this.createsAt) * CREATES_PER_SECOND / 1000)
      this.createsAt = now
      if (this.createTokens >= 1) break
      await sleep((1 - this.createTokens) * 1000 / CREATES_PER_SECOND, undefined, { signal: this.shutdown.signal })
    }
    this.createTokens--
  }

  /** Sends at `cellsPerSecond` from a small token bucket, so a stall never turns into a burst over the relay's budget. */
  private async send (): Promise<void> {
    const { cellsPerSecond, partialsPerSecond, bodyBytes, partialMessageBytes } = this.options
    const echoCells = Math.ceil((bodyBytes + 1) / 928)
    const maxTokens = Math.max(echoCells, cellsPerSecond * MAX_BURST_S)
    let tokens = 0
    let partialTokens = 0
    let last = performance.now()
    while (this.running) {
      await sleep(TURN_MS)
      const now = performance.now()
      tokens = Math.min(maxTokens, tokens + cellsPerSecond * (now - last) / 1000)
      partialTokens = Math.min(partialsPerSecond * MAX_BURST_S + 1, partialTokens + partialsPerSecond * (now - last) / 1000)
      last = now
      const circuits = this.openCircuits()
      if (circuits.length === 0) continue
      while (tokens >= 1) {
        const circuit = circuits[this.rr++ % circuits.length]
        if (partialTokens >= 1) {
          if (!circuit.sendPartial(partialMessageBytes)) {
            this.stats.queueFull++
            break
          }
          partialTokens--
          tokens--
          this.stats.partials++
          this.stats.cellsSent++
          continue
        }
        if (tokens < echoCells) break
        const sent = circuit.sendEcho(bodyBytes)
        this.stats.cellsSent += sent
        tokens -= sent
        if (sent < echoCells) {
          this.stats.queueFull++
          break
        }
        this.stats.echoRequests++
      }
    }
  }

  private openCircuits (): AttackCircuit[] {
    const out: AttackCircuit[] = []
    for (const { link, circuits } of this.held) {
      if (!link.isOpen) continue
      for (const c of circuits) if (c.open) out.push(c)
    }
    return out
  }
}
