import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { GhostnodeError, isGhostnodeError } from '../../src/errors.js'
import { FrameDecoder, encodeFrame } from '../../src/swarm/peer/frames.js'
import { SwarmOp, decodeMessage, decodePageAnswer, encodeRequestMessage, type SwarmRequest } from '../../src/swarm/peer/protocol.js'
import { createRecord, type SwarmRecord } from '../../src/swarm/record-codec.js'
import { LocalReplica } from '../../src/swarm/replica.js'
import type { OwnerCheck } from '../../src/swarm/peer/owner-check.js'
import { SwarmServer } from '../../src/swarm/peer/server.js'
import { SwarmPeerStatus } from '../../src/swarm/status.js'
import { MessageStore } from '../../src/swarm/store/store.js'
import { Tombstones } from '../../src/swarm/sync/tombstones.js'
import { ScriptReader } from './script-reader.js'
import { SimStream } from '../../harness/sim/sim-stream.js'
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { FuzzTarget } from '../harness.js'
import { Registry } from 'prom-client'

/*
 * The answering side of the node-to-node swarm protocol (SwarmServer over a
 * LocalReplica over a LevelDB MessageStore in a temp dir) fed by one peer's
 * inbound streams. An input is a script of requests built from the protocol's
 * encoders with input-chosen fields (four mailboxes, so the quotas are within
 * reach), each possibly corrupted or split, mixed with raw bytes, resets,
 * refusals and clock jumps. The store, tombstones and server persist across
 * inputs; their sizes are checked against the configured quotas.
 */

const LIMITS = {
  minTtlMs: 10_000,
  maxTtlMs: 3_600_000,
  clockSkewMs: 60_000,
  maxMessageBytes: 2048,
  mailboxQuotaBytes: 8 * 1024,
  mailboxQuotaRecords: 10,
  nodeQuotaBytes: 12 * 1024,
  maxTombstones: 32
} as const

const MAILBOXES = Array.from({ length: 4 }, (_, i) => new Uint8Array(32).fill(0x10 + i))
const NAMESPACES = [0, 1, -1, 7, 0x7fff, -0x8000]
const TTLS = [LIMITS.minTtlMs, 60_000, 600_000, LIMITS.maxTtlMs, LIMITS.maxTtlMs + 1, LIMITS.minTtlMs - 1, 0, -1]
const MAX_REQUESTS = 64
/** Real time the store may take to answer an input's requests (LevelDB writes). */
const ANSWER_WAIT_MS = 500
/** Simulated time that passes per input, so records expire and the sweep has work. */
const INPUT_TICK_MS = 5_000
const SWEEP_EVERY_INPUTS = 64

/** The peer broke the protocol (malformed frames): the input was rejected. */
export class PeerViolationError extends GhostnodeError {
  constructor (count: number) {
    super(`the server reported ${count} violation(s)`, 'ERR_FUZZ_PEER_VIOLATION')
  }
}

/** A stream that reads the server's answers as they are written. */
class AnswerStream extends SimStream {
  private readonly frames = new FrameDecoder()
  readonly answers: Array<{ id: number, status: number, body: Uint8Array }> = []
  private waiter?: () => void

  constructor () { super(false) }

  /** An answer the requester could not read (the server wrote something malformed). */
  unreadable?: unknown

  override send (data: Uint8Array): boolean {
    try {
      for (const frame of this.frames.push(data)) {
        const message = decodeMessage(frame)
        if (message.type === 'response') this.answers.push(message)
      }
    } catch (err) {
      // thrown back into the server's reply(), this would only abort the stream
      this.unreadable ??= err
    }
    this.waiter?.()
    return super.send(data)
  }

  /** Resolves once `n` answers arrived, the stream closed, or the deadline passed. */
  async answered (n: number, deadline: number): Promise<void> {
    while (this.answers.length < n && this.open && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve
        setTimeout(resolve, 10).unref()
      })
      this.waiter = undefined
    }
  }
}

interface World {
  dir: string
  store: MessageStore
  tombstones: Tombstones
  server: SwarmServer
  peer: PeerId
  now: number
  allow: boolean
  violations: number
  inputs: number
  /** Errors from the replica that were not typed (the server would answer INTERNAL). */
  untyped: unknown[]
  last: { unanswered: number, mailboxBytes: number, mailboxRecords: number }
}

let world: World | undefined
/** Owner signatures are not checked here (see the server's owner check); the fields must still be on the wire. */
const UNCHECKED = { timestamp: 1_700_000_000_000, signature: new Uint8Array(64) }

