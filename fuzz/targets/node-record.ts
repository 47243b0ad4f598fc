import { createPrivateKey, sign } from 'node:crypto'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeGetHeader, decodeRequest, decodeStatus } from '../../src/directory/protocol.js'
import {
  ALL_CAPABILITIES, assembleNodeRecord, decodeNodeRecord, encodeNodeRecordBody, nodeRecordSigningMessage, type NodeRecordFields
} from '../../src/directory/node-record.js'
import { verifyDecodedNodeRecord } from '../../src/directory/record-verifier.js'
import { tolerateTyped, type FuzzTarget } from '../harness.js'

/** PKCS#8 prefix of a raw Ed25519 seed (RFC 8410): seeds are signed synchronously with node:crypto. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
/** Records in the seeds are valid around this instant; run() verifies at the same instant. */
const NOW = 1_700_000_000_000

function signedRecord (seedByte: number, fields: NodeRecordFields): Uint8Array {
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.alloc(32, seedByte)]), format: 'der', type: 'pkcs8' })
  const x = key.export({ format: 'jwk' }).x as string
  const body = encodeNodeRecordBody(new Uint8Array(Buffer.from(x, 'base64url')), fields)
  return assembleNodeRecord(body, new Uint8Array(sign(null, nodeRecordSigningMessage(body), key)))
}

function fields (addrs: string[], capabilities = ALL_CAPABILITIES): NodeRecordFields {
  return {
    addrs: addrs.map(a => multiaddr(a)),
    onionKey: new Uint8Array(32).fill(9),
    epoch: 19_675,
    validUntil: NOW + 3_600_000,
    version: BigInt(NOW),
    capabilities
  }
}

/**
 * Node record decoding and verification, plus the directory protocol's frame
 * decoders. Invariant: a record that decodes re-encodes to the same bytes.
 */
export const nodeRecordTarget: FuzzTarget = {
  name: 'node-record',

  seeds () {
    const full = signedRecord(1, fields(['/ip4/10.1.2.3/tcp/7400', '/ip6/2001:db8::1/tcp/7400', '/ip4/10.1.2.3/tcp/7401/ws', '/dns4/relay.example/tcp/443/wss']))
    return [
      full,
      signedRecord(2, fields([])),
      signedRecord(3, fields(['/ip4/127.0.0.1/tcp/1'], 0xffffffff)),
      full.subarray(0, full.byteLength - 10),
      Uint8Array.of(1, 1),
      Uint8Array.of(1, 2, ...full),
      Uint8Array.of(1, 0, 0, 0, 0, 3)
    ]
  },

  async run (input) {
    // the directory frame decoders first: their rejections are expected and not counted
    await tolerateTyped(() => decodeRequest(input))
    await tolerateTyped(() => decodeGetHeader(input))
    await tolerateTyped(() => decodeStatus(input))
    // a record that does not parse throws its typed error, which the harness counts
    const record = decodeNodeRecord(input)
    const body = encodeNodeRecordBody(record.identityKey, record)
    if (Buffer.compare(assembleNodeRecord(body, record.signature), input) !== 0) throw new Error('node record did not round-trip')
    await tolerateTyped(async () => verifyDecodedNodeRecord(record, { now: NOW }))
  }
}

export default nodeRecordTarget
