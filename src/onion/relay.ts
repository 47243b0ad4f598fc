import { Registry } from 'prom-client'
import { processCreateLayer } from '../crypto/create-peel.js'
import { HopCrypto, relayBodyOf } from '../crypto/layer.js'
import { ReplayError, ReplayFilterFullError } from '../crypto/errors.js'
import { LinkClosedError } from './circuit-errors.js'
import { destroyCell, decodeDestroyReason, destroyReasonName, encodeCell, setCellCircId, type Cell } from './cell.js'
import { CELL_HEADER_BYTES, CellCommand, DestroyReason, RelayCommand, RELAY_TAGS_BYTES } from '../wire/onion-format.js'
import { cellBytes, LINK_CELL_COST_BYTES, type Link } from './link.js'
import { LinkIdleError, MemoryShedError } from './link-errors.js'
import { shedLargest, type MemoryHolder } from '../memory/relief.js'
import { DEFAULT_REASSEMBLY_TIMEOUT_MS, type Reassembler } from './reassembly.js'
import { PeerIdCache } from './peer-id-cache.js'
import { RelayExit } from './relay-exit.js'
import { RelayMetrics, type CreateOutcome } from './relay-metrics.js'
import { writeRelayBody } from './relay-message.js'
import type { ExitHandlerRegistry } from './exit.js'
import type { LinkManager } from './link-manager.js'
import type { MemoryBudget } from '../memory/budget.js'
import type { MemoryGuard } from '../memory/guard.js'
import type { ReplayFilter } from '../crypto/replay-filter.js'
import type { OnionKey } from '../crypto/x25519.js'
import type { ComponentLogger, Logger, PeerId } from '@libp2p/interface'
import { inBackground } from '../background.js'

export const DEFAULT_MAX_CIRCUITS = 20_000
export const DEFAULT_MAX_CIRCUITS_PER_PEER = 2_000
export const DEFAULT_CIRCUIT_IDLE_TIMEOUT_MS = 300_000
export const DEFAULT_EXTEND_TIMEOUT_MS = 10_000
export { DEFAULT_EXIT_CONCURRENCY_PER_CIRCUIT, DEFAULT_EXIT_MAX_MESSAGE_BYTES, DEFAULT_EXIT_REASSEMBLY_BYTES_PER_CIRCUIT } from './relay-exit.js'

export interface OnionKeySource {
  /** Current onion key first, then the previous one while its grace period lasts. */
  keysForCreate: () => readonly OnionKey[]
}

/** Hooks the rate limiter plugs into; every one is optional. */
export interface RelayPolicy {
  /** False refuses a CREATE from this neighbour (rate limit, ban). */
  allowCreate?: (peer: PeerId) => boolean
  /** False sheds a cell from this neighbour. */
  allowCell?: (peer: PeerId) => boolean
  /** Charged once per received chunk; false sheds that chunk's cells. */
  allowBytes?: (peer: PeerId, bytes: number) => boolean
  /** A neighbour broke the link protocol (malformed cells, id reuse). */
  onViolation?: (peer: PeerId, kind: 'malformed_cell' | 'protocol_misuse') => void
}

export interface OnionRelayInit {
  links: LinkManager
  keys: OnionKeySource
  replay: ReplayFilter
  exits: ExitHandlerRegistry
  logger: ComponentLogger
  selfPeerId: PeerId
  /** The node's registry: every metric of a node is on it. */
  registry: Registry
  policy?: RelayPolicy
  /** @default 20000 */
  maxCircuits?: number
  /** Circuits one neighbour may hold through this node, over all its links. @default 2000 */
  maxCircuitsPerPeer?: number
  /**
   * Node-wide budget for link queues, reassembly buffers and executing
   * requests; when it is spent the relay closes the biggest holders.
   */
  budget?: MemoryBudget
  /** The memory watchdog: while it reports pressure, new circuits are refused. */
  memory?: MemoryGuard
  /** A partial request at the exit is dropped this long after its first fragment. @default 30000 */
  reassemblyTimeoutMs?: number
  /** @default 300000 */
  circuitIdleTimeoutMs?: number
  /** @default 10000 */
  extendTimeoutMs?: number
  /** Requests executing at once per circuit; more are answered RATE_LIMITED. @default 256 */
  exitConcurrencyPerCircuit?: number
  /** @default 131072 */
  maxMessageBytes?: number
  now?: () => number
}

