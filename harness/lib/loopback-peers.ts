import {
  SWARM_OP_NAMES, SwarmOp, decodeBucketsAnswer, decodeCountAnswer, decodeDigestAnswer, decodeHashesAnswer, decodeMessage, decodePutAnswer, decodeRangeAnswer,
  decodeRecordsAnswer, encodeRequestMessage, encodeResponseMessage, type BucketEntry, type DigestAnswer, type DigestEntry, type PutAnswer,
  type RangeAnswer, type SignedDelete, type SwarmRequest
} from '../../src/swarm/peer/protocol.js'
import type { LocalReplica } from '../../src/swarm/replica.js'
import type { RingRange } from '../../src/swarm/ring.js'
import type { SwarmRecord } from '../../src/swarm/record-codec.js'

/**
 * The anti-entropy calls of SwarmPeers, answered in-process by other members'
 * LocalReplicas: every request and answer goes through the real wire codecs
 * (encoded, decoded, served, encoded, decoded), and the bytes are counted per
 * op, with the 4-byte frame length. Only the streams are left out, so two
 * replicas with a million records can be reconciled and measured in one
 * process (bench/reconcile.ts, test/unit/swarm/buckets.test.ts).
 */
export class LoopbackPeers {
  private readonly replicas: Map<string, LocalReplica>
  private readonly asker: string
  /** Bytes sent and received per op name, frames included. */
  readonly bytes = new Map<string, number>()
  readonly calls = new Map<string, number>()

  constructor (replicas: Map<string, LocalReplica>, asker: string) {
    this.replicas = replicas
    this.asker = asker
  }

  get totalBytes (): number {
    let n = 0
    for (const v of this.bytes.values()) n += v
    return n
  }

  reset (): void {
    this.bytes.clear()
    this.calls.clear()
  }

  async buckets (peer: string, ranges: RingRange[], bits: number): Promise<BucketEntry[]> {
    return decodeBucketsAnswer(await this.call(peer, { op: SwarmOp.BUCKETS, bits, ranges }))
  }

  async range (peer: string, ranges: RingRange[], limit: number, after?: Uint8Array): Promise<RangeAnswer> {
    return decodeRangeAnswer(await this.call(peer, { op: SwarmOp.RANGE, ranges, limit, ...(after !== undefined ? { after } : {}) }))
  }

  async digest (peer: string, entries: DigestEntry[]): Promise<DigestAnswer> {
    return decodeDigestAnswer(await this.call(peer, { op: SwarmOp.DIGEST, entries }))
  }

  async fetch (peer: string, mailbox: Uint8Array, hashes: Uint8Array[], maxBytes: number): Promise<SwarmRecord[]> {
    return decodeRecordsAnswer(await this.call(peer, { op: SwarmOp.FETCH, mailbox, hashes, maxBytes }))
  }

  async put (peer: string, record: SwarmRecord): Promise<PutAnswer> {
    return decodePutAnswer(await this.call(peer, { op: SwarmOp.PUT, record }))
  }

  async delete (peer: string, request: SignedDelete): Promise<number> {
    return decodeCountAnswer(await this.call(peer, request))
  }

  async handoff (peer: string, mailbox: Uint8Array, hashes: Uint8Array[]): Promise<Uint8Array[]> {
    return decodeHashesAnswer(await this.call(peer, { op: SwarmOp.HANDOFF, mailbox, hashes }))
  }

  private async call (peer: string, request: SwarmRequest): Promise<Uint8Array> {
    const replica = this.replicas.get(peer)
    if (replica === undefined) throw new Error(`no replica ${peer}`)
    const wire = encodeRequestMessage(1, request)
    const decoded = decodeMessage(wire)
    if (decoded.type !== 'request') throw new Error('not a request')
    const body = await replica.serve(decoded.request, { peer: this.asker })
    const answer = encodeResponseMessage(1, 0, body)
    const name = SWARM_OP_NAMES[request.op]
    this.bytes.set(name, (this.bytes.get(name) ?? 0) + 4 + wire.byteLength + 4 + answer.byteLength)
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1)
    const back = decodeMessage(answer)
    if (back.type !== 'response') throw new Error('not a response')
    return back.body
  }
}
