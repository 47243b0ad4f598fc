import { peerIdFromString } from '@libp2p/peer-id'
import { decodeNodeRecord, type SignedNodeRecord } from './node-record.js'
import { MalformedRecordError, UnadmittedRecordError } from './record-errors.js'
import type { NodeRecordVerifier } from './record-verifier.js'
import type { PeerId } from '@libp2p/interface'
import type { SelectFn, Selectors, ValidateFn, Validators } from '@libp2p/kad-dht'

/**
 * Node records in kad-dht: key `/ghostnode-record/<peer id>` (UTF-8), value the
 * encoded record. kad-dht routes a key to the validator and selector registered
 * for its first path segment, on every node: a DHT server refuses to store a
 * record its validator rejects, and a lookup keeps the highest version.
 */
export const NODE_RECORD_DHT_NAMESPACE = 'ghostnode-record'
const KEY_PREFIX = `/${NODE_RECORD_DHT_NAMESPACE}/`
const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** The DHT key under which `peerId` publishes its node record. */
export function nodeRecordDhtKey (peerId: PeerId): Uint8Array {
  return encoder.encode(`${KEY_PREFIX}${peerId.toString()}`)
}

/** The peer a DHT key names; MalformedRecordError for anything else. */
export function peerIdFromNodeRecordDhtKey (key: Uint8Array): PeerId {
  let text: string
  try {
    text = decoder.decode(key)
  } catch (err) {
    throw new MalformedRecordError('DHT key is not UTF-8', { cause: err })
  }
  if (!text.startsWith(KEY_PREFIX)) throw new MalformedRecordError(`DHT key is not under ${KEY_PREFIX}`)
  let peerId: PeerId
  try {
    peerId = peerIdFromString(text.slice(KEY_PREFIX.length))
  } catch (err) {
    throw new MalformedRecordError('DHT key does not name a peer id', { cause: err })
  }
  // one canonical key per peer, so two spellings cannot hold different records
  if (peerId.toString() !== text.slice(KEY_PREFIX.length)) throw new MalformedRecordError('DHT key peer id is not canonical')
  return peerId
}

/**
 * Validator for kad-dht: the key must name a member of the network (checked
 * first, so a stranger's records cost no signature check and take no room in
 * the datastore), and the value must verify and belong to that peer.
 */
export function nodeRecordDhtValidator (verifier: NodeRecordVerifier, isMember: (peer: string) => boolean = () => true): ValidateFn {
  return async (key, value) => {
    let expectedPeer: PeerId
    try {
      expectedPeer = peerIdFromNodeRecordDhtKey(key)
    } catch (err) {
      verifier.reject('malformed')
      throw err
    }
    if (!isMember(expectedPeer.toString())) {
      verifier.reject('unadmitted')
      throw new UnadmittedRecordError()
    }
    await verifier.verify(value, { expectedPeer })
  }
}

/** Selector for kad-dht: the highest version wins, then the later validUntil; undecodable values lose. */
export const nodeRecordDhtSelector: SelectFn = (_key, records) => {
  let best = 0
  let bestRecord: SignedNodeRecord | undefined
  records.forEach((bytes, i) => {
    let record: SignedNodeRecord
    try {
      record = decodeNodeRecord(bytes)
    } catch {
      return
    }
    if (bestRecord == null || record.version > bestRecord.version ||
      (record.version === bestRecord.version && record.validUntil > bestRecord.validUntil)) {
      best = i
      bestRecord = record
    }
  })
  return best
}

/** Pass as `kadDHT({ validators: nodeRecordDhtValidators(verifier, isMember), ... })`. */
export function nodeRecordDhtValidators (verifier: NodeRecordVerifier, isMember?: (peer: string) => boolean): Validators {
  return { [NODE_RECORD_DHT_NAMESPACE]: nodeRecordDhtValidator(verifier, isMember) }
}

/** Pass as `kadDHT({ selectors: nodeRecordDhtSelectors(), ... })`. */
export function nodeRecordDhtSelectors (): Selectors {
  return { [NODE_RECORD_DHT_NAMESPACE]: nodeRecordDhtSelector }
}