export interface RelayTableSizes {
  circuits: number
  /** Circuit ends indexed by (link, circuit id): one or two per circuit. */
  entries: number
  /** Links with a table of circuit ends. */
  links: number
  /** Neighbours with circuits counted against maxCircuitsPerPeer. */
  peers: number
  /** The most circuits any one neighbour holds. */
  maxPerPeer: number
}

interface CircuitEnd { link: Link, circId: number }

interface RelayCircuit {
  hop: HopCrypto
  prev: CircuitEnd
  next?: CircuitEnd
  exit: boolean
  createdAt: number
  lastActivity: number
  reassembler?: Reassembler
  inflight: number
  /** Budgeted bytes of the requests executing now. */
  inflightBytes: number
  abort: AbortController
  closed: boolean
}

type Side = 'prev' | 'next'

/**
 * A relay's circuits: peels CREATE layers, forwards cells between links with
 * their circuit ids rewritten, and at the exit reassembles requests, runs them
 * through the handler registry and sends the responses back. Each hop only
 * knows its two neighbours; nothing here logs both ends of a circuit.
 */
export class OnionRelay {
  private readonly init: OnionRelayInit
  private readonly log: Logger
  private readonly byLink = new Map<Link, Map<number, { circuit: RelayCircuit, side: Side }>>()
  /** When each link last carried a cell (or was first seen idle), for the idle-link sweep. */
  private readonly linkSeen = new Map<Link, number>()
  private readonly metrics: RelayMetrics
  /** The onion-key epoch whose full replay filter was last reported (reported once each). */
  private replayFullEpoch?: number
  private readonly now: () => number
  private circuits = 0
  /** Set per received chunk: the neighbour's byte budget refused it. */
  private chunkDenied = false
  private readonly perPeer = new Map<string, number>()
  private readonly exit: RelayExit<RelayCircuit>
  private readonly nextPeerIds = new PeerIdCache()
  private sweepTimer?: ReturnType<typeof setInterval>
  private reassemblySweepTimer?: ReturnType<typeof setInterval>

  constructor (init: OnionRelayInit) {
    this.init = init
    this.log = init.logger.forComponent('ghostnode:relay')
    this.now = init.now ?? Date.now
    this.metrics = new RelayMetrics(init.registry, {
      circuits: () => this.circuits,
      links: () => init.links.all().length,
      queuedBytes: () => init.budget?.used ?? 0,
      reassemblyExpired: () => this.exit.expiredTotal()
    })
    this.exit = new RelayExit({
      exits: init.exits,
      metrics: this.metrics,
      log: this.log,
      now: this.now,
      ...(init.budget != null ? { budget: init.budget } : {}),
      ...(init.exitConcurrencyPerCircuit != null ? { concurrencyPerCircuit: init.exitConcurrencyPerCircuit } : {}),
      ...(init.maxMessageBytes != null ? { maxMessageBytes: init.maxMessageBytes } : {}),
      ...(init.reassemblyTimeoutMs != null ? { reassemblyTimeoutMs: init.reassemblyTimeoutMs } : {}),
      // an exit circuit has no next hop: only its client is told
      destroy: (circuit, reason) => { this.destroy(circuit, undefined, reason) }
    })
  }

  get circuitCount (): number {
    return this.circuits
  }

  /** Cells relayed so far, both directions. */
  get cellsRelayed (): number {
    return this.metrics.forwardCells + this.metrics.backwardCells
  }

  /**
   * Sizes of the relay's tables, for bound checks (tests, the fuzzer): every
   * one must fall back to zero once all links have closed.
   */
  tableSizes (): RelayTableSizes {
    let entries = 0
    for (const map of this.byLink.values()) entries += map.size
    let maxPerPeer = 0
    for (const n of this.perPeer.values()) maxPerPeer = Math.max(maxPerPeer, n)
    return { circuits: this.circuits, entries, links: this.byLink.size, peers: this.perPeer.size, maxPerPeer }
  }

