import { TypedEventEmitter } from '@libp2p/interface'
import { expect } from 'chai'
import { createGhostnode } from '../../src/compose.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { InvalidConfigValueError } from '../../src/config/errors.js'
import { Capability, type VerifiedNodeRecord } from '../../src/onion/node-record.js'
import { SwarmMembership, type MembershipDirectory } from '../../src/swarm/membership.js'
import type { DirectoryEvents } from '../../src/onion/directory.js'

const NOW = 1_700_000_000_000

/** Records shaped like the directory's, for the fields membership reads. */
function record (id: string, capabilities = Capability.RELAY | Capability.SWARM, validUntil = NOW + 60_000): VerifiedNodeRecord {
  return { peerId: { toString: () => id }, capabilities, validUntil } as unknown as VerifiedNodeRecord
}

class FakeDirectory extends TypedEventEmitter<DirectoryEvents> {
  held = new Map<string, VerifiedNodeRecord>()
  records (): VerifiedNodeRecord[] { return [...this.held.values()] }
  get (peer: { toString: () => string } | string): VerifiedNodeRecord | undefined { return this.held.get(peer.toString()) }
  put (r: VerifiedNodeRecord, type: keyof DirectoryEvents = 'record:added'): void {
    this.held.set(r.peerId.toString(), r)
    this.safeDispatchEvent(type, { detail: r })
  }

  drop (id: string): void {
    const r = this.held.get(id)
    this.held.delete(id)
    if (r != null) this.safeDispatchEvent('record:expired', { detail: r })
  }
}

describe('swarm/membership', () => {
  let directory: FakeDirectory
  let membership: SwarmMembership
  let changes: Array<{ added: string[], removed: string[] }>

  beforeEach(() => {
    directory = new FakeDirectory()
    membership = new SwarmMembership({ selfId: 'self', directory: directory as unknown as MembershipDirectory, vnodesPerNode: 8, debounceMs: 5, now: () => NOW })
    changes = []
    membership.addEventListener('change', (evt) => changes.push(evt.detail))
  })
  afterEach(() => { membership.stop() })

  const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 30)) }

  it('holds itself and every verified, unexpired SWARM record, batching directory events', async () => {
    directory.put(record('a'))
    membership.start()
    expect(membership.ring.nodes()).to.deep.equal(['a', 'self'])
    directory.put(record('b'))
    directory.put(record('c'))
    directory.put(record('relay-only', Capability.RELAY))
    directory.put(record('stale', Capability.SWARM, NOW - 1))
    await settle()
    expect(membership.ring.nodes()).to.deep.equal(['a', 'b', 'c', 'self'])
    // b and c arrived together: one ring update
    expect(changes.slice(1)).to.deep.equal([{ added: ['b', 'c'], removed: [] }])
    expect(membership.isVerifiedMember('b')).to.equal(true)
    expect(membership.isVerifiedMember('relay-only')).to.equal(false)
  })

  it('drops a member whose record expires or loses the SWARM capability, and replaces the ring object', async () => {
    directory.put(record('a'))
    directory.put(record('b'))
    membership.start()
    const before = membership.ring
    directory.drop('a')
    directory.put(record('b', Capability.RELAY), 'record:updated')
    await settle()
    expect(membership.ring.nodes()).to.deep.equal(['self'])
    expect(before.nodes()).to.deep.equal(['a', 'b', 'self'])
    expect(changes[changes.length - 1]).to.deep.equal({ added: [], removed: ['a', 'b'] })
  })

  it('refuses swarm settings that contradict each other at start, naming the key', async () => {
    const bad = [
      { ...DEFAULT_CONFIG.swarm, minTtlMs: 60_000, maxTtlMs: 30_000 },
      { ...DEFAULT_CONFIG.swarm, replicas: 2, writeQuorum: 3 },
      { ...DEFAULT_CONFIG.swarm, maxMessageBytes: DEFAULT_CONFIG.onion.maxMessageBytes }
    ]
    const keys = ['swarm.minTtlMs', 'swarm.writeQuorum', 'swarm.maxMessageBytes']
    for (const [i, swarm] of bad.entries()) {
      const err = await createGhostnode({ ...DEFAULT_CONFIG, dataDir: '/nonexistent/never-created', swarm }).catch(e => e)
      expect(err).to.be.instanceOf(InvalidConfigValueError)
      expect((err as Error).message).to.contain(keys[i])
    }
  })
})
