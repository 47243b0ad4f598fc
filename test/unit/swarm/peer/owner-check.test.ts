import { expect } from 'chai'
import { MailboxKey, authMessage, deleteAllFields, deleteFields, retrieveFields } from '../../../../src/swarm/auth.js'
import { OwnerCheck } from '../../../../src/swarm/peer/owner-check.js'
import { SwarmOp, type DeleteAllRequest, type DeleteRequest, type GetRequest } from '../../../../src/swarm/peer/protocol.js'
import { BadSignatureError, ReplayedRequestError, StaleTimestampError } from '../../../../src/swarm/service-errors.js'

const T0 = 1_700_000_000_000
const WINDOW = 60_000

describe('swarm/owner-check: members act only on what owners signed', () => {
  const owner = MailboxKey.generate()
  const thief = MailboxKey.generate()
  const mailbox = owner.publicKey
  const hash = new Uint8Array(32).fill(4)
  let now: number
  let check: OwnerCheck

  const get = (timestamp: number, signer = owner): GetRequest =>
    ({ op: SwarmOp.GET, mailbox, namespace: 0, maxBytes: 1000, auth: { timestamp, signature: signer.sign(authMessage(retrieveFields(mailbox, 0, timestamp))) } })
  const del = (timestamp: number, signer = owner): DeleteRequest =>
    ({ op: SwarmOp.DELETE, mailbox, namespace: 0, hashes: [hash], auth: { timestamp, signature: signer.sign(authMessage(deleteFields(mailbox, 0, timestamp, [hash]))) } })
  const delAll = (timestamp: number): DeleteAllRequest =>
    ({ op: SwarmOp.DELETE_ALL, mailbox, auth: { timestamp, signature: owner.sign(authMessage(deleteAllFields(mailbox, undefined, timestamp))) } })

  beforeEach(() => {
    now = T0
    check = new OwnerCheck({ now: () => now, windowMs: WINDOW })
  })

  it('accepts a read its owner signed, once: the replay is refused', () => {
    const req = get(T0 - 1_000)
    check.check(req, false)
    expect(() => { check.check(req, true) }).to.throw(ReplayedRequestError)
  })

  it('refuses a read or delete signed by another key, or with a signature bit flipped', () => {
    expect(() => { check.check(get(T0, thief), true) }).to.throw(BadSignatureError)
    expect(() => { check.check(del(T0, thief), true) }).to.throw(BadSignatureError)
    const flipped = get(T0 + 1)
    flipped.auth.signature[10] ^= 1
    expect(() => { check.check(flipped, true) }).to.throw(BadSignatureError)
    // a signature over other fields (another namespace) does not carry over
    const moved = { ...get(T0 + 2), namespace: 1 }
    expect(() => { check.check(moved, true) }).to.throw(BadSignatureError)
  })

  it('refuses a stale read even from a swarm member', () => {
    expect(() => { check.check(get(T0 - WINDOW - 1), true) }).to.throw(StaleTimestampError)
    expect(() => { check.check(get(T0 + WINDOW + 1), true) }).to.throw(StaleTimestampError)
  })

  it('a delete past the window is accepted only as one passed on by a swarm member, and still verified', () => {
    const old = del(T0 - 3_600_000)
    expect(() => { check.check(old, false) }).to.throw(StaleTimestampError)
    check.check(old, true)
    // passed on twice is harmless (it removes only what was stored by its time) and accepted
    check.check(old, true)
    check.check(delAll(T0 - 3_600_000), true)
    const forged = del(T0 - 3_600_000, thief)
    expect(() => { check.check(forged, true) }).to.throw(BadSignatureError)
    // a delete dated in the future is never "passed on"
    expect(() => { check.check(del(T0 + WINDOW + 1), true) }).to.throw(StaleTimestampError)
  })

  it('forgets a signature once its timestamp has left the window (the window check refuses it then)', () => {
    const req = del(T0)
    check.check(req, false)
    expect(() => { check.check(req, false) }).to.throw(ReplayedRequestError)
    now = T0 + WINDOW + 1
    expect(() => { check.check(req, false) }).to.throw(StaleTimestampError)
  })
})