  start (): void {
    this.init.links.setHandler({
      onCell: (link, cell) => { this.onCell(link, cell) },
      onLinkClose: (link) => { this.onLinkClose(link) },
      onChunk: (link, bytes) => {
        // activity for the idle-link sweep, noted once per chunk rather than once per cell
        this.linkSeen.set(link, this.now())
        this.chunkDenied = this.init.policy?.allowBytes?.(link.remotePeer, bytes) === false
      },
      onMalformed: (link) => { this.init.policy?.onViolation?.(link.remotePeer, 'malformed_cell') }
    })
    this.init.budget?.setPressureHandler((target) => { this.shedMemory(target) })
    const idle = this.init.circuitIdleTimeoutMs ?? DEFAULT_CIRCUIT_IDLE_TIMEOUT_MS
    this.sweepTimer = setInterval(() => { this.sweepIdle() }, Math.max(1_000, Math.min(idle / 4, 30_000)))
    this.sweepTimer.unref?.()
    // a partial request whose last fragments never come must not wait for the next cell on its circuit
    const reassembly = this.init.reassemblyTimeoutMs ?? DEFAULT_REASSEMBLY_TIMEOUT_MS
    this.reassemblySweepTimer = setInterval(() => { this.exit.sweep() }, Math.max(1_000, reassembly / 4))
    this.reassemblySweepTimer.unref?.()
  }

  stop (): void {
    clearInterval(this.sweepTimer)
    clearInterval(this.reassemblySweepTimer)
    for (const link of [...this.byLink.keys()]) this.onLinkClose(link)
  }

  /**
   * The memory budget is spent (or the watchdog asks for room): close the
   * biggest holders until the budget is down to `target` bytes. A link's
   * holding is its queue (its peer is not reading: the whole link goes); a
   * circuit's is its partial and executing requests at the exit (that
   * circuit goes, not the neighbour's link, which may carry honest ones too).
   */
  shedMemory (target: number): void {
    const budget = this.init.budget
    if (budget == null) return
    const holders: MemoryHolder[] = [...this.exit.holders(), ...budget.otherHolders()]
    for (const link of this.init.links.all()) {
      if (link.queuedCells === 0) continue
      holders.push({ kind: 'link', bytes: link.queuedCells * LINK_CELL_COST_BYTES, since: 0, close: () => { link.abort(new MemoryShedError('link closed: the memory budget is spent')) } })
    }
    const closed = shedLargest(holders, target, () => budget.used)
    for (let i = 0; i < closed.links; i++) this.init.memory?.shed('link_closed')
    for (let i = 0; i < closed.circuits; i++) this.init.memory?.shed('circuit_closed')
    for (let i = 0; i < closed.streams; i++) this.init.memory?.shed('stream_closed')
    if (closed.links + closed.circuits + closed.streams > 0) {
      this.log('memory budget spent: closed %d links, %d circuits and %d streams, %d bytes held now', closed.links, closed.circuits, closed.streams, budget.used)
    }
  }

  /** Destroys circuits idle longer than the timeout (both directions are told). */
  sweepIdle (): number {
    const now = this.now()
    const cutoff = now - (this.init.circuitIdleTimeoutMs ?? DEFAULT_CIRCUIT_IDLE_TIMEOUT_MS)
    // links that carry no circuit and have carried no cell for the idle timeout hold a connection
    // and a stream for nothing: close them (gracefully; a peer that wants one opens a new one)
    for (const link of this.init.links.all()) {
      if ((this.byLink.get(link)?.size ?? 0) > 0) continue
      const seen = this.linkSeen.get(link)
      if (seen === undefined) this.linkSeen.set(link, now)
      else if (seen < cutoff) link.close(new LinkIdleError())
    }
    let n = 0
    for (const entries of this.byLink.values()) {
      for (const { circuit, side } of entries.values()) {
        if (side === 'prev' && circuit.lastActivity < cutoff) {
          this.destroy(circuit, DestroyReason.TIMEOUT, DestroyReason.TIMEOUT)
          n++
        }
      }
    }
    return n
  }

