import { randomInt } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import { InvalidOnionOptionError } from '../../../src/onion/errors.js'
import { ALL_CAPABILITIES, Capability } from '../../../src/directory/node-record.js'
import { STRICT_SEARCH_BUDGET, networkGroups, selectPath, type PathCandidate } from '../../../src/client/path-select.js'
import { InsufficientPathNodesError, NoExitNodeError, UnusableFirstHopError } from '../../../src/directory/record-errors.js'

interface Node extends PathCandidate { name: string }

async function node (name: string, addrs: string[], capabilities = ALL_CAPABILITIES): Promise<Node> {
  const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  return { name, peerId, addrs: addrs.map(a => multiaddr(a)), capabilities }
}

/** A deterministic [0, max) source (LCG), so a failing case can be replayed. */
function seeded (seed: number): (max: number) => number {
  let s = seed >>> 0
  return (max) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s % max
  }
}

function names (hops: Node[]): string[] {
  return hops.map(h => h.name)
}

function groupsDisjoint (hops: Node[]): boolean {
  const all = hops.flatMap(h => networkGroups(h.addrs))
  return new Set(all).size === all.length
}

describe('path selection', () => {
  it('groups IPv4 by /16, IPv6 by /48, and IPv4-mapped IPv6 as IPv4', () => {
    expect(networkGroups([multiaddr('/ip4/10.1.2.3/tcp/1'), multiaddr('/ip4/10.1.200.1/tcp/2')])).to.deep.equal(['4:10.1'])
    expect(networkGroups([multiaddr('/ip6/2001:db8:1::1/tcp/1')])).to.deep.equal(['6:20010db80001'])
    expect(networkGroups([multiaddr('/ip6/2001:db8:1:ffff::2/tcp/1')])).to.deep.equal(['6:20010db80001'])
    expect(networkGroups([multiaddr('/ip6/::ffff:10.1.2.3/tcp/1')])).to.deep.equal(['4:10.1'])
    expect(networkGroups([multiaddr('/dns4/relay.example/tcp/443/wss')])).to.deep.equal([])
  })

  it('chooses distinct peers with the exit last', async () => {
    const nodes = await Promise.all(Array.from({ length: 8 }, async (_, i) => node(`n${i}`, [`/ip4/10.${i}.0.1/tcp/1`])))
    for (let seed = 0; seed < 100; seed++) {
      const { hops, relaxed } = selectPath(nodes, { random: seeded(seed) })
      expect(hops).to.have.length(3)
      expect(new Set(names(hops)).size).to.equal(3)
      expect(relaxed).to.equal(false)
    }
  })

  it('never puts two hops in the same /16 when the directory allows it', async () => {
    const nodes = await Promise.all([
      node('a1', ['/ip4/10.1.0.1/tcp/1']), node('a2', ['/ip4/10.1.9.9/tcp/1']),
      node('b1', ['/ip4/10.2.0.1/tcp/1']), node('b2', ['/ip4/10.2.7.7/tcp/1']),
      node('c1', ['/ip4/10.3.0.1/tcp/1']), node('c2', ['/ip4/10.3.5.5/tcp/1'])
    ])
    for (let i = 0; i < 200; i++) {
      const { hops, relaxed } = selectPath(nodes) // crypto randomness
      expect(relaxed).to.equal(false)
      expect(new Set(hops.map(h => h.name[0])).size, names(hops).join()).to.equal(3)
    }
  })

  it('never puts two hops in the same IPv6 /48 when the directory allows it', async () => {
    const nodes = await Promise.all([
      node('a1', ['/ip6/2001:db8:1::1/tcp/1']), node('a2', ['/ip6/2001:db8:1:ffff::2/tcp/1']),
      node('b1', ['/ip6/2001:db8:2::1/tcp/1']), node('c1', ['/ip6/2001:db8:3::1/tcp/1'])
    ])
    for (let seed = 0; seed < 100; seed++) {
      const { hops, relaxed } = selectPath(nodes, { random: seeded(seed) })
      expect(relaxed).to.equal(false)
      expect(groupsDisjoint(hops)).to.equal(true)
    }
  })

  it('backtracks to find the one path that satisfies the network rule', async () => {
    // picking e1 as exit leaves no second relay outside group 1: only e2 works
    const nodes = await Promise.all([
      node('e1', ['/ip4/10.1.0.1/tcp/1'], Capability.EXIT),
      node('e2', ['/ip4/10.3.0.1/tcp/1'], Capability.EXIT),
      node('r1', ['/ip4/10.1.0.2/tcp/1'], Capability.RELAY),
      node('r2', ['/ip4/10.2.0.1/tcp/1'], Capability.RELAY)
    ])
    for (let seed = 0; seed < 50; seed++) {
      const { hops, relaxed } = selectPath(nodes, { random: seeded(seed) })
      expect(relaxed).to.equal(false)
      expect(hops[2].name).to.equal('e2')
    }
  })

  it('relaxes the network rule on a loopback testnet and says so', async () => {
    const nodes = await Promise.all(['a', 'b', 'c'].map(async (n, i) => node(n, [`/ip4/127.0.0.1/tcp/${7400 + i}`])))
    const { hops, relaxed } = selectPath(nodes)
    expect(relaxed).to.equal(true)
    expect(new Set(names(hops)).size).to.equal(3)
  })

  it('still avoids shared groups where it can when relaxed', async () => {
    const nodes = await Promise.all([
      node('a1', ['/ip4/10.1.0.1/tcp/1']), node('a2', ['/ip4/10.1.0.2/tcp/1']), node('a3', ['/ip4/10.1.0.3/tcp/1']),
      node('b1', ['/ip4/10.2.0.1/tcp/1'])
    ])
    for (let seed = 0; seed < 50; seed++) {
      const { hops, relaxed } = selectPath(nodes, { random: seeded(seed) })
      expect(relaxed).to.equal(true)
      expect(names(hops)).to.include('b1')
    }
  })

  it('gives up the strict search quickly in a large network that shares one /16', async () => {
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    // path selection keys nodes by peer id string only, so cheap fake ids keep this test fast
    const nodes: Node[] = Array.from({ length: 3000 }, (_, i) => ({
      name: `n${i}`,
      peerId: { ...peerId, toString: () => `peer-${i}` } as unknown as Node['peerId'],
      addrs: [multiaddr(`/ip4/127.0.${i >> 8}.${i & 255}/tcp/1`)],
      capabilities: ALL_CAPABILITIES
    }))
    // the work, not the time: each candidate looked at draws one random index
    let draws = 0
    const random = (max: number): number => { draws++; return randomInt(max) }
    const { hops, relaxed } = selectPath(nodes, { random })
    expect(relaxed).to.equal(true)
    expect(new Set(names(hops)).size).to.equal(3)
    // the strict search stops at its budget; the relaxed one looks at each slot's candidates once at most
    expect(draws).to.be.at.most(STRICT_SEARCH_BUDGET + 1 + 3 * nodes.length)
  })

  it('excludes the given peers', async () => {
    const nodes = await Promise.all(Array.from({ length: 5 }, async (_, i) => node(`n${i}`, [`/ip4/10.${i}.0.1/tcp/1`])))
    for (let seed = 0; seed < 50; seed++) {
      const { hops } = selectPath(nodes, { exclude: [nodes[0].peerId, nodes[1].peerId.toString()], random: seeded(seed) })
      expect(names(hops)).not.to.include('n0').and.not.to.include('n1')
    }
    expect(() => selectPath(nodes, { exclude: nodes.slice(0, 3).map(n => n.peerId) })).to.throw(InsufficientPathNodesError)
  })

  it('chooses the exit among exit-capable records only', async () => {
    const nodes = await Promise.all([
      node('x', ['/ip4/10.1.0.1/tcp/1'], Capability.EXIT),
      ...Array.from({ length: 4 }, async (_, i) => node(`r${i}`, [`/ip4/10.${i + 2}.0.1/tcp/1`], Capability.RELAY | Capability.SWARM))
    ])
    for (let seed = 0; seed < 50; seed++) {
      const { hops } = selectPath(nodes, { random: seeded(seed) })
      expect(hops[2].name).to.equal('x')
      expect(names(hops.slice(0, 2))).not.to.include('x') // an exit-only node does not relay
    }
    expect(() => selectPath(nodes.slice(1))).to.throw(NoExitNodeError)
  })

  it('uses a fixed first hop', async () => {
    const nodes = await Promise.all(Array.from({ length: 6 }, async (_, i) => node(`n${i}`, [`/ip4/10.${i}.0.1/tcp/1`])))
    for (let seed = 0; seed < 30; seed++) {
      const { hops } = selectPath(nodes, { firstHop: nodes[4].peerId, random: seeded(seed) })
      expect(hops[0].name).to.equal('n4')
      expect(names(hops.slice(1))).not.to.include('n4')
    }
    expect(() => selectPath(nodes, { firstHop: nodes[4].peerId, exclude: [nodes[4].peerId] })).to.throw(UnusableFirstHopError)
    const stranger = await node('s', ['/ip4/10.9.0.1/tcp/1'])
    expect(() => selectPath(nodes, { firstHop: stranger.peerId })).to.throw(UnusableFirstHopError)
  })

  it('is reproducible with injected randomness and supports 1 to 5 hops', async () => {
    const nodes = await Promise.all(Array.from({ length: 10 }, async (_, i) => node(`n${i}`, [`/ip4/10.${i}.0.1/tcp/1`])))
    expect(names(selectPath(nodes, { random: seeded(7) }).hops)).to.deep.equal(names(selectPath(nodes, { random: seeded(7) }).hops))
    expect(selectPath(nodes, { hops: 1 }).hops).to.have.length(1)
    const five = selectPath(nodes, { hops: 5 })
    expect(new Set(names(five.hops)).size).to.equal(5)
    expect(groupsDisjoint(five.hops)).to.equal(true)
    expect(() => selectPath(nodes, { hops: 6 })).to.throw(InvalidOnionOptionError)
    expect(() => selectPath(nodes, { hops: 0 })).to.throw(InvalidOnionOptionError)
  })
})
