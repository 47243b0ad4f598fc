import { hexToBytes } from '../wire/bytes.js'
import { DEFAULT_ONION_EPOCH_MS, DEFAULT_ONION_GRACE_MS } from '../wire/onion-format.js'
import { decodeNodeRecord, markVerified, nodeRecordBody, nodeRecordSigningMessage, type SignedNodeRecord, type VerifiedNodeRecord } from './node-record.js'
import {
  NodeRecordError, RecordEpochError, RecordExpiredError, RecordFarFutureError, RecordLowOrderKeyError,
  RecordSignatureError, RecordWrongSignerError, type RecordRejectReason
} from './record-errors.js'
import type { PeerId } from '@libp2p/interface'

/** Tolerated clock difference between a record's publisher and its verifier. */
export const DEFAULT_RECORD_CLOCK_SKEW_MS = 300_000
/**
 * Longest validity a record may claim: a key published at the start of its
 * epoch is accepted until the epoch ends plus the grace period.
 */
export const DEFAULT_RECORD_MAX_VALIDITY_MS = DEFAULT_ONION_EPOCH_MS + DEFAULT_ONION_GRACE_MS + DEFAULT_RECORD_CLOCK_SKEW_MS

/**
 * X25519 public keys of small order, in every encoding X25519 accepts (libsodium's
 * list, compared with bit 255 masked because X25519 ignores it). A shared
 * secret with any of them is one of a handful of values, so a record carrying
 * one could make a hop's layer keys predictable.
 */
const LOW_ORDER_POINTS: Uint8Array[] = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
].map(hexToBytes)

/** True for the all-zero key and the other small-order X25519 points (top bit ignored). */
export function isLowOrderX25519Key (key: Uint8Array): boolean {
  if (key.byteLength !== 32) return false
  return LOW_ORDER_POINTS.some(p => {
    let diff = (p[31] ^ key[31]) & 0x7f
    for (let i = 0; i < 31; i++) diff |= p[i] ^ key[i]
    return diff === 0
  })
}

export interface VerifyOptions {
  /** Current time (ms). */
  now: number
  /** Largest `validUntil - now` accepted. @default DEFAULT_RECORD_MAX_VALIDITY_MS */
  maxValidityMs?: number
  /** The peer the record must belong to (the DHT key names it, or the publisher speaks for itself). */
  expectedPeer?: PeerId
  /**
   * The network's onion key epoch length (`onion.keyEpochMs`): when given, a
   * record's epoch is checked against its validity. Relays know it from their
   * config; a client that is not told it skips that check.
   */
  epochMs?: number
  /** Onion key grace after its epoch (`onion.keyGraceMs`). @default DEFAULT_ONION_GRACE_MS */
  graceMs?: number
}

/**
 * Checks a decoded record: the signature under the identity key it embeds, the
 * expected peer, expiry, an implausibly long validity, and a low-order onion key.
 */
export async function verifyDecodedNodeRecord (record: SignedNodeRecord, options: VerifyOptions): Promise<VerifiedNodeRecord> {
  const publicKey = record.peerId.publicKey
  if (publicKey == null) throw new RecordSignatureError('record peer id embeds no public key')
  let ok = false
  try {
    ok = await publicKey.verify(nodeRecordSigningMessage(nodeRecordBody(record)), record.signature)
  } catch {
    // a key that cannot verify anything is the same outcome as a bad signature
    ok = false
  }
  if (!ok) throw new RecordSignatureError()
  if (options.expectedPeer != null && !options.expectedPeer.equals(record.peerId)) throw new RecordWrongSignerError()
  if (record.validUntil <= options.now) throw new RecordExpiredError()
  if (record.validUntil - options.now > (options.maxValidityMs ?? DEFAULT_RECORD_MAX_VALIDITY_MS)) throw new RecordFarFutureError()
  if (options.epochMs !== undefined) {
    // the onion key of epoch E is in use from E × epochMs until (E + 1) × epochMs + grace
    const keyEnd = (record.epoch + 1) * options.epochMs + (options.graceMs ?? DEFAULT_ONION_GRACE_MS)
    if (record.epoch * options.epochMs > options.now + DEFAULT_RECORD_CLOCK_SKEW_MS) throw new RecordEpochError('node record epoch has not started')
    if (record.validUntil > keyEnd + DEFAULT_RECORD_CLOCK_SKEW_MS) throw new RecordEpochError('node record is valid past its onion key\'s epoch')
  }
  if (isLowOrderX25519Key(record.onionKey)) throw new RecordLowOrderKeyError()
  return markVerified(record)
}