async function open (): Promise<World> {
  const dir = await mkdtemp(join(tmpdir(), 'ghostnode-fuzz-swarm-'))
  const w = { now: 1_700_000_000_000 } as World
  const { maxTombstones, ...storeLimits } = LIMITS
  const store = new MessageStore({ path: join(dir, 'store'), now: () => w.now, ...storeLimits, registry: new Registry() })
  await store.open()
  const tombstones = new Tombstones({ max: maxTombstones, now: () => w.now })
  const replica = new LocalReplica({ store, tombstones, isReady: () => true, maxTtlMs: LIMITS.maxTtlMs })
  const serve = replica.serve.bind(replica)
  // the server maps anything untyped to INTERNAL and carries on: keep the error itself
  replica.serve = async (request) => {
    try {
      return await serve(request)
    } catch (err) {
      if (!isGhostnodeError(err)) w.untyped.push(err)
      throw err
    }
  }
  const server = new SwarmServer({
    replica,
    log: defaultLogger().forComponent('fuzz:swarm-server'),
    authorize: () => 'member',
    allow: () => w.allow,
    // signatures are the owner check's business (test/swarm/owner-check.test.ts); this target fuzzes what lies behind it
    owner: { check: () => {}, release: () => {} } as unknown as OwnerCheck,
    inSwarm: () => true,
    onViolation: () => { w.violations++ },
    maxInflight: 16,
    requestTimeoutMs: 2_000,
    idleTimeoutMs: 3_600_000
  })
  const peer = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(9)))
  return Object.assign(w, { dir, store, tombstones, server, peer, allow: true, violations: 0, inputs: 0, untyped: [], last: { unanswered: 0, mailboxBytes: 0, mailboxRecords: 0 } })
}

class Session {
  private readonly w: World
  private stream?: AnswerStream
  private readonly streams: AnswerStream[] = []
  private readonly asked = new Map<AnswerStream, Map<number, SwarmOp>>()
  /** Streams whose framing the input broke (raw bytes, a corrupted frame): a lost request there is expected. */
  private readonly tainted = new Set<AnswerStream>()
  private readonly hashes: Uint8Array[] = []
  private cursor?: Uint8Array
  private nextId = 1
  corrupt?: { at: number, xor: number }
  split?: number
  requests = 0

  constructor (w: World) { this.w = w }

  current (): AnswerStream {
    if (this.stream == null || !this.stream.open) {
      this.stream = new AnswerStream()
      this.streams.push(this.stream)
      this.asked.set(this.stream, new Map())
      this.w.server.handle(this.stream as unknown as Stream, { remotePeer: this.w.peer } as unknown as Connection)
    }
    return this.stream
  }

  mailbox (r: ScriptReader): Uint8Array { return MAILBOXES[r.u8() % MAILBOXES.length] }
  namespace (r: ScriptReader): number { return NAMESPACES[r.u8() % NAMESPACES.length] }
  knownHashes (r: ScriptReader): Uint8Array[] {
    const n = r.u8() % 4
    return Array.from({ length: n }, () => this.hashes.length > 0 && r.u8() % 4 !== 0 ? this.hashes[r.u8() % this.hashes.length] : r.take(32))
      .filter(h => h.length === 32)
  }

  /** A DELETE_ALL's signed time: around the records' timestamps, so some are older and some newer. */
  before (r: ScriptReader): number {
    return this.w.now + (r.u8() - 128) * 1000
  }

  record (r: ScriptReader): SwarmRecord | undefined {
    const mailbox = this.mailbox(r)
    const namespace = this.namespace(r)
    // half small (the record quota is reached before the byte quota), half up to past the size limit
    const raw = r.u16()
    const size = (raw & 0x8000) !== 0 ? raw % 64 : raw % (LIMITS.maxMessageBytes + 256)
    const ttlMs = TTLS[r.u8() % TTLS.length]
    const timestamp = this.w.now + (r.u8() - 128) * 1000
    const fill = r.u8()
    try {
      return createRecord({ mailbox, namespace, timestamp, ttlMs, data: Uint8Array.from({ length: size }, (_, i) => (fill + i * 31) & 0xff) })
    } catch (err) {
      if (isGhostnodeError(err)) return undefined // a shape the client-side encoder refuses
      throw err
    }
  }

