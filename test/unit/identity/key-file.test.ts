import { chmod, stat, writeFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { expect } from 'chai'
import { InsecureKeyFileError, InvalidKeyFileError } from '../../../src/identity/errors.js'
import { IDENTITY_FILE_NAME, loadIdentity, loadOrCreateIdentity } from '../../../src/identity/key-file.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

describe('identity key file', () => {
  let dir: string
  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => { await removeTempDir(dir) })

  it('creates an Ed25519 key with mode 0600 in a 0700 data dir on first start', async () => {
    const dataDir = join(dir, 'data')
    const identity = await loadOrCreateIdentity(dataDir)
    expect(identity.created).to.equal(true)
    expect(identity.privateKey.type).to.equal('Ed25519')
    expect((await stat(identity.path)).mode & 0o777).to.equal(0o600)
    expect((await stat(dataDir)).mode & 0o777).to.equal(0o700)
    expect(await readdir(dataDir)).to.deep.equal([IDENTITY_FILE_NAME]) // no temp file left behind
  })

  it('reuses the same key on later starts', async () => {
    const first = await loadOrCreateIdentity(dir)
    const second = await loadOrCreateIdentity(dir)
    expect(second.created).to.equal(false)
    expect(peerIdFromPrivateKey(second.privateKey).equals(peerIdFromPrivateKey(first.privateKey))).to.equal(true)
  })

  it('gives one key to concurrent first starts', async () => {
    const ids = await Promise.all([1, 2, 3, 4].map(async () => loadOrCreateIdentity(dir)))
    const peers = new Set(ids.map(i => peerIdFromPrivateKey(i.privateKey).toString()))
    expect(peers.size).to.equal(1)
  })

  it('refuses a world-readable key file', async () => {
    const { path } = await loadOrCreateIdentity(dir)
    await chmod(path, 0o644)
    try {
      await loadOrCreateIdentity(dir)
      expect.fail('should have refused')
    } catch (err) {
      expect(err).to.be.instanceOf(InsecureKeyFileError)
      expect((err as Error).message).to.contain('644').and.contain('chmod 600')
    }
  })

  it('refuses a group-readable key file', async () => {
    const { path } = await loadOrCreateIdentity(dir)
    await chmod(path, 0o640)
    await expectRejection(loadIdentity(dir), InsecureKeyFileError)
  })

  it('rejects a key file with garbage in it', async () => {
    await writeFile(join(dir, IDENTITY_FILE_NAME), 'not a key', { mode: 0o600 })
    await expectRejection(loadOrCreateIdentity(dir), InvalidKeyFileError)
  })

  it('reports no identity when none exists', async () => {
    expect(await loadIdentity(dir)).to.equal(undefined)
  })
})

async function expectRejection (promise: Promise<unknown>, type: new (...args: any[]) => Error): Promise<void> {
  try {
    await promise
  } catch (err) {
    expect(err).to.be.instanceOf(type)
    return
  }
  expect.fail(`expected ${type.name}`)
}
