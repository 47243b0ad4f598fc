import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import { computeConsensus } from '../../../src/membership/consensus.js'
import { DocumentKind, MemberFlag } from '../../../src/membership/constants.js'
import {
  assembleDocument, decodeDocument, encodeDocumentBody, normalizeAuthorities, sha256, signDocumentBody, verifyConsensus, verifyVote,
  type DocumentBody, type MemberEntry
} from '../../../src/membership/document.js'
import {
  DocumentExpiredError, DocumentNotYetValidError, ForeignNetworkError, MalformedDocumentError, TooFewSignaturesError
} from '../../../src/membership/errors.js'
import { MembershipView } from '../../../src/membership/view.js'
import { TestAuthority } from '../../helpers/membership.js'
import type { PrivateKey } from '@libp2p/interface'

const NOW = 1_800_000_000_000

async function member (flags: number = MemberFlag.RELAY, addrs = ['/ip4/203.0.113.7/tcp/4001']): Promise<MemberEntry> {
  const key = await generateKeyPair('Ed25519')
  return { peerId: peerIdFromPrivateKey(key).toString(), key: key.publicKey.raw, recordHash: sha256(key.publicKey.raw), flags, addrs: addrs.map(a => multiaddr(a)) }
}

describe('membership/document', () => {
  let authorities: PrivateKey[]
  let keys: Uint8Array[]

  before(async () => {
    authorities = await Promise.all([1, 2, 3].map(async () => generateKeyPair('Ed25519')))
    keys = normalizeAuthorities(authorities.map(a => a.publicKey.raw))
  })

  const indexOf = (a: PrivateKey): number => keys.findIndex(k => Buffer.from(k).equals(Buffer.from(a.publicKey.raw)))

  async function vote (voter: PrivateKey, members: MemberEntry[], period = 7): Promise<Uint8Array> {
    const body = encodeDocumentBody({ kind: DocumentKind.VOTE, period, validAfter: NOW, validUntil: NOW + 60_000, threshold: 2, authorities: keys, voter: indexOf(voter), members })
    return assembleDocument(body, [{ index: indexOf(voter), signature: await signDocumentBody(body, voter) }])
  }

  async function sign (body: DocumentBody, signers: PrivateKey[]): Promise<Uint8Array> {
    const encoded = encodeDocumentBody(body)
    return assembleDocument(encoded, await Promise.all(signers.map(async s => ({ index: indexOf(s), signature: await signDocumentBody(encoded, s) }))))
  }

  it('round-trips a document canonically: members sorted, every field kept', async () => {
    const members = await Promise.all([member(), member(MemberFlag.RELAY | MemberFlag.SWARM), member(0xf, [])])
    const bytes = await sign({ kind: DocumentKind.CONSENSUS, period: 3, validAfter: NOW, validUntil: NOW + 1, threshold: 2, authorities: keys, members }, authorities)
    const doc = decodeDocument(bytes)
    expect(doc.members.map(m => m.peerId)).to.deep.equal([...members].sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key))).map(m => m.peerId))
    expect(doc.members.find(m => m.peerId === members[1].peerId)?.flags).to.equal(MemberFlag.RELAY | MemberFlag.SWARM)
    expect(doc.members.find(m => m.peerId === members[0].peerId)?.addrs.map(String)).to.deep.equal(['/ip4/203.0.113.7/tcp/4001'])
    expect(assembleDocument(doc.body, doc.signatures)).to.deep.equal(bytes)
  })

  it('refuses truncations, trailing bytes and unsorted members with a typed error, never a RangeError', async () => {
    const bytes = await sign({ kind: DocumentKind.CONSENSUS, period: 3, validAfter: NOW, validUntil: NOW + 1, threshold: 2, authorities: keys, members: [await member()] }, authorities.slice(0, 2))
    for (let cut = 0; cut < bytes.byteLength; cut += 7) expect(() => decodeDocument(bytes.subarray(0, cut))).to.throw(MalformedDocumentError)
    expect(() => decodeDocument(Uint8Array.of(...bytes, 0))).to.throw(MalformedDocumentError)
    // a member count the bytes cannot hold is refused before anything is allocated for it
    const huge = bytes.slice()
    const at = 2 + 8 * 3 + 2 + 32 * 3
    new DataView(huge.buffer).setUint32(at, 0xffffffff)
    expect(() => decodeDocument(huge)).to.throw(MalformedDocumentError, /member count/)
  })

  it('needs k valid signatures of trusted authorities; extra or unknown signers add nothing', async () => {
    const body: DocumentBody = { kind: DocumentKind.CONSENSUS, period: 1, validAfter: NOW, validUntil: NOW + 1, threshold: 2, authorities: keys, members: [] }
    const trust = { authorities: keys, threshold: 2 }
    expect(verifyConsensus(decodeDocument(await sign(body, authorities.slice(0, 2))), trust)).to.have.length(2)
    const single = decodeDocument(await sign(body, authorities.slice(0, 1)))
    expect(() => verifyConsensus(single, trust)).to.throw(TooFewSignaturesError)
    // a signature moved to another document does not count
    const other = decodeDocument(await sign({ ...body, period: 2 }, authorities.slice(0, 1)))
    const one = decodeDocument(await sign(body, authorities.slice(1, 2)))
    const spliced = decodeDocument(assembleDocument(one.body, [...one.signatures, ...other.signatures].sort((a, b) => a.index - b.index)))
    expect(() => verifyConsensus(spliced, trust)).to.throw(TooFewSignaturesError)
    // another network's authorities, however many sign, are not ours
    const strangers = await Promise.all([1, 2].map(async () => generateKeyPair('Ed25519')))
    const theirKeys = normalizeAuthorities(strangers.map(s => s.publicKey.raw))
    const theirs = encodeDocumentBody({ ...body, authorities: theirKeys })
    const signed = assembleDocument(theirs, await Promise.all(strangers.map(async s => ({
      index: theirKeys.findIndex(k => Buffer.from(k).equals(Buffer.from(s.publicKey.raw))), signature: await signDocumentBody(theirs, s)
    }))))
    expect(() => verifyConsensus(decodeDocument(signed), trust)).to.throw(ForeignNetworkError)
  })

  it('computes the same consensus from the same votes in any order: k votes make a member, k grants make a flag', async () => {
    const [x, y, z] = await Promise.all([member(0xf), member(0xf), member(0xf)])
    const ySwarmless = { ...y, flags: MemberFlag.RELAY | MemberFlag.GUARD }
    const votes = [await vote(authorities[0], [x, y, z]), await vote(authorities[1], [x, ySwarmless]), await vote(authorities[2], [x])]
    for (const v of votes) verifyVote(decodeDocument(v), { authorities: keys, threshold: 2 })
    const a = encodeDocumentBody(computeConsensus(votes.map(decodeDocument))!)
    const b = encodeDocumentBody(computeConsensus([...votes].reverse().map(decodeDocument))!)
    expect(a).to.deep.equal(b)
    const doc = decodeDocument(assembleDocument(a, []))
    expect(doc.members.map(m => m.peerId).sort()).to.deep.equal([x.peerId, y.peerId].sort())
    expect(doc.members.find(m => m.peerId === y.peerId)?.flags).to.equal(MemberFlag.RELAY | MemberFlag.GUARD)
    expect(computeConsensus([decodeDocument(votes[2])])).to.equal(undefined) // one vote of k = 2
  })

  describe('view', () => {
    it('adopts newer documents only, drops an expired one, and reports who joined and left', async () => {
      const authority = await TestAuthority.create(3, 2)
      let now = NOW
      const view = new MembershipView({ trust: authority.trust(), policy: { allowPrivate: false }, now: () => now })
      const changes: Array<{ added: string[], removed: string[] }> = []
      view.addEventListener('change', (e) => changes.push({ added: e.detail.added, removed: e.detail.removed }))
      const [a, b] = await Promise.all([member(), member(MemberFlag.RELAY, ['/ip4/127.0.0.1/tcp/1', '/unix/%2Ftmp%2Fx.sock'])])
      const first = await authority.document([a, b], now, { validMs: 10_000 })
      const second = await authority.document([b], now, { validMs: 10_000 })
      expect(view.accept(second)).to.equal('adopted')
      expect(view.accept(first)).to.equal('stale') // an older period never replaces a newer one
      expect(view.members().map(m => m.peerId)).to.deep.equal([b.peerId])
      // the document lists them, but loopback and /unix never pass this network's address policy
      expect(view.dialableAddrs(b.peerId)).to.deep.equal([])
      now += 10_001
      expect(view.expire()).to.equal(true)
      expect(view.size).to.equal(0)
      expect(changes).to.deep.equal([{ added: [b.peerId], removed: [] }, { added: [], removed: [b.peerId] }])
      expect(() => view.accept(first)).to.throw(DocumentExpiredError)
    })

    it('ignores a document signed by fewer than k authorities and one from the future, counting each', async () => {
      const authority = await TestAuthority.create(3, 2)
      const reasons: string[] = []
      const view = new MembershipView({ trust: authority.trust(), policy: { allowPrivate: false }, now: () => NOW, onReject: (r) => reasons.push(r) })
      expect(() => view.accept(new Uint8Array(0))).to.throw(MalformedDocumentError)
      const short = await authority.document([await member()], NOW, { signers: 1 })
      expect(() => view.accept(short)).to.throw(TooFewSignaturesError)
      const future = await authority.document([await member()], NOW + 3_600_000)
      expect(() => view.accept(future)).to.throw(DocumentNotYetValidError)
      expect(view.size).to.equal(0)
      expect(reasons).to.deep.equal(['malformed', 'too_few_signatures', 'not_yet_valid'])
    })

    it('without pinned authorities, trusts the first document\'s list with at least a majority, then keeps it', async () => {
      const authority = await TestAuthority.create(3, 1)
      const view = new MembershipView({ policy: { allowPrivate: false }, now: () => NOW })
      // threshold 1 in the document, but a client trusting on first use asks for a majority
      const one = await authority.document([await member()], NOW, { signers: 1 })
      expect(() => view.accept(one)).to.throw(TooFewSignaturesError)
      expect(view.accept(await authority.document([await member()], NOW, { signers: 2 }))).to.equal('adopted')
      const other = await TestAuthority.create(3, 2)
      for (let i = 0; i < 3; i++) await other.document([], NOW) // a later period than the one in force
      const foreign = await other.document([await member()], NOW)
      expect(() => view.accept(foreign)).to.throw(ForeignNetworkError)
    })
  })
})
