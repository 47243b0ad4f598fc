import { buildCreate, type PathHop } from '../../src/crypto/create-header.js'
import { ClientCircuitCrypto, type HopCrypto } from '../../src/crypto/layer.js'
import { isGhostnodeError } from '../../src/errors.js'
import { CellDecoder } from '../../src/onion/cell.js'
import { CELL_HEADER_BYTES, CELL_PAYLOAD_BYTES, CELL_SIZE, CellCommand, MAX_PEER_ID_BYTES, RELAY_TAGS_BYTES } from '../../src/wire/onion-format.js'
import { writeRelayBody, type RelayFragment } from '../../src/onion/relay-message.js'
import { simOnionKey, type RelaySim } from '../../harness/sim/relay-sim.js'
import type { ScriptReader } from './script-reader.js'
import type { SimStream } from '../../harness/sim/sim-stream.js'
import type { PeerId } from '@libp2p/interface'

/*
 * The onion-relay target's view of one input: the fuzzer plays two neighbours
 * that open links to the relay (a1, a2; clients or previous hops) and the next
 * hop b the relay extends to, and remembers the circuits it built so later
 * operations can send valid (or deliberately broken) cells on them.
 */

/** Per input, so one input stays well under the hang bound. */
const MAX_CREATES = 48
const MAX_FRAGMENTS = 1024
/** Circuits the model remembers (older ones still live in the relay until the input ends). */
const MAX_REMEMBERED = 32
const INITIATOR_BIT = 0x80000000

export const KEY_B = simOnionKey(1, 2)
export const KEY_C = simOnionKey(1, 3)
const NEVER_PUBLISHED = simOnionKey(999, 9)

/** A cell written by hand: the header is not checked, so reserved ids and bad commands get through. */
export function rawCell (circId: number, cmd: number, payload?: Uint8Array): Uint8Array {
  const cell = new Uint8Array(CELL_SIZE)
  new DataView(cell.buffer).setUint32(0, circId >>> 0)
  cell[4] = cmd
  if (payload != null) cell.set(payload.subarray(0, CELL_PAYLOAD_BYTES), CELL_HEADER_BYTES)
  return cell
}

export const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.length }
  return out
}

export type Side = 'a1' | 'a2'

export interface ClientCircuit { stream: SimStream, circId: number, crypto: ClientCircuitCrypto, create: Uint8Array, nextRequest: number }
export interface NextHopCircuit { stream: SimStream, circId: number, create: Uint8Array, hop?: HopCrypto }

/** One input's neighbours and what they know; the relay itself outlives it. */
export class Session {
  readonly sim: RelaySim
  private readonly streams = new Map<Side, SimStream>()
  private readonly clients: ClientCircuit[] = []
  private readonly nextHop: NextHopCircuit[] = []
  private readonly bRead = new Map<SimStream, { decoder: CellDecoder, chunks: number }>()
  private circIds = 1
  private creates = 0
  private fragments = 0
  readonly peak = { circuits: 0, perPeer: 0, queuedBytes: 0 }

  constructor (sim: RelaySim) { this.sim = sim }

  peerOf (side: Side): PeerId { return side === 'a1' ? this.sim.peers.a1 : this.sim.peers.a2 }

  stream (side: Side): SimStream {
    let s = this.streams.get(side)
    if (s == null || !s.open) {
      s = this.sim.connect(this.peerOf(side))
      this.streams.set(side, s)
    }
    return s
  }

  /** a1, a2 or b by selector; b may have no open stream. */
  anyStream (sel: number): SimStream | undefined {
    const i = sel % 3
    return i === 2 ? this.sim.bStream : this.stream(i === 0 ? 'a1' : 'a2')
  }

  freshId (): number { return (INITIATOR_BIT | this.circIds++) >>> 0 }

  client (sel: number): ClientCircuit | undefined {
    const live = this.clients.filter(c => c.stream.open)
    return live.length === 0 ? undefined : live[sel % live.length]
  }

  adopt (c: ClientCircuit): void { this.remember(this.clients, c) }

  remember<T> (list: T[], item: T): void {
    list.push(item)
    if (list.length > MAX_REMEMBERED) list.shift()
  }

