import { generateKeyPair } from '@libp2p/crypto/keys'
import { expect } from 'chai'
import { attackerNode } from '../../harness/attacks/attacker-node.js'
import { MEMBERSHIP_PROTOCOL } from '../../src/membership/constants.js'
import { MembershipRequestKind, MembershipStatus, decodeMembershipRequest, encodeMembershipRequest, membershipExchange } from '../../src/membership/protocol.js'
import { startNetwork, until } from '../helpers/network.js'
import { stopAll } from '../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Ghostnode } from '../../src/node.js'

async function requests (node: Ghostnode, kind: string): Promise<number> {
  let total = 0
  for (const line of (await node.registry.metrics()).split('\n')) {
    if (line.startsWith('ghostnode_membership_requests_total{') && line.includes(`kind="${kind}"`)) total += Number(line.split(' ').pop())
  }
  return total
}

describe('membership gossip: announce, then fetch once', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Ghostnode[] = []

  before(async () => {
    dir = await makeTempDir()
    nodes = await startNetwork(dir, 5)
  })
  after(async () => {
    await stopAll(nodes)
    await removeTempDir(dir)
  })

  it('spreads each new period by ANNOUNCE and one GET per node, never pushing the document', async () => {
    const period = Math.max(...nodes.map(n => n.libp2p.services.membership.view.period))
    await until(() => nodes.every(n => n.libp2p.services.membership.view.period >= period + 3), 20_000, 'three more periods everywhere')
    let announces = 0
    let pushes = 0
    for (const n of nodes) {
      announces += await requests(n, 'announce')
      pushes += await requests(n, 'push')
    }
    expect(announces, 'announcements served').to.be.greaterThan(0)
    expect(pushes, 'documents pushed').to.equal(0)
  })

  it('a stranger\'s announcement of a later period makes no node fetch from it', async () => {
    const stranger = await attackerNode(await generateKeyPair('Ed25519'), { peer: true })
    try {
      await stranger.start()
      const target = nodes[1]
      const stream = await stranger.dialProtocol(target.getMultiaddrs()[0], MEMBERSHIP_PROTOCOL)
      const reply = await membershipExchange(stream, { kind: MembershipRequestKind.ANNOUNCE, period: target.libp2p.services.membership.view.period + 1000 }, { signal: AbortSignal.timeout(5_000) })
      expect(reply.status).to.equal(MembershipStatus.UNAUTHORIZED)
    } finally {
      await stranger.stop()
    }
  })

  it('encodes ANNOUNCE in the 10 bytes a stranger may send', () => {
    const bytes = encodeMembershipRequest({ kind: MembershipRequestKind.ANNOUNCE, period: 2 ** 40 + 3 })
    expect(bytes.byteLength).to.equal(10)
    expect(decodeMembershipRequest(bytes)).to.deep.equal({ kind: MembershipRequestKind.ANNOUNCE, period: 2 ** 40 + 3 })
  })
})
