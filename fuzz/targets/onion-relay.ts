import { buildCreate } from '../../src/crypto/create-header.js'
import { processCreateLayer } from '../../src/crypto/create-peel.js'
import { HopCrypto } from '../../src/crypto/layer.js'
import { CELL_PAYLOAD_BYTES, CELL_SIZE, CellCommand, RELAY_DATA_BYTES, RELAY_TAGS_BYTES, RelayCommand } from '../../src/wire/onion-format.js'
import { ExitService } from '../../src/onion/exit.js'
import { fragmentMessage, MAX_CONFIGURABLE_MESSAGE_BYTES, writeRelayBody } from '../../src/onion/relay-message.js'
import { HOLD_SERVICE, NeighbourViolationError, RelaySim, SIM_LIMITS } from '../../harness/sim/relay-sim.js'
import { clientSide, concat, KEY_B, rawCell, Session, settle } from './relay-session.js'
import { ScriptReader } from './script-reader.js'
import type { FuzzTarget } from '../harness.js'

/*
 * An input is a script of operations on one relay (see OPS): the fuzzer plays
 * two neighbours that open links to the relay (a1, a2; clients or previous
 * hops) and the next hop b the relay extends to. Valid cells are built with
 * the client-side crypto at run time (CREATEs must be fresh: the replay filter
 * remembers them), so mutations of the script change which valid and which
 * corrupted cells reach the relay, in which order and on which link.
 */

/** Per input, so one input stays well under the hang bound. */
const MAX_OPS = 160
const CLOCK_STEP_MS = 4096

type Op = (s: Session, r: ScriptReader) => void | Promise<void>

const create = (corrupt: boolean): Op => (s, r) => {
  const made = clientSide(() => s.createCell(r))
  if (made == null) return
  if (corrupt) made.cell[r.u16() % CELL_SIZE] ^= r.u8() | 1
  else if (made.circuit != null) s.adopt(made.circuit)
  s.stream(made.side).deliver(made.cell)
}

const request: Op = (s, r) => {
  const c = s.client(r.u8())
  const size = r.u16() % (SIM_LIMITS.maxMessageBytes + 2 * RELAY_DATA_BYTES)
  const mode = r.u8()
  const split = r.u8()
  if (c == null) return
  const data = new Uint8Array(size)
  if (size > 0) data[0] = [ExitService.ECHO, ExitService.ECHO, ExitService.ECHO, HOLD_SERVICE, ExitService.SWARM, 0, 77, ExitService.ECHO][mode & 7]
  const pattern = (mode >> 3) & 7
  const cmd = pattern === 7 ? [RelayCommand.RESPONSE, RelayCommand.ERROR, RelayCommand.END][mode >> 6 & 1] : RelayCommand.REQUEST
  const id = c.nextRequest++
  let fragments = fragmentMessage({ cmd, requestId: id, data }, { maxMessageBytes: MAX_CONFIGURABLE_MESSAGE_BYTES })
  if (pattern === 3) fragments = fragments.slice(0, -1)
  else if (pattern === 4) fragments = [fragments[0], ...fragments]
  else if (pattern === 5) fragments = fragments.reverse()
  else if (pattern === 6) {
    const other = fragmentMessage({ cmd, requestId: c.nextRequest++, data }, { maxMessageBytes: MAX_CONFIGURABLE_MESSAGE_BYTES })
    fragments = fragments.flatMap((f, i) => other[i] != null ? [f, other[i]] : [f])
  }
  if (s.tooMany(fragments.length)) return
  const cells = s.sealed(c, fragments)
  if (split === 0) {
    for (const cell of cells) c.stream.deliver(cell)
  } else {
    // one chunk cut at an arbitrary byte: the link's decoder must carry the partial cell over
    const all = concat(cells)
    const cut = (split * 37) % (all.length + 1)
    c.stream.deliver(all.subarray(0, cut))
    c.stream.deliver(all.subarray(cut))
  }
}

const corruptRelay: Op = (s, r) => {
  const c = s.client(r.u8())
  const at = r.u16() % CELL_SIZE
  const xor = r.u8() | 1
  if (c == null || s.tooMany(1)) return
  const [cell] = s.sealed(c, fragmentMessage({ cmd: RelayCommand.REQUEST, requestId: c.nextRequest++, data: Uint8Array.of(ExitService.ECHO, 1, 2) }))
  cell[at] ^= xor
  c.stream.deliver(cell)
}

const destroy: Op = (s, r) => {
  const c = s.client(r.u8())
  const reason = r.u8()
  if (c != null) c.stream.deliver(rawCell(c.circId, CellCommand.DESTROY, Uint8Array.of(reason)))
}