  /** What the relay sent b since the last look: CREATEs become circuits b can answer. */
  readNextHop (): NextHopCircuit[] {
    for (const stream of this.sim.bStreams) {
      let state = this.bRead.get(stream)
      if (state == null) {
        state = { decoder: new CellDecoder(), chunks: 0 }
        this.bRead.set(stream, state)
      }
      for (; state.chunks < stream.written.length; state.chunks++) {
        for (const cell of state.decoder.push(stream.written[state.chunks])) {
          if (cell.cmd === CellCommand.CREATE) this.remember(this.nextHop, { stream, circId: cell.circId, create: cell.payload.slice() })
        }
      }
    }
    return this.nextHop.filter(c => c.stream.open)
  }

  createCell (r: ScriptReader): { side: Side, cell: Uint8Array, circuit: ClientCircuit } | undefined {
    const flags = r.u8()
    const side: Side = (flags & 1) === 0 ? 'a1' : 'a2'
    const keyMode = flags >> 6
    const relayKey = keyMode === 3 ? NEVER_PUBLISHED.publicKey : (keyMode === 2 ? this.sim.keys.at(-1) : this.sim.keys[0])?.publicKey
    if (relayKey == null || this.creates >= MAX_CREATES) return undefined
    this.creates++
    const p = this.sim.peers
    const hop = (peer: PeerId, key = KEY_C.publicKey): PathHop => ({ peerId: peer.toMultihash().bytes, onionKey: key })
    const b = hop(p.b, KEY_B.publicKey)
    const kind = (flags >> 1) & 7
    // what follows the relay: exit here, b, b then c, unreachable c, the relay itself, the sender, a bogus id, 5 hops
    const rest: PathHop[] = kind === 6
      ? [{ peerId: r.take(1 + (r.u8() % MAX_PEER_ID_BYTES)), onionKey: KEY_C.publicKey }]
      : [[], [b], [b, hop(p.c)], [hop(p.c)], [hop(p.self)], [hop(this.peerOf(side))], [], [b, hop(p.c), hop(p.c), hop(p.c)]][kind]
    const built = buildCreate([{ peerId: p.self.toMultihash().bytes, onionKey: relayKey }, ...rest])
    const idMode = (flags >> 4) & 3
    const reused = idMode === 2 ? this.clients.find(c => c.stream === this.streams.get(side) && c.stream.open) : undefined
    const circId = reused?.circId ?? (idMode === 3 ? (r.u8() & 1) * (this.circIds++ & 0x7fffffff) : this.freshId())
    const cell = rawCell(circId, CellCommand.CREATE, built.payload)
    return { side, cell, circuit: { stream: this.stream(side), circId, crypto: new ClientCircuitCrypto(built.hops), create: built.payload, nextRequest: 1 } }
  }

  /** One forward cell per fragment, sealed for every hop of the circuit. */
  sealed (c: ClientCircuit, fragments: RelayFragment[]): Uint8Array[] {
    return fragments.map(f => {
      const cell = rawCell(c.circId, CellCommand.RELAY)
      writeRelayBody(cell.subarray(CELL_HEADER_BYTES + RELAY_TAGS_BYTES), f)
      c.crypto.sealForward(cell.subarray(CELL_HEADER_BYTES))
      return cell
    })
  }

  sample (): void {
    const t = this.sim.relay.tableSizes()
    this.peak.circuits = Math.max(this.peak.circuits, t.circuits)
    this.peak.perPeer = Math.max(this.peak.perPeer, t.maxPerPeer)
    this.peak.queuedBytes = Math.max(this.peak.queuedBytes, this.sim.budget.used)
  }

  /** The neighbours read again and hang up; the relay must let go of everything. */
  async end (): Promise<void> {
    this.sim.denied.clear()
    this.sim.bFlaky = false
    for (let round = 0; round < 4; round++) {
      const open = [...this.streams.values(), ...this.sim.bStreams].filter(s => s.open)
      if (round > 0 && open.length === 0) break
      for (const s of open) {
        s.drain()
        if (round < 2) s.remoteClose()
        else s.reset()
      }
      await settle()
    }
    this.sim.bStreams.length = 0
    await this.sim.rotateIfFull()
  }

  tooMany (n: number): boolean {
    this.fragments += n
    return this.fragments > MAX_FRAGMENTS
  }
}

export const settle = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

/** A client-side helper rejecting what the script asked for (e.g. a bogus peer id) is not the relay's doing. */
export function clientSide<T> (fn: () => T): T | undefined {
  try {
    return fn()
  } catch (err) {
    if (isGhostnodeError(err)) return undefined
    throw err
  }
}
