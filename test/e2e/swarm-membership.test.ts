import { TypedEventEmitter } from '@libp2p/interface'
import { expect } from 'chai'
import { createGhostnode } from '../../src/compose.js'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { InvalidConfigValueError } from '../../src/config/errors.js'
import { MemberFlag } from '../../src/membership/constants.js'
import { SwarmMembership } from '../../src/swarm/membership.js'
import type { MemberEntry } from '../../src/membership/document.js'
import type { MembershipViewEvents } from '../../src/membership/view.js'

/** Members shaped like a membership document's, for the fields the ring reads. */
function member (id: string, flags = MemberFlag.RELAY | MemberFlag.SWARM): MemberEntry {
  return { peerId: id, flags } as unknown as MemberEntry
}

/** A membership view whose document the test replaces at will. */
class FakeView extends TypedEventEmitter<MembershipViewEvents> {
  held = new Map<string, MemberEntry>()
  members (): MemberEntry[] { return [...this.held.values()] }
  hasFlag (peer: string, flag: number): boolean { return ((this.held.get(peer)?.flags ?? 0) & flag) === flag }
  set (...entries: MemberEntry[]): void {
    this.held = new Map(entries.map(e => [e.peerId, e]))
    this.safeDispatchEvent('change', { detail: { added: [], removed: [], changed: [] } })
  }
}

describe('swarm/membership', () => {
  let view: FakeView
  let membership: SwarmMembership
  let changes: Array<{ added: string[], removed: string[] }>

  beforeEach(() => {
    view = new FakeView()
    membership = new SwarmMembership({ selfId: 'self', view, vnodesPerNode: 8, debounceMs: 5 })
    changes = []
    membership.addEventListener('change', (evt) => changes.push(evt.detail))
  })
  afterEach(() => { membership.stop() })

  const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 30)) }

  it('holds exactly the SWARM members of the document in force, batching document changes', async () => {
    view.set(member('a'), member('self'))
    membership.start()
    expect(membership.ring.nodes()).to.deep.equal(['a', 'self'])
    view.set(member('a'), member('self'), member('b'))
    view.set(member('a'), member('self'), member('b'), member('c'), member('relay-only', MemberFlag.RELAY))
    await settle()
    expect(membership.ring.nodes()).to.deep.equal(['a', 'b', 'c', 'self'])
    // b and c arrived together: one ring update
    expect(changes.slice(1)).to.deep.equal([{ added: ['b', 'c'], removed: [] }])
    expect(membership.isVerifiedMember('b')).to.equal(true)
    expect(membership.isVerifiedMember('relay-only')).to.equal(false)
  })

  it('leaves this node off the ring until the document makes it a swarm member', () => {
    view.set(member('a'), member('self', MemberFlag.RELAY))
    membership.start()
    expect(membership.ring.nodes()).to.deep.equal(['a'])
    expect(membership.isVerifiedMember('self')).to.equal(false)
  })

  it('drops a member the document no longer lists or no longer grants SWARM, and replaces the ring object', async () => {
    view.set(member('a'), member('b'), member('self'))
    membership.start()
    const before = membership.ring
    view.set(member('b', MemberFlag.RELAY), member('self'))
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