  send (request: SwarmRequest): void {
    if (this.requests >= MAX_REQUESTS) return
    this.requests++
    if (request.op === SwarmOp.PUT) this.hashes.push(request.record.hash)
    const stream = this.current()
    const id = this.nextId++
    this.asked.get(stream)?.set(id, request.op)
    const frame = encodeFrame(encodeRequestMessage(id, request))
    if (this.corrupt != null) {
      frame[this.corrupt.at % frame.length] ^= this.corrupt.xor
      this.corrupt = undefined
      this.tainted.add(stream)
    }
    if (this.split != null) {
      const cut = this.split % (frame.length + 1)
      this.split = undefined
      stream.deliver(frame.subarray(0, cut))
      stream.deliver(frame.subarray(cut))
    } else {
      stream.deliver(frame)
    }
  }

  raw (bytes: Uint8Array): void {
    const stream = this.current()
    this.tainted.add(stream)
    stream.deliver(bytes)
  }

  reset (): void { this.stream?.reset() }

  /** Waits for the answers of every stream still open; returns how many never came. */
  async settle (): Promise<number> {
    const deadline = performance.now() + ANSWER_WAIT_MS
    let missing = 0
    for (const s of this.streams) {
      if (s.unreadable != null) throw new Error(`the server wrote an unreadable answer: ${String(s.unreadable)}`, { cause: s.unreadable })
      // where the input broke the framing, answers may rightly never come
      if (this.tainted.has(s)) continue
      const asked = this.asked.get(s)?.size ?? 0
      await s.answered(asked, deadline)
      if (s.open) missing += Math.max(0, asked - s.answers.length)
      for (const a of s.answers) {
        if (a.status !== SwarmPeerStatus.OK || this.asked.get(s)?.get(a.id) !== SwarmOp.GET) continue
        let page
        try {
          page = decodePageAnswer(a.body)
        } catch (err) {
          throw new Error(`the server answered a GET with a page the client cannot read: ${String(err)}`, { cause: err })
        }
        if (page.nextCursor != null) this.cursor = page.nextCursor
      }
    }
    return missing
  }

  lastCursor (): Uint8Array | undefined { return this.cursor }

  async end (): Promise<number> {
    try {
      return await this.settle()
    } finally {
      for (const s of this.streams) s.reset()
    }
  }
}

type Op = (s: Session, r: ScriptReader, w: World) => void | Promise<void>

const put: Op = (s, r) => {
  const record = s.record(r)
  if (record == null) return
  if ((r.u8() & 7) === 0) record.hash = Uint8Array.from(record.hash, (b, i) => i === 0 ? b ^ 1 : b)
  s.send({ op: SwarmOp.PUT, record })
}

const OPS: Op[] = [
  put, put, put, put, put, put,
  (s, r) => {
    const mode = r.u8() % 4
    const cursor = mode === 1 ? s.lastCursor() : mode === 2 ? r.take(41) : mode === 3 ? s.lastCursor()?.subarray(1) : undefined
    s.send({ op: SwarmOp.GET, mailbox: s.mailbox(r), namespace: s.namespace(r), maxBytes: r.u16(), auth: UNCHECKED, ...(cursor != null ? { cursor } : {}) })
  },
  (s, r) => { s.send({ op: SwarmOp.DELETE, mailbox: s.mailbox(r), namespace: s.namespace(r), hashes: s.knownHashes(r), auth: { timestamp: s.before(r), signature: UNCHECKED.signature } }) },
  (s, r) => {
    // emptying a whole mailbox is kept rare so the quotas stay within reach
    const all = (r.u8() & 7) === 0
    // before: now (everything so far) or a time among the stored records' timestamps
    const before = s.before(r)
    s.send({ op: SwarmOp.DELETE_ALL, mailbox: s.mailbox(r), auth: { timestamp: before, signature: UNCHECKED.signature }, ...(all ? {} : { namespace: s.namespace(r) }) })
  },
  (s, r) => { s.send({ op: SwarmOp.DIGEST, entries: Array.from({ length: 1 + (r.u8() % 3) }, () => ({ mailbox: s.mailbox(r), digest: new Uint8Array(32).fill(r.u8()) })) }) },
  (s, r) => { s.send({ op: SwarmOp.FETCH, mailbox: s.mailbox(r), maxBytes: r.u16(), hashes: s.knownHashes(r) }) },
  (s, r) => {
    const big = (): bigint => BigInt(r.u16()) << 48n
    const after = (r.u8() & 1) === 0 ? undefined : s.mailbox(r)
    s.send({ op: SwarmOp.RANGE, ranges: [{ start: big(), end: big() }], limit: r.u8(), ...(after != null ? { after } : {}) })
  },
  (s, r) => { s.send({ op: SwarmOp.HANDOFF, mailbox: s.mailbox(r), hashes: s.knownHashes(r) }) },
  (s, r) => { s.corrupt = { at: r.u16(), xor: r.u8() | 1 } },
  (s, r) => { s.split = r.u16() },
  (s, r) => { s.raw(r.take(r.u16() % 2048)) },
  async (_s, r, w) => {
    w.now += r.u8() * 60_000
    await w.store.sweepExpired(w.now)
    w.tombstones.sweep()
  },
  async (s) => { await s.settle() },
  (_s, _r, w) => { w.allow = !w.allow },
  (s) => { s.reset() }
]

