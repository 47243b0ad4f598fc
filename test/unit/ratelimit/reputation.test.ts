import { expect } from 'chai'
import { DEFAULT_MAX_TRACKED_PEERS, DEFAULT_PENALTIES, VIOLATIONS } from '../../../src/ratelimit/config.js'
import { ReputationTracker } from '../../../src/ratelimit/reputation.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import type { Tier } from '../../../src/ratelimit/config.js'

const MINUTE = 60_000
const HOUR = 3_600_000

describe('ReputationTracker', () => {
  let clock: FakeClock

  beforeEach(() => {
    clock = new FakeClock()
  })

  it('lists bans with the violation that caused them or the operator, and an unban restores scoreAfterBan', () => {
    const rep = new ReputationTracker({ now: clock.now })
    for (let i = 0; i < 20 && !rep.isBanned('a'); i++) {
      rep.penalize('a', 'protocol_misuse')
      clock.advance(MINUTE)
    }
    expect(rep.isBanned('a')).to.equal(true)
    rep.ban('b', HOUR)
    const bans = rep.bans()
    expect(bans.map(b => [b.peer, b.reason])).to.have.deep.members([['a', 'protocol_misuse'], ['b', 'operator']])
    expect(bans.every(b => b.until > clock.now())).to.equal(true)

    expect(rep.unban('a')).to.equal(true)
    expect(rep.isBanned('a')).to.equal(false)
    expect(rep.score('a')).to.be.at.least(rep.config.scoreAfterBan)
    expect(rep.unban('a'), 'not banned any more').to.equal(false)
    expect(rep.unban('nobody')).to.equal(false)
    expect(rep.bans().map(b => b.peer)).to.deep.equal(['b'])
    clock.advance(HOUR + 1)
    expect(rep.bans()).to.deep.equal([])
  })

  it('starts an unknown peer at neutral 50 without tracking it', () => {
    const rep = new ReputationTracker({ now: clock.now })
    expect(rep.score('p')).to.equal(50)
    expect(rep.tier('p')).to.equal('neutral')
    expect(rep.weight('p')).to.equal(1)
    expect(rep.isBanned('p')).to.equal(false)
    expect(rep.size).to.equal(0)
  })

  it('lowers the score by the penalty table', () => {
    for (const violation of VIOLATIONS) {
      const rep = new ReputationTracker({ now: clock.now })
      expect(rep.penalize('p', violation), violation).to.equal(50 - DEFAULT_PENALTIES[violation])
    }
  })

  it('applies a cooled-down violation once per cooldown', () => {
    const rep = new ReputationTracker({ now: clock.now })
    const seen: boolean[] = []
    rep.onViolation((_peer, _violation, penalised) => seen.push(penalised))
    rep.penalize('p', 'bucket_overflow')
    rep.penalize('p', 'bucket_overflow')
    clock.advance(999)
    rep.penalize('p', 'bucket_overflow')
    // Within a second only time recovery (+1/min) moves the score.
    expect(rep.score('p')).to.be.closeTo(48, 0.02)
    clock.advance(1)
    rep.penalize('p', 'bucket_overflow')
    expect(rep.score('p')).to.be.closeTo(46, 0.02)
    expect(seen).to.deep.equal([true, false, false, true])
  })

  it('raises the score with rewards, capped per minute', () => {
    const rep = new ReputationTracker({ now: clock.now })
    expect(rep.reward('p', 50)).to.be.closeTo(50.5, 1e-9)
    expect(rep.reward('p', 1000)).to.be.closeTo(51, 1e-9)
    expect(rep.reward('p', 1000)).to.be.closeTo(51, 1e-9)
    clock.advance(MINUTE)
    expect(rep.reward('p', 1000)).to.be.closeTo(52, 1e-9)
  })

  it('never rewards beyond 100', () => {
    const rep = new ReputationTracker({ now: clock.now, config: { rewardPointsPerSuccess: 10, rewardMaxPointsPerMinute: 100 } })
    expect(rep.reward('p', 8)).to.equal(100)
  })

  it('recovers toward neutral with time, never above it', () => {
    const rep = new ReputationTracker({ now: clock.now })
    rep.penalize('p', 'malformed_cell')
    rep.penalize('p', 'malformed_cell')
    expect(rep.score('p')).to.equal(30)
    clock.advance(5 * MINUTE)
    expect(rep.score('p')).to.be.closeTo(35, 1e-9)
    clock.advance(HOUR)
    expect(rep.score('p')).to.equal(50)
  })

  it('does not decay a score above neutral', () => {
    const rep = new ReputationTracker({ now: clock.now, config: { rewardPointsPerSuccess: 1, rewardMaxPointsPerMinute: 100 } })
    rep.reward('p', 20)
    clock.advance(24 * HOUR)
    expect(rep.score('p')).to.equal(70)
  })

  it('maps scores to tiers at the configured boundaries', () => {
    const rep = new ReputationTracker({ now: clock.now })
    expect([0, 30, 30.5, 31, 69, 70, 100].map(s => rep.tierOf(s)))
      .to.deep.equal(['low', 'low', 'neutral', 'neutral', 'neutral', 'high', 'high'])
    expect(TIER_WEIGHTS.map(t => rep.weightOfTier(t))).to.deep.equal([0.1, 1, 2])
    const custom = new ReputationTracker({ now: clock.now, config: { tiers: { lowMaxScore: 40, highMinScore: 60, highWeight: 3 } } })
    expect([40, 41, 60].map(s => custom.tierOf(s))).to.deep.equal(['low', 'neutral', 'high'])
    expect(custom.weightOfTier('high')).to.equal(3)
  })

  it('reports each tier change once, including one caused by time', () => {
    const rep = new ReputationTracker({ now: clock.now })
    const changes: string[] = []
    rep.onTierChange((peer, from, to) => changes.push(`${peer}:${from}->${to}`))
    rep.penalize('p', 'malformed_cell')
    expect(changes).to.deep.equal([])
    rep.penalize('p', 'malformed_cell')
    expect(changes).to.deep.equal(['p:neutral->low'])
    expect(rep.weight('p')).to.equal(0.1)
    clock.advance(MINUTE / 2)
    expect(rep.weight('p')).to.equal(1)
    expect(changes).to.deep.equal(['p:neutral->low', 'p:low->neutral'])
  })

  it('bans at the threshold, not above it', () => {
    const penalties = { ...DEFAULT_PENALTIES, bad_signature: 39, handshake_failure: 40 }
    const rep = new ReputationTracker({ now: clock.now, config: { penalties } })
    const bans: Array<[string, number]> = []
    rep.onBan((peer, until) => bans.push([peer, until]))
    rep.penalize('above', 'bad_signature')
    expect(rep.score('above')).to.equal(11)
    expect(rep.isBanned('above')).to.equal(false)
    rep.penalize('at', 'handshake_failure')
    expect(rep.score('at')).to.equal(10)
    expect(rep.isBanned('at')).to.equal(true)
    expect(bans).to.deep.equal([['at', clock.now() + HOUR]])
  })

  it('expires a ban by the clock and resumes from scoreAfterBan', () => {
    const rep = new ReputationTracker({ now: clock.now })
    for (let i = 0; i < 3; i++) rep.penalize('p', 'bad_signature')
    expect(rep.isBanned('p')).to.equal(true)
    expect(rep.score('p')).to.equal(5)
    clock.advance(HOUR - 1)
    expect(rep.isBanned('p')).to.equal(true)
    expect(rep.score('p'), 'frozen while banned').to.equal(5)
    clock.advance(1)
    expect(rep.isBanned('p')).to.equal(false)
    expect(rep.score('p')).to.equal(20)
    clock.advance(10 * MINUTE)
    expect(rep.score('p')).to.be.closeTo(30, 1e-9)
  })

  it('ignores penalties and rewards while banned', () => {
    const rep = new ReputationTracker({ now: clock.now })
    const bans: string[] = []
    rep.onBan(peer => bans.push(peer))
    for (let i = 0; i < 3; i++) rep.penalize('p', 'bad_signature')
    rep.penalize('p', 'bad_signature')
    rep.reward('p', 1000)
    expect(rep.score('p')).to.equal(5)
    expect(bans).to.deep.equal(['p'])
  })

  it('bans on operator request and notifies listeners', () => {
    const rep = new ReputationTracker({ now: clock.now })
    const bans: Array<[string, number]> = []
    rep.onBan((peer, until) => bans.push([peer, until]))
    rep.ban('p', 5 * MINUTE)
    expect(rep.bannedUntil('p')).to.equal(clock.now() + 5 * MINUTE)
    expect(bans).to.deep.equal([['p', clock.now() + 5 * MINUTE]])
    clock.advance(5 * MINUTE)
    expect(rep.isBanned('p')).to.equal(false)
    expect(rep.score('p')).to.equal(50)
  })

  it('stops calling a listener after unsubscribe', () => {
    const rep = new ReputationTracker({ now: clock.now })
    let calls = 0
    const off = rep.onViolation(() => { calls++ })
    rep.penalize('p', 'protocol_misuse')
    off()
    rep.penalize('p', 'protocol_misuse')
    expect(calls).to.equal(1)
  })

  it('keeps the tracked-peer map bounded under 100,000 distinct peers', () => {
    const rep = new ReputationTracker({ now: clock.now })
    for (let i = 0; i < 100_000; i++) {
      rep.penalize(`peer-${i}`, 'handshake_failure')
      clock.advance(1)
    }
    expect(rep.size).to.be.at.most(DEFAULT_MAX_TRACKED_PEERS)
    expect(rep.size).to.be.at.least(DEFAULT_MAX_TRACKED_PEERS * 0.9)
    // Least recently seen went first among equally scored peers.
    expect(rep.exportRecord('peer-99999')).to.not.equal(undefined)
    expect(rep.exportRecord('peer-0')).to.equal(undefined)
  })

  it('evicts peers closest to neutral first and banned peers last', () => {
    const rep = new ReputationTracker({ now: clock.now, config: { maxTrackedPeers: 20 } })
    for (let i = 0; i < 5; i++) rep.ban(`banned-${i}`)
    for (let i = 0; i < 5; i++) rep.penalize(`bad-${i}`, 'malformed_cell')
    for (let i = 0; i < 1000; i++) rep.reward(`fresh-${i}`)
    const tracked = new Set(rep.peersSummary().map(row => row.peer))
    expect(rep.size).to.be.at.most(20)
    for (let i = 0; i < 5; i++) {
      expect(tracked.has(`banned-${i}`)).to.equal(true)
      expect(tracked.has(`bad-${i}`)).to.equal(true)
    }
  })

  it('evicts banned peers only when nothing else is left, soonest-ending ban first', () => {
    const rep = new ReputationTracker({ now: clock.now, config: { maxTrackedPeers: 3 } })
    rep.ban('a', 3 * HOUR)
    rep.ban('b', 1 * HOUR)
    rep.ban('c', 2 * HOUR)
    rep.penalize('d', 'protocol_misuse')
    const tracked = rep.peersSummary().map(row => row.peer).sort()
    expect(tracked).to.deep.equal(['a', 'c', 'd'])
  })

  it('summarises score, tier and ban end per peer, lowest first', () => {
    const rep = new ReputationTracker({ now: clock.now })
    for (let i = 0; i < 3; i++) rep.penalize('banned', 'bad_signature')
    rep.penalize('low', 'malformed_cell')
    rep.penalize('low', 'malformed_cell')
    rep.reward('good', 10)
    expect(rep.peersSummary()).to.deep.equal([
      { peer: 'banned', score: 5, tier: 'low', bannedUntil: clock.now() + HOUR },
      { peer: 'low', score: 30, tier: 'low', bannedUntil: null },
      { peer: 'good', score: 50.1, tier: 'neutral', bannedUntil: null }
    ])
  })

  it('round-trips a record through export and import', () => {
    const rep = new ReputationTracker({ now: clock.now })
    rep.penalize('p', 'bad_mac')
    const record = rep.exportRecord('p')
    const fresh = new ReputationTracker({ now: clock.now })
    expect(record).to.not.equal(undefined)
    expect(fresh.importRecord('p', record ?? assertNever())).to.equal(true)
    expect(fresh.score('p')).to.equal(42)
    expect(fresh.importRecord('p', { ...record ?? assertNever(), score: 1 })).to.equal(false)
    expect(fresh.score('p')).to.equal(42)
  })
})

const TIER_WEIGHTS: Tier[] = ['low', 'neutral', 'high']

function assertNever (): never {
  throw new Error('unreachable')
}