/** decodeNodeRecord + verifyDecodedNodeRecord. */
export async function verifyNodeRecord (bytes: Uint8Array, options: VerifyOptions): Promise<VerifiedNodeRecord> {
  return verifyDecodedNodeRecord(decodeNodeRecord(bytes), options)
}

export interface NodeRecordVerifierInit {
  /** Called for every refusal, with its reason (the node counts them in `ghostnode_directory_records_rejected_total`: record-metrics.ts). */
  onReject?: (reason: RecordRejectReason) => void
  /** @default Date.now */
  now?: () => number
  /** Largest validity a record may claim, ms ahead of now. @default DEFAULT_RECORD_MAX_VALIDITY_MS (26 h 5 min) */
  maxValidityMs?: number
  /** The network's onion key epoch length; when given, records' epochs are checked against their validity (see VerifyOptions). */
  epochMs?: number
  /** @default DEFAULT_ONION_GRACE_MS */
  graceMs?: number
}

/**
 * Verifies records for every consumer (the directory and the DHT validator)
 * and counts refusals by reason (and reports each to `onReject`).
 */
export class NodeRecordVerifier {
  readonly maxValidityMs: number
  private readonly epochMs?: number
  private readonly graceMs: number
  private readonly now: () => number
  private readonly rejected = new Map<RecordRejectReason, number>()
  private readonly onReject?: (reason: RecordRejectReason) => void

  constructor (init: NodeRecordVerifierInit) {
    this.now = init.now ?? Date.now
    this.maxValidityMs = init.maxValidityMs ?? DEFAULT_RECORD_MAX_VALIDITY_MS
    if (init.epochMs !== undefined) this.epochMs = init.epochMs
    this.graceMs = init.graceMs ?? DEFAULT_ONION_GRACE_MS
    if (init.onReject != null) this.onReject = init.onReject
  }

  /** Decodes and verifies; a NodeRecordError is counted by its reason and rethrown. */
  async verify (bytes: Uint8Array, options: { expectedPeer?: PeerId } = {}): Promise<VerifiedNodeRecord> {
    return this.counted(async () => verifyNodeRecord(bytes, this.options(options.expectedPeer)))
  }

  /** Verifies a record already decoded (the directory decodes first to skip stale ones cheaply). */
  async verifyDecoded (record: SignedNodeRecord, options: { expectedPeer?: PeerId } = {}): Promise<VerifiedNodeRecord> {
    return this.counted(async () => verifyDecodedNodeRecord(record, this.options(options.expectedPeer)))
  }

  /** Counts a refusal decided elsewhere (a full directory, a decode failure). */
  reject (reason: RecordRejectReason): void {
    this.rejected.set(reason, (this.rejected.get(reason) ?? 0) + 1)
    this.onReject?.(reason)
  }

  /** Current count for one reason (tests, health output). */
  async rejectedCount (reason: RecordRejectReason): Promise<number> {
    return this.rejected.get(reason) ?? 0
  }

  private options (expectedPeer?: PeerId): VerifyOptions {
    return { now: this.now(), maxValidityMs: this.maxValidityMs, expectedPeer, graceMs: this.graceMs, ...(this.epochMs !== undefined ? { epochMs: this.epochMs } : {}) }
  }

  private async counted (fn: () => Promise<VerifiedNodeRecord>): Promise<VerifiedNodeRecord> {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof NodeRecordError) this.reject(err.reason)
      throw err
    }
  }
}