  private onCell (link: Link, cell: Cell): void {
    const entry = this.byLink.get(link)?.get(cell.circId)
    // Every cell costs the neighbour's cell and byte budgets, whatever it carries:
    // PADDING and cells naming unknown circuits must not be a free flood. Over
    // budget, a cell of a live circuit tears that circuit down and anything else
    // is dropped unanswered. A DESTROY is charged but honoured: it frees state.
    if ((this.chunkDenied || this.init.policy?.allowCell?.(link.remotePeer) === false) && cell.cmd !== CellCommand.DESTROY) {
      if (entry != null) this.destroy(entry.circuit, DestroyReason.RESOURCE_LIMIT, DestroyReason.RESOURCE_LIMIT)
      return
    }
    switch (cell.cmd) {
      case CellCommand.PADDING:
        return
      case CellCommand.CREATE:
        if (entry != null) {
          this.violation(link, 'protocol_misuse')
          return
        }
        this.onCreate(link, cell)
        return
      case CellCommand.CREATED:
        if (entry?.side !== 'next') return
        this.onCreated(entry.circuit, cell)
        return
      case CellCommand.RELAY:
        if (entry == null) return // raced with a DESTROY: harmless
        if (entry.side === 'prev') this.onForward(entry.circuit, cell)
        else this.onBackward(entry.circuit, cell)
        return
      case CellCommand.DESTROY:
        if (entry == null) return
        this.onDestroy(entry.circuit, entry.side, decodeDestroyReason(cell.payload))
    }
  }

  private onCreate (link: Link, cell: Cell): void {
    const refuse = (outcome: CreateOutcome, reason: number): void => {
      this.metrics.creates.inc({ outcome })
      link.send(destroyCell(cell.circId, reason as DestroyReason))
    }
    if (this.init.policy?.allowCreate?.(link.remotePeer) === false) {
      refuse('limit', DestroyReason.RESOURCE_LIMIT)
      return
    }
    if (this.init.memory?.underPressure === true) {
      // the process is near its memory bound: existing circuits are served, new ones wait
      this.init.memory.shed('create_refused')
      refuse('limit', DestroyReason.RESOURCE_LIMIT)
      return
    }
    const ofPeer = this.perPeer.get(link.remotePeer.toString()) ?? 0
    if (this.circuits >= (this.init.maxCircuits ?? DEFAULT_MAX_CIRCUITS) || ofPeer >= (this.init.maxCircuitsPerPeer ?? DEFAULT_MAX_CIRCUITS_PER_PEER)) {
      refuse('limit', DestroyReason.RESOURCE_LIMIT)
      return
    }
    if (!link.acceptCircId(cell.circId)) {
      this.violation(link, 'protocol_misuse')
      refuse('protocol', DestroyReason.PROTOCOL)
      return
    }
    let layer
    try {
      layer = processCreateLayer(this.init.keys.keysForCreate(), cell.payload)
      this.init.replay.checkAndInsert(layer.epoch, layer.replayTag)
    } catch (err) {
      link.releaseCircId(cell.circId)
      if (err instanceof ReplayFilterFullError && this.replayFullEpoch !== layer?.epoch) {
        // an operator must hear of this: no CREATE under this key succeeds until the next epoch
        this.replayFullEpoch = layer?.epoch
        this.log.error('replay filter full for the current onion key: CREATEs under it are refused until the next epoch')
      }
      // the same answer for a bad layer, a replay and a full filter: the sender learns nothing
      refuse(err instanceof ReplayError ? 'replay' : err instanceof ReplayFilterFullError ? 'replay_full' : 'bad_layer', DestroyReason.CREATE_FAILED)
      this.log.trace('CREATE refused - %e', err)
      return
    }
    const circuit: RelayCircuit = {
      hop: new HopCrypto(layer.keys),
      prev: { link, circId: cell.circId },
      exit: layer.exit,
      createdAt: this.now(),
      lastActivity: this.now(),
      inflight: 0,
      inflightBytes: 0,
      abort: new AbortController(),
      closed: false
    }
    this.index(circuit.prev, circuit, 'prev')
    if (layer.exit) {
      this.exit.add(circuit)
      this.metrics.creates.inc({ outcome: 'ok' })
      this.sendCell(circuit.prev, CellCommand.CREATED, circuit.hop.sealCreated(), circuit)
      return
    }
    const next = this.nextPeerIds.decode(layer.nextPeerId)
    if (next == null || next.equals(this.init.selfPeerId) || next.equals(circuit.prev.link.remotePeer)) {
      this.metrics.creates.inc({ outcome: 'protocol' })
      this.destroy(circuit, undefined, DestroyReason.PROTOCOL)
      return
    }
    // the usual case, a link to the next hop is open: extend now, without a turn of the event loop
    const open = this.init.links.openLink(next)
    if (open != null) {
      this.sendCreate(circuit, open, layer.nextPayload)
      return
    }
    inBackground('extending a circuit', this.extend(circuit, next, layer.nextPayload), this.log)
  }