const raw: Op = (s, r) => {
  const flags = r.u8()
  const cell = new Uint8Array(CELL_SIZE)
  cell.set(r.take(CELL_SIZE))
  const stream = s.anyStream(flags)
  if ((flags & 4) !== 0) {
    const id = flags % 3 === 2 ? s.readNextHop().at(flags >> 4)?.circId : s.client(flags >> 4)?.circId
    if (id != null) new DataView(cell.buffer).setUint32(0, id)
  }
  if ((flags & 8) !== 0) cell[4] = 1 + ((flags >> 4) % 5)
  stream?.deliver(cell)
}

const chunk: Op = (s, r) => {
  const sel = r.u8()
  const bytes = r.take(r.u16() % 3000)
  s.anyStream(sel)?.deliver(bytes)
}

const padding: Op = (s, r) => { s.anyStream(r.u8())?.deliver(rawCell(0, CellCommand.PADDING)) }

const clock: Op = (s, r) => {
  s.sim.now += r.u8() * CLOCK_STEP_MS
  s.sim.relay.sweepIdle()
}

const close: Op = (s, r) => {
  const sel = r.u8()
  const stream = s.anyStream(sel)
  if ((sel & 4) !== 0) stream?.remoteClose()
  else stream?.reset()
}

const stall: Op = (s, r) => {
  const stream = s.anyStream(r.u8())
  if (stream == null) return
  if (stream.stalled) stream.drain()
  else stream.stalled = true
}

const policy: Op = (s, r) => {
  const sel = r.u8()
  const p = s.sim.peers
  const key = `${['create', 'cell', 'bytes'][sel % 3]}:${[p.a1, p.a2, p.b][(sel >> 2) % 3].toString()}`
  if (!s.sim.denied.delete(key)) s.sim.denied.add(key)
}

const replayCreate: Op = (s, r) => {
  const c = s.client(r.u8())
  if (c != null) s.stream((r.u8() & 1) === 0 ? 'a1' : 'a2').deliver(rawCell(s.freshId(), CellCommand.CREATE, c.create))
}

/** The next hop answers: CREATED (valid or not), DESTROY, backward cells, or a CREATE of its own. */
const fromNextHop: Op = (s, r) => {
  const mode = r.u8()
  const sel = r.u8()
  const known = s.readNextHop()
  const e = known.length === 0 ? undefined : known[sel % known.length]
  const stream = s.sim.bStream
  if (stream == null) return
  switch (mode % 6) {
    case 0: {
      if (e == null) return
      e.hop ??= clientSide(() => new HopCrypto(processCreateLayer([KEY_B], e.create).keys))
      e.stream.deliver(rawCell(e.circId, CellCommand.CREATED, e.hop?.sealCreated() ?? e.create))
      return
    }
    case 1: if (e != null) e.stream.deliver(rawCell(e.circId, CellCommand.CREATED, r.take(CELL_PAYLOAD_BYTES))); return
    case 2: if (e != null) e.stream.deliver(rawCell(e.circId, CellCommand.DESTROY, Uint8Array.of(r.u8()))); return
    case 3: {
      if (e?.hop == null) return
      const payload = new Uint8Array(CELL_PAYLOAD_BYTES)
      writeRelayBody(payload.subarray(RELAY_TAGS_BYTES), { cmd: RelayCommand.RESPONSE, requestId: r.u8(), fragIndex: 0, fragCount: 1, data: Uint8Array.of(0) })
      e.hop.originate(payload)
      e.stream.deliver(rawCell(e.circId, CellCommand.RELAY, payload))
      return
    }
    case 4: {
      // b opened nothing: on the relay's outbound link b's ids are the ones without the top bit
      const built = clientSide(() => buildCreate([{ peerId: s.sim.peers.self.toMultihash().bytes, onionKey: s.sim.keys[0].publicKey }]))
      if (built != null) stream.deliver(rawCell(s.freshId() & 0x7fffffff, CellCommand.CREATE, built.payload))
      return
    }
    default: {
      if (e == null) return
      const n = 1 + (r.u8() % 16)
      const junk = r.take(CELL_PAYLOAD_BYTES)
      e.stream.deliver(concat(Array.from({ length: n }, () => rawCell(e.circId, CellCommand.RELAY, junk))))
    }
  }
}

const flaky: Op = (s) => { s.sim.bFlaky = !s.sim.bFlaky }

/** Repeated entries are picked more often. */
const OPS: Op[] = [
  create(false), create(false), create(false), create(true), request, request, request, corruptRelay, destroy, raw, chunk, padding,
  clock, close, stall, settle, settle, settle, policy, replayCreate, fromNextHop, fromNextHop, fromNextHop, flaky
]

let sim: RelaySim | undefined
let last = { circuits: 0, perPeer: 0, queuedBytes: 0 }

