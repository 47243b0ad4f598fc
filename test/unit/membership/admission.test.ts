import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import { judgeAddress } from '../../../src/membership/address-policy.js'
import { runAdmission, type AdmissionPolicy, type CandidateRecord } from '../../../src/membership/admission.js'
import { emptyPolicy, type AuthorityStateFile } from '../../../src/membership/authority-files.js'
import { MemberFlag } from '../../../src/membership/constants.js'
import { sha256 } from '../../../src/membership/document.js'

const NOW = 1_800_000_000_000
const HOUR = 3_600_000
const ALL = MemberFlag.RELAY | MemberFlag.EXIT | MemberFlag.SWARM

async function record (addr: string, capabilities = ALL): Promise<CandidateRecord> {
  const key = await generateKeyPair('Ed25519')
  return { peerId: peerIdFromPrivateKey(key).toString(), key: key.publicKey.raw, recordHash: sha256(key.publicKey.raw), capabilities, addrs: [multiaddr(addr)] }
}

const POLICY: AdmissionPolicy = {
  address: { allowPrivate: false },
  probationMs: HOUR,
  maxPer24: 2,
  maxPer16: 3,
  maxNewPerHour: 10,
  dropAfterMs: HOUR / 2,
  allowlistOnly: false
}

describe('membership/admission', () => {
  let self: CandidateRecord
  let state: AuthorityStateFile

  beforeEach(async () => {
    self = await record('/ip4/198.51.100.1/tcp/4001')
    state = { version: 1, peers: {}, admissions: [] }
  })

  /** Marks a candidate as reachable at its record's addresses since `since`. */
  function reachable (r: CandidateRecord, since: number, at = NOW): void {
    state.peers[r.peerId] = { ...state.peers[r.peerId], firstSeen: since, lastReachable: at, reachable: r.addrs.map(String) }
  }

  function round (records: CandidateRecord[], overrides: Partial<AdmissionPolicy> = {}, lists = emptyPolicy(), now = NOW): ReturnType<typeof runAdmission> {
    return runAdmission({ now, self, authorities: new Set([self.peerId]), records: new Map(records.map(r => [r.peerId, r])), state, lists, policy: { ...POLICY, ...overrides } })
  }

  const flagsOf = (res: ReturnType<typeof runAdmission>, peer: string): number | undefined => res.members.find(m => m.peerId === peer)?.flags

  it('admits a reachable relay as a middle hop at once, and as guard, exit and swarm member only after probation', async () => {
    const r = await record('/ip4/203.0.113.10/tcp/4001')
    reachable(r, NOW)
    const first = round([r])
    expect(first.admitted).to.deep.equal([r.peerId])
    expect(flagsOf(first, r.peerId)).to.equal(MemberFlag.RELAY)
    expect(flagsOf(first, self.peerId)).to.equal(ALL | MemberFlag.GUARD)
    reachable(r, NOW, NOW + HOUR)
    expect(flagsOf(round([r], {}, emptyPolicy(), NOW + HOUR), r.peerId)).to.equal(ALL | MemberFlag.GUARD)
  })

  it('refuses what has not answered, and drops a member that stops answering', async () => {
    const silent = await record('/ip4/203.0.113.11/tcp/4001')
    expect(round([silent]).refused.get(silent.peerId)).to.equal('unreachable')
    const r = await record('/ip4/203.0.113.12/tcp/4001')
    reachable(r, NOW)
    round([r])
    // probed since it last answered, and that probe failed
    state.peers[r.peerId].lastProbe = NOW + HOUR - 1
    const later = round([r], {}, emptyPolicy(), NOW + HOUR)
    expect(later.dropped).to.deep.equal([r.peerId])
    expect(flagsOf(later, r.peerId)).to.equal(undefined)
    expect(state.peers[r.peerId]).to.equal(undefined) // it starts over, probation included
  })

  it('keeps a member its own probes fell behind on (no probe since its last answer), up to three drop times', async () => {
    const r = await record('/ip4/203.0.113.13/tcp/4001')
    reachable(r, NOW)
    state.peers[r.peerId].lastProbe = NOW
    round([r])
    // twice the drop time without a probe: kept, with the addresses it answered on
    const behind = round([r], {}, emptyPolicy(), NOW + HOUR)
    expect(behind.dropped).to.deep.equal([])
    expect(flagsOf(behind, r.peerId)).to.not.equal(undefined)
    expect(behind.members.find(m => m.peerId === r.peerId)?.addrs.map(String)).to.deep.equal(r.addrs.map(String))
    // three drop times without a probe: dropped all the same
    expect(round([r], {}, emptyPolicy(), NOW + 1.5 * HOUR).dropped).to.deep.equal([r.peerId])
  })

  it('a new candidate needs an answer within the drop time, whatever the backlog', async () => {
    const r = await record('/ip4/203.0.113.14/tcp/4001')
    reachable(r, NOW - HOUR, NOW - HOUR)
    expect(round([r]).refused.get(r.peerId)).to.equal('unreachable')
  })

  it('caps members per /24 and per /16, counting the established first', async () => {
    const rs = await Promise.all([10, 11, 12].map(async i => record(`/ip4/203.0.113.${i}/tcp/4001`)))
    const other24 = await record('/ip4/203.0.114.1/tcp/4001')
    const third16 = await record('/ip4/203.0.115.1/tcp/4001')
    for (const [i, r] of [...rs, other24, third16].entries()) reachable(r, NOW - 10 + i)
    const res = round([...rs, other24, third16])
    expect(res.admitted).to.deep.equal([rs[0].peerId, rs[1].peerId, other24.peerId])
    expect(res.refused.get(rs[2].peerId)).to.equal('prefix_cap')
    expect(res.refused.get(third16.peerId)).to.equal('prefix_cap') // 203.0/16 holds 3
  })

  it('admits at most maxNewPerHour new relays an hour', async () => {
    const rs = await Promise.all(Array.from({ length: 5 }, async (_, i) => record(`/ip4/${45 + i}.0.0.1/tcp/4001`)))
    rs.forEach((r, i) => { reachable(r, NOW - 10 + i) })
    const res = round(rs, { maxNewPerHour: 2 })
    expect(res.admitted).to.have.length(2)
    expect([...res.refused.values()]).to.deep.equal(['hourly_limit', 'hourly_limit', 'hourly_limit'])
    // an hour later the window has room again
    rs.forEach(r => { reachable(r, NOW, NOW + HOUR + 1) })
    expect(round(rs, { maxNewPerHour: 2 }, emptyPolicy(), NOW + HOUR + 1).admitted).to.have.length(2)
  })

  it('follows the operator: denied peers never, allowlisted ones past caps and probation, only them in allowlist mode', async () => {
    const [a, b, c] = await Promise.all([10, 11, 12].map(async i => record(`/ip4/203.0.113.${i}/tcp/4001`)))
    for (const r of [a, b, c]) reachable(r, NOW)
    const lists = { version: 1 as const, allow: [c.peerId], deny: [a.peerId] }
    const res = round([a, b, c], { maxPer24: 1, allowlistOnly: true }, lists)
    expect(res.refused.get(a.peerId)).to.equal('denied')
    expect(res.refused.get(b.peerId)).to.equal('not_allowlisted')
    expect(flagsOf(res, c.peerId)).to.equal(ALL | MemberFlag.GUARD)
  })

  it('judges addresses: no /unix, no loopback, private or unspecified unless the network allows it', () => {
    const strict = { allowPrivate: false }
    const lan = { allowPrivate: true }
    const verdict = (a: string, p = strict): string => judgeAddress(multiaddr(a), p)
    expect(verdict('/ip4/203.0.113.5/tcp/1')).to.equal('ok')
    expect(verdict('/ip6/2001:4860::1/tcp/1/ws')).to.equal('ok')
    expect(verdict('/dns4/relay.example.org/tcp/443/wss')).to.equal('ok')
    expect(verdict('/unix/%2Ftmp%2Fx.sock', lan)).to.equal('unsupported')
    expect(verdict('/ip4/127.0.0.1/tcp/1')).to.equal('loopback')
    expect(verdict('/dns/localhost/tcp/1')).to.equal('loopback')
    expect(verdict('/ip6/::1/tcp/1')).to.equal('loopback')
    for (const a of ['/ip4/10.1.2.3/tcp/1', '/ip4/192.168.1.1/tcp/1', '/ip4/172.20.0.1/tcp/1', '/ip4/169.254.1.1/tcp/1', '/ip4/100.64.0.1/tcp/1', '/ip6/fd00::1/tcp/1', '/ip6/fe80::1/tcp/1', '/ip6/::ffff:10.0.0.1/tcp/1']) {
      expect(verdict(a), a).to.equal('private')
    }
    expect(verdict('/ip4/0.0.0.0/tcp/1', lan)).to.equal('unspecified')
    expect(verdict('/ip4/127.0.0.1/tcp/1', lan)).to.equal('ok')
    expect(verdict('/ip4/10.1.2.3/udp/1/quic-v1', lan)).to.equal('unsupported')
  })
})