  private sendCreate (circuit: RelayCircuit, link: Link, payload: Uint8Array): void {
    circuit.next = { link, circId: link.allocateCircId() }
    this.index(circuit.next, circuit, 'next')
    this.sendCell(circuit.next, CellCommand.CREATE, payload, circuit)
  }

  /** Opens a link to the next hop (dialing it if need be), then sends the CREATE on. */
  private async extend (circuit: RelayCircuit, next: PeerId, payload: Uint8Array): Promise<void> {
    try {
      const link = await this.init.links.getLink(next, { signal: AbortSignal.any([circuit.abort.signal, AbortSignal.timeout(this.init.extendTimeoutMs ?? DEFAULT_EXTEND_TIMEOUT_MS)]) })
      if (circuit.closed) return
      // the link may have closed while this continuation waited: its close has been
      // handled already, so indexing the circuit on it would leave a table behind
      if (!link.isOpen) throw new LinkClosedError('the next link closed during the extend')
      this.sendCreate(circuit, link, payload)
    } catch (err) {
      if (circuit.closed) return
      this.metrics.creates.inc({ outcome: 'extend_failed' })
      this.log.trace('extend failed - %e', err)
      this.reportFailure(circuit, DestroyReason.CONNECT_FAILED)
    }
  }

  private onCreated (circuit: RelayCircuit, cell: Cell): void {
    circuit.lastActivity = this.now()
    try {
      circuit.hop.backward(cell.payload)
    } catch {
      this.destroy(circuit, DestroyReason.INTERNAL, DestroyReason.INTERNAL)
      return
    }
    this.metrics.creates.inc({ outcome: 'ok' })
    this.forwardCell(cell, circuit.prev, circuit)
  }

  private onForward (circuit: RelayCircuit, cell: Cell): void {
    circuit.lastActivity = this.now()
    this.metrics.forwardCells++
    try {
      circuit.hop.forward(cell.payload)
    } catch {
      // A tagged or corrupted cell: the previous hop or the client altered it.
      this.metrics.integrityFailures.inc()
      this.destroy(circuit, DestroyReason.INTEGRITY, DestroyReason.INTEGRITY)
      return
    }
    if (!circuit.exit) {
      if (circuit.next == null) {
        this.destroy(circuit, DestroyReason.PROTOCOL, DestroyReason.PROTOCOL) // data before CREATED
        return
      }
      this.forwardCell(cell, circuit.next, circuit)
      return
    }
    this.exit.onBody(circuit, relayBodyOf(cell.payload))
  }

  private onBackward (circuit: RelayCircuit, cell: Cell): void {
    circuit.lastActivity = this.now()
    this.metrics.backwardCells++
    try {
      circuit.hop.backward(cell.payload)
    } catch {
      this.destroy(circuit, DestroyReason.INTERNAL, DestroyReason.INTERNAL)
      return
    }
    this.forwardCell(cell, circuit.prev, circuit)
  }

  /**
   * A hop whose next link failed tells the client which hop it is: an END
   * message sealed with its own backward layer (only the client can read it and
   * see which layer it came from), then a DESTROY.
   */
  private reportFailure (circuit: RelayCircuit, reason: number): void {
    if (!circuit.closed) {
      const cell = encodeCell({ circId: circuit.prev.circId, cmd: CellCommand.RELAY })
      const payload = cell.subarray(CELL_HEADER_BYTES)
      writeRelayBody(payload.subarray(RELAY_TAGS_BYTES), { cmd: RelayCommand.END, requestId: 0, fragIndex: 0, fragCount: 1, data: Uint8Array.of(reason) })
      try {
        circuit.hop.originate(payload)
        circuit.prev.link.send(cell)
      } catch {}
    }
    this.destroy(circuit, undefined, reason)
  }

