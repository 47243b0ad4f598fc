import { MailboxKey } from '../../src/swarm/auth.js'
import { deleteAllBody, deleteBody, retrieveBody, storeBody } from '../../src/swarm/exit/client-ops.js'
import {
  SwarmExitOp, decodeDeleteCount, decodeRetrievePage, decodeStoreReceipt, decodeSwarmExitRequest, encodeRetrievePage,
  encodeStoreReceipt, encodeSwarmExitRequest, signedFieldsOf
} from '../../src/swarm/exit/exit-protocol.js'
import { checkAuth } from '../../src/swarm/auth.js'
import { tolerateTyped, type FuzzTarget } from '../harness.js'

const NOW = 1_700_000_000_000
const key = MailboxKey.fromSeed(new Uint8Array(32).fill(7))

/**
 * SWARM exit request bodies (service 2) and the client-side answer decoders.
 * Invariants: a request that decodes re-encodes to the same bytes, and a
 * signed request's authentication check ends in a typed error or success.
 */
export const swarmExitTarget: FuzzTarget = {
  name: 'swarm-exit',

  seeds () {
    return [
      storeBody(key.publicKey, Uint8Array.of(1, 2, 3), { ttlMs: 60_000, namespace: -2 }),
      retrieveBody(key, { timestamp: NOW, cursor: new Uint8Array(41).fill(1) }),
      deleteBody(key, [new Uint8Array(32).fill(3)], { timestamp: NOW }),
      deleteAllBody(key, { timestamp: NOW, namespace: 4 }),
      encodeStoreReceipt({ stored: true, expiry: NOW, hash: new Uint8Array(32), members: ['12D3KooWExample'] }),
      encodeRetrievePage({ messages: [{ timestamp: NOW, expiry: NOW + 1, hash: new Uint8Array(32), data: Uint8Array.of(9) }] })
    ]
  },

  async run (input) {
    await tolerateTyped(() => decodeStoreReceipt(input))
    await tolerateTyped(() => decodeRetrievePage(input))
    await tolerateTyped(() => decodeDeleteCount(input))
    const req = decodeSwarmExitRequest(input)
    if (Buffer.compare(encodeSwarmExitRequest(req), input) !== 0) throw new Error('swarm exit request did not round-trip')
    if (req.op !== SwarmExitOp.STORE) await tolerateTyped(() => { checkAuth(signedFieldsOf(req), req.signature, NOW) })
  }
}

export default swarmExitTarget