function seeds (): Uint8Array[] {
  const PUT = 0; const GET = 6; const DELETE = 7; const DELETE_ALL = 8; const DIGEST = 9; const FETCH = 10; const RANGE = 11
  const HANDOFF = 12; const SETTLE = 17; const CLOCK = 16
  return [
    Uint8Array.of(PUT, 0, 0, 0x01, 0x00, 1, 128, 5, 0, SETTLE, GET, 1, 0, 0, 0x40, 0x00, SETTLE),
    Uint8Array.of(...Array.from({ length: 30 }, (_, i) => [PUT, 0, 0, 0x03, 0x00, 2, 128, i, 1]).flat(), SETTLE, GET, 0, 0, 0, 0x08, 0x00, SETTLE, GET, 1, 0, 0, 0x08, 0x00),
    Uint8Array.of(PUT, 1, 1, 0x00, 0x20, 3, 128, 9, 1, SETTLE, DELETE, 1, 1, 2, 1, 0, SETTLE, HANDOFF, 1, 2, 1, 0, FETCH, 1, 0x10, 0x00, 1, 1, 0),
    Uint8Array.of(PUT, 2, 0, 0x00, 0x10, 0, 128, 1, 1, DIGEST, 2, 2, 7, 3, 9, RANGE, 0, 0, 0xff, 0xff, 10, 0, DELETE_ALL, 0, 2, SETTLE, CLOCK, 200),
    encodeFrame(encodeRequestMessage(1, { op: SwarmOp.GET, mailbox: MAILBOXES[0], namespace: 0, maxBytes: 1000, auth: UNCHECKED }))
  ]
}

/**
 * Bounds: stored bytes within the node quota, every mailbox within its byte and
 * record quotas, tombstones within their cap, no stream left registered after
 * its close, and every request on a stream still open answered.
 */
export const swarmServerTarget: FuzzTarget = {
  name: 'swarm-server',
  seeds,
  shortRuns: 1500,

  async setUp () { world = await open() },

  async tearDown () {
    if (world == null) return
    world.server.closeAll(new Error('fuzz run over'))
    await world.store.close()
    await rm(world.dir, { recursive: true, force: true })
    world = undefined
  },

  async run (input) {
    const w = world
    if (w == null) throw new Error('swarm-server target used without setUp')
    const s = new Session(w)
    const r = new ScriptReader(input)
    const violations = w.violations
    let unanswered = 0
    try {
      while (!r.done && s.requests < MAX_REQUESTS) await OPS[r.u8() % OPS.length](s, r, w)
    } finally {
      unanswered = await s.end()
      w.allow = true
      w.now += INPUT_TICK_MS
      if (++w.inputs % SWEEP_EVERY_INPUTS === 0) await w.store.sweepExpired(w.now)
      let bytes = 0
      let records = 0
      for (const mailbox of MAILBOXES) {
        const usage = await w.store.usage(mailbox)
        bytes = Math.max(bytes, usage.bytes)
        records = Math.max(records, usage.records)
      }
      w.last = { unanswered, mailboxBytes: bytes, mailboxRecords: records }
    }
    const untyped = w.untyped.shift()
    w.untyped.length = 0
    if (untyped != null) throw new Error(`the replica threw ${String(untyped)}`, { cause: untyped })
    if (w.violations > violations) throw new PeerViolationError(w.violations - violations)
  },

  state () {
    const w = world
    return {
      storedBytes: w?.store.stats().bytes ?? 0,
      mailboxBytes: w?.last.mailboxBytes ?? 0,
      mailboxRecords: w?.last.mailboxRecords ?? 0,
      tombstones: w?.tombstones.size ?? 0,
      openStreams: w?.server.openStreams ?? 0,
      unanswered: w?.last.unanswered ?? 0
    }
  },

  stateBounds: {
    storedBytes: LIMITS.nodeQuotaBytes,
    mailboxBytes: LIMITS.mailboxQuotaBytes,
    mailboxRecords: LIMITS.mailboxQuotaRecords,
    tombstones: LIMITS.maxTombstones,
    openStreams: 0,
    unanswered: 0
  }
}

export default swarmServerTarget