  private onDestroy (circuit: RelayCircuit, from: Side, reason: number): void {
    // a DESTROY from further out is passed back as is: only the hop that saw a
    // link fail reports itself (reportFailure), so the client blames the right node
    if (from === 'prev') this.destroy(circuit, DestroyReason.REQUESTED, undefined)
    else this.destroy(circuit, undefined, reason)
  }

  private onLinkClose (link: Link): void {
    this.linkSeen.delete(link)
    this.metrics.linksClosed.inc({ reason: link.closeReason ?? 'local' })
    const entries = this.byLink.get(link)
    if (entries == null) return
    // circuits lost with a link this node closed to protect itself are counted as such
    const reason = link.closeReason === 'memory' ? DestroyReason.RESOURCE_LIMIT : link.closeReason === 'stall' ? DestroyReason.TIMEOUT : undefined
    for (const { circuit, side } of [...entries.values()]) {
      if (side === 'next') this.reportFailure(circuit, reason ?? DestroyReason.CONNECT_FAILED)
      else if (reason != null) this.destroyCounted(circuit, reason, DestroyReason.REQUESTED)
      else this.destroy(circuit, DestroyReason.REQUESTED, undefined)
    }
    this.byLink.delete(link)
  }

  /** Tears a circuit down whose previous link is gone: tells the next hop `towardsNext`, counts it as `counted`. */
  private destroyCounted (circuit: RelayCircuit, counted: number, towardsNext: number): void {
    this.destroy(circuit, towardsNext, undefined, counted)
  }

  /** Tears a circuit down, sending DESTROY with the given reasons to whichever side still has one. */
  private destroy (circuit: RelayCircuit, towardsNext: number | undefined, towardsPrev: number | undefined, counted?: number): void {
    if (circuit.closed) return
    circuit.closed = true
    circuit.abort.abort()
    this.exit.remove(circuit)
    this.circuits--
    const peer = circuit.prev.link.remotePeer.toString()
    const left = (this.perPeer.get(peer) ?? 1) - 1
    if (left > 0) this.perPeer.set(peer, left)
    else this.perPeer.delete(peer)
    const reason = counted ?? towardsPrev ?? towardsNext ?? DestroyReason.NONE
    this.metrics.destroys.inc({ reason: destroyReasonName(reason).toLowerCase() })
    for (const [end, sendReason] of [[circuit.prev, towardsPrev], [circuit.next, towardsNext]] as const) {
      if (end == null) continue
      this.byLink.get(end.link)?.delete(end.circId)
      end.link.releaseCircId(end.circId)
      if (sendReason != null && end.link.isOpen) end.link.send(destroyCell(end.circId, sendReason as DestroyReason))
    }
  }

  private index (end: CircuitEnd, circuit: RelayCircuit, side: Side): void {
    let entries = this.byLink.get(end.link)
    if (entries == null) {
      entries = new Map()
      this.byLink.set(end.link, entries)
    }
    entries.set(end.circId, { circuit, side })
    if (side === 'prev') {
      this.circuits++
      const peer = end.link.remotePeer.toString()
      this.perPeer.set(peer, (this.perPeer.get(peer) ?? 0) + 1)
    }
  }

  private sendCell (end: CircuitEnd, cmd: CellCommand, payload: Uint8Array, circuit: RelayCircuit): void {
    if (!end.link.send(encodeCell({ circId: end.circId, cmd, payload }))) {
      this.metrics.cellsShed.inc()
      this.destroy(circuit, DestroyReason.RESOURCE_LIMIT, DestroyReason.RESOURCE_LIMIT)
    }
  }

  /** Sends a received cell on with the other link's circuit id (same buffer, no copy). */
  private forwardCell (cell: Cell, to: CircuitEnd, circuit: RelayCircuit): void {
    const bytes = cellBytes(cell)
    setCellCircId(bytes, to.circId)
    if (!to.link.send(bytes)) {
      this.metrics.cellsShed.inc()
      this.destroy(circuit, DestroyReason.RESOURCE_LIMIT, DestroyReason.RESOURCE_LIMIT)
    }
  }

  private violation (link: Link, kind: 'malformed_cell' | 'protocol_misuse'): void {
    this.init.policy?.onViolation?.(link.remotePeer, kind)
  }
}
