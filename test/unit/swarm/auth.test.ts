import { chmod, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ed25519 } from '@noble/curves/ed25519.js'
import { expect } from 'chai'
import { AuthOp, MailboxKey, authMessage, checkAuth, formatMailbox, parseMailbox, verifyAuth } from '../../../src/swarm/auth.js'
import { deleteAllBody, deleteBody, retrieveBody } from '../../../src/swarm/exit/client-ops.js'
import { SwarmExitOp, decodeSwarmExitRequest, signedFieldsOf } from '../../../src/swarm/exit/exit-protocol.js'
import { readMailboxKeyFile, writeMailboxKeyFile } from '../../../src/swarm/key-file.js'
import { BadSignatureError, InvalidMailboxKeyError, StaleTimestampError } from '../../../src/swarm/service-errors.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

const NOW = 1_700_000_000_000

function signedRequest (body: Uint8Array): { fields: ReturnType<typeof signedFieldsOf>, signature: Uint8Array } {
  const req = decodeSwarmExitRequest(body)
  if (req.op === SwarmExitOp.STORE) throw new Error('not a signed request')
  return { fields: signedFieldsOf(req), signature: req.signature }
}

describe('swarm/auth', () => {
  const key = MailboxKey.generate()

  it('accepts a retrieve, delete and delete-all signed by the mailbox key', () => {
    for (const body of [
      retrieveBody(key, { timestamp: NOW, cursor: Uint8Array.of(1, 2, 3) }),
      deleteBody(key, [new Uint8Array(32).fill(1)], { timestamp: NOW, namespace: -4 }),
      deleteAllBody(key, { timestamp: NOW }),
      deleteAllBody(key, { timestamp: NOW, namespace: 3 })
    ]) {
      const { fields, signature } = signedRequest(body)
      expect(() => { checkAuth(fields, signature, NOW) }).to.not.throw()
    }
  })

  it('refuses a request signed by another key', () => {
    const other = MailboxKey.generate()
    const { fields } = signedRequest(retrieveBody(key, { timestamp: NOW }))
    const signature = other.sign(authMessage(fields))
    expect(() => { checkAuth(fields, signature, NOW) }).to.throw(BadSignatureError)
  })

  it('refuses a signature with one bit flipped, and one over another operation or cursor', () => {
    const { fields, signature } = signedRequest(retrieveBody(key, { timestamp: NOW }))
    const flipped = signature.slice()
    flipped[10] ^= 1
    expect(() => { checkAuth(fields, flipped, NOW) }).to.throw(BadSignatureError)
    expect(() => { checkAuth({ ...fields, op: AuthOp.DELETE_ALL }, signature, NOW) }).to.throw(BadSignatureError)
    expect(() => { checkAuth({ ...fields, payload: Uint8Array.of(9) }, signature, NOW) }).to.throw(BadSignatureError)
    expect(() => { checkAuth({ ...fields, namespace: 1 }, signature, NOW) }).to.throw(BadSignatureError)
  })

  it('refuses a timestamp 61 s old or 61 s ahead, and accepts 59 s', () => {
    for (const skew of [-61_000, 61_000]) {
      const { fields, signature } = signedRequest(retrieveBody(key, { timestamp: NOW + skew }))
      expect(() => { checkAuth(fields, signature, NOW) }).to.throw(StaleTimestampError)
    }
    const { fields, signature } = signedRequest(retrieveBody(key, { timestamp: NOW - 59_000 }))
    expect(() => { checkAuth(fields, signature, NOW) }).to.not.throw()
  })

  it('agrees with @noble/ed25519 on signatures (node:crypto signs, noble verifies and vice versa)', () => {
    const msg = authMessage({ op: AuthOp.RETRIEVE, mailbox: key.publicKey, namespace: 0, timestamp: NOW, payload: new Uint8Array(0) })
    expect(ed25519.verify(key.sign(msg), msg, key.publicKey)).to.equal(true)
    const seed = key.exportSeed()
    expect(formatMailbox(ed25519.getPublicKey(seed))).to.equal(formatMailbox(key.publicKey))
    expect(verifyAuth(key.publicKey, msg, ed25519.sign(msg, seed))).to.equal(true)
  })

  it('never throws on a public key that is not a curve point', () => {
    const bogus = new Uint8Array(32).fill(0xff)
    expect(verifyAuth(bogus, Uint8Array.of(1), new Uint8Array(64))).to.equal(false)
  })

  it('parses mailboxes as 64 hex characters only', () => {
    expect(formatMailbox(parseMailbox(formatMailbox(key.publicKey).toUpperCase()))).to.equal(formatMailbox(key.publicKey))
    for (const bad of ['', 'zz', formatMailbox(key.publicKey).slice(2)]) expect(() => parseMailbox(bad)).to.throw(InvalidMailboxKeyError)
  })

  describe('key files', () => {
    let dir: string
    beforeEach(async () => { dir = await makeTempDir() })
    afterEach(async () => { await removeTempDir(dir) })

    it('writes 0600, reads back the same key, and refuses to overwrite without force', async () => {
      const path = join(dir, 'mailbox.key')
      await writeMailboxKeyFile(path, key)
      expect((await stat(path)).mode & 0o777).to.equal(0o600)
      expect(formatMailbox((await readMailboxKeyFile(path)).publicKey)).to.equal(formatMailbox(key.publicKey))
      const other = MailboxKey.generate()
      const err = await writeMailboxKeyFile(path, other).catch(e => e)
      expect(err).to.be.instanceOf(InvalidMailboxKeyError)
      expect(formatMailbox((await readMailboxKeyFile(path)).publicKey)).to.equal(formatMailbox(key.publicKey))
      await writeMailboxKeyFile(path, other, { force: true })
      expect(formatMailbox((await readMailboxKeyFile(path)).publicKey)).to.equal(formatMailbox(other.publicKey))
    })

    it('refuses a key file others can read', async () => {
      const path = join(dir, 'mailbox.key')
      await writeMailboxKeyFile(path, key)
      await chmod(path, 0o644)
      expect(await readMailboxKeyFile(path).catch(e => e)).to.be.instanceOf(InvalidMailboxKeyError)
    })
  })
})
