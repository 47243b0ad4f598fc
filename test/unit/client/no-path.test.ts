import { expect } from 'chai'
import { peerIdFromString } from '@libp2p/peer-id'
import { noPathMessage } from '../../../src/client/circuit-client.js'
import { Capability } from '../../../src/directory/node-record.js'
import type { VerifiedNodeRecord } from '../../../src/directory/node-record.js'

const IDS = [
  '12D3KooWD5qmLvTztdaedzarPPsnm5Ujc1cmVrGTkm43deFyM2LL',
  '12D3KooWS32bLqn8QjcNHKX57Ev5WSWnYQPrijVRv9d5qRKUX2XV',
  '12D3KooWRZmW2kc3cTiCDaoQ1EGEVr3f61LtwD5D1yFdBSMbB5rM'
]
const ALL = Capability.GUARD | Capability.RELAY | Capability.EXIT
const record = (id: string, capabilities: number): VerifiedNodeRecord => ({ peerId: peerIdFromString(id), capabilities } as unknown as VerifiedNodeRecord)

describe('client: the no-path error says what is missing and what to do', () => {
  it('names the hop count, the usable relays by role, the ones left out after failing, and the 4-relay rule', () => {
    const records = IDS.map(id => record(id, ALL))
    const message = noPathMessage(new Error('not enough eligible nodes for the requested path length'), 3, records, new Set([IDS[2]]), 1)
    expect(message).to.equal('cannot build a 3-hop circuit: not enough eligible nodes for the requested path length. ' +
      'The directory holds 3 valid relay record(s); usable now: 2 (guards 2, relays 2, exits 2, 1 left out for 60 s after failing a circuit). ' +
      'A 3-hop circuit needs 3 distinct relays, a guard first and an exit last; to survive one relay failure a network needs 4. ' +
      'Wait for relays to come back or join, or use a network with more relays.')
  })
})