function seeds (): Uint8Array[] {
  // op indexes into OPS
  const CREATE = 0; const REQUEST = 4; const SETTLE = 15; const NEXT = 20; const CLOCK = 12; const STALL = 14
  const DESTROY = 8; const CLOSE = 13
  return [
    // exit circuit, echo request, settle
    Uint8Array.of(CREATE, 0b0000_0000, SETTLE, REQUEST, 0, 0x01, 0x00, 0, 0, SETTLE),
    // two-hop circuit through b: CREATE, b answers CREATED, forward a request, b answers
    Uint8Array.of(CREATE, 0b0000_0010, SETTLE, NEXT, 0, 0, SETTLE, REQUEST, 0, 0x00, 0x40, 0, 0, SETTLE, NEXT, 3, 0, 7, SETTLE),
    // a large request in one chunk cut mid-cell, then a partial one left to time out
    Uint8Array.of(CREATE, 0, SETTLE, REQUEST, 0, 0x30, 0x00, 0, 5, REQUEST, 0, 0x20, 0x00, 0b0001_1000, 0, CLOCK, 40, SETTLE),
    // slow reader: a1 stops reading while responses pile up, then a circuit to an unreachable hop
    Uint8Array.of(CREATE, 0, SETTLE, STALL, 0, REQUEST, 0, 0x40, 0x00, 0, 0, REQUEST, 0, 0x40, 0x00, 0, 0, SETTLE, CREATE, 0b0000_0110, SETTLE),
    // memory pressure: a1 stops reading while echo responses fill its queue, then a large
    // request on the same circuit is reassembled past the node-wide budget
    Uint8Array.of(CREATE, 0, SETTLE, STALL, 0, REQUEST, 0, 0x75, 0x00, 0, 0, SETTLE, REQUEST, 0, 0x60, 0x00, 0, 0, REQUEST, 0, 0x60, 0x00, 0, 0, SETTLE,
      REQUEST, 0, 0x7f, 0xff, 0b0001_1000, 0, SETTLE),
    // many circuits from one neighbour (over its cap), then destroy one and close the link
    Uint8Array.of(...Array.from({ length: 20 }, () => [CREATE, 0]).flat(), SETTLE, DESTROY, 3, 3, CLOSE, 0, SETTLE)
  ]
}

/**
 * The relay's cell handler (OnionRelay over real Links) fed by fake neighbours.
 * State kept across inputs: the relay's circuit tables, the link manager, the
 * node-wide memory budget and the replay filter. After every input all links
 * are closed, so whatever the relay still holds then is a leak (bound 0);
 * during an input the circuit caps and the memory budget must hold.
 */
export const onionRelayTarget: FuzzTarget = {
  name: 'onion-relay',
  seeds,
  // an input is a whole session (up to 160 operations, 48 circuits built with real crypto)
  shortRuns: 600,

  async setUp () {
    sim = await RelaySim.open()
  },

  async tearDown () {
    await sim?.close()
    sim = undefined
  },

  async run (input) {
    if (sim == null) throw new Error('onion-relay target used without setUp')
    const s = new Session(sim)
    const r = new ScriptReader(input)
    const violations = sim.violations
    try {
      for (let ops = 0; ops < MAX_OPS && !r.done; ops++) {
        await OPS[r.u8() % OPS.length](s, r)
        s.sample()
        const escaped = sim.escaped.shift()
        if (escaped != null) throw new Error(`the relay's cell handler threw ${String(escaped)}`, { cause: escaped })
      }
    } finally {
      await s.end()
      last = s.peak
    }
    if (sim.violations > violations) throw new NeighbourViolationError(sim.violations - violations)
  },

  state () {
    const t = sim?.relay.tableSizes()
    return {
      circuitsLeft: t?.circuits ?? 0,
      circuitEndsLeft: t?.entries ?? 0,
      linkTablesLeft: t?.links ?? 0,
      peerCountsLeft: t?.peers ?? 0,
      linksLeft: sim?.links.all().length ?? 0,
      queuedBytesLeft: sim?.budget.used ?? 0,
      peakCircuits: last.circuits,
      peakCircuitsPerPeer: last.perPeer,
      peakQueuedBytes: last.queuedBytes,
      replayTags: sim?.replay.size() ?? 0
    }
  },

  stateBounds: {
    circuitsLeft: 0,
    circuitEndsLeft: 0,
    linkTablesLeft: 0,
    peerCountsLeft: 0,
    linksLeft: 0,
    queuedBytesLeft: 0,
    peakCircuits: SIM_LIMITS.maxCircuits,
    peakCircuitsPerPeer: SIM_LIMITS.maxCircuitsPerPeer,
    peakQueuedBytes: SIM_LIMITS.maxQueuedBytes,
    replayTags: 2 * SIM_LIMITS.replayTagsPerEpoch
  }
}

export default onionRelayTarget
