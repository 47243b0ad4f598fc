import { chmod, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { defaultLogger } from '@libp2p/logger'
import { expect } from 'chai'
import { InvalidOnionOptionError } from '../../../src/onion/errors.js'
import { ONION_KEY_FILE_NAME, OnionKeyManager, type OnionKeyManagerInit } from '../../../src/onion/onion-keys.js'
import { DEFAULT_ONION_EPOCH_MS, DEFAULT_ONION_GRACE_MS } from '../../../src/wire/onion-format.js'
import { InsecureOnionKeyFileError, InvalidOnionKeyFileError, OnionKeysNotLoadedError } from '../../../src/directory/record-errors.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'
import { FakeClock } from '../../helpers/fake-clock.js'
import type { OnionKey } from '../../../src/crypto/x25519.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** Midnight UTC, so epoch boundaries fall on whole days of the fake clock. */
const START = 19_675 * DAY

function hex (key: OnionKey): string {
  return Buffer.from(key.publicKey).toString('hex')
}

describe('onion key manager', () => {
  let dir: string
  let clock: FakeClock
  const managers: OnionKeyManager[] = []

  function manager (init: Partial<OnionKeyManagerInit> = {}): OnionKeyManager {
    const m = new OnionKeyManager({ logger: defaultLogger() }, { dataDir: dir, now: clock.now, ...init })
    managers.push(m)
    return m
  }

  beforeEach(async () => {
    dir = await makeTempDir()
    clock = new FakeClock(START + 5 * HOUR)
  })
  afterEach(async () => {
    for (const m of managers.splice(0)) m.stop()
    await removeTempDir(dir)
  })

  it('defaults to a 24 h epoch and a 2 h grace period', () => {
    const m = manager()
    expect(m.epochMs).to.equal(DEFAULT_ONION_EPOCH_MS).and.equal(DAY)
    expect(m.graceMs).to.equal(DEFAULT_ONION_GRACE_MS).and.equal(2 * HOUR)
  })

  it('creates the key of the current epoch on start', async () => {
    const m = manager()
    await m.start()
    expect(m.current().epoch).to.equal(19_675)
    expect(m.current().publicKey).to.have.length(32)
    expect(m.keysForCreate().map(k => k.epoch)).to.deep.equal([19_675])
    expect(m.acceptedUntil(19_675)).to.equal(START + DAY + 2 * HOUR)
  })

  it('refuses to hand out keys before start', () => {
    expect(() => manager().current()).to.throw(OnionKeysNotLoadedError)
  })

  it('rotates at the epoch boundary and keeps the previous key only for the grace period', async () => {
    const m = manager()
    const rotated: number[] = []
    const expired: number[] = []
    m.onRotate(k => rotated.push(k.epoch))
    m.onExpire(e => expired.push(e))
    await m.start()
    const first = m.current()

    clock.set(START + DAY - 1)
    await m.rotateIfDue()
    expect(m.current().epoch).to.equal(19_675)

    clock.set(START + DAY)
    await m.rotateIfDue()
    const second = m.current()
    expect(second.epoch).to.equal(19_676)
    expect(hex(second)).not.to.equal(hex(first))
    expect(m.keysForCreate().map(k => k.epoch)).to.deep.equal([19_676, 19_675])

    clock.set(START + DAY + 2 * HOUR - 1)
    await m.rotateIfDue()
    expect(m.keysForCreate().map(k => k.epoch)).to.deep.equal([19_676, 19_675])
    expect(expired).to.deep.equal([])

    clock.set(START + DAY + 2 * HOUR)
    expect(m.keysForCreate().map(k => k.epoch)).to.deep.equal([19_676]) // no longer offered, even before the tick
    await m.rotateIfDue()
    expect(expired).to.deep.equal([19_675])
    expect(rotated).to.deep.equal([19_675, 19_676])
  })

  it('writes the key file with mode 0600 and no temp file left behind', async () => {
    await manager().start()
    expect((await stat(join(dir, ONION_KEY_FILE_NAME))).mode & 0o777).to.equal(0o600)
    expect(await readdir(dir)).to.deep.equal([ONION_KEY_FILE_NAME])
    expect(await readFile(join(dir, ONION_KEY_FILE_NAME), 'utf8')).to.match(/"epochMs":86400000/)
  })

  it('refuses a world-readable key file', async () => {
    await manager().start()
    await chmod(join(dir, ONION_KEY_FILE_NAME), 0o644)
    try {
      await manager().start()
      expect.fail('should have refused')
    } catch (err) {
      expect(err).to.be.instanceOf(InsecureOnionKeyFileError)
      expect((err as Error).message).to.contain('644').and.contain('chmod 600')
    }
  })

  it('refuses a key file with garbage in it', async () => {
    await writeFile(join(dir, ONION_KEY_FILE_NAME), '{"version":1,"epochMs":86400000,"keys":[{"epoch":1,"privateKey":"AAAA"}]}', { mode: 0o600 })
    try {
      await manager().start()
      expect.fail('should have refused')
    } catch (err) {
      expect(err).to.be.instanceOf(InvalidOnionKeyFileError)
    }
  })

  it('keeps the same keys across a restart, including the previous one in its grace period', async () => {
    const a = manager()
    await a.start()
    clock.set(START + DAY + HOUR)
    await a.rotateIfDue()
    const before = a.keysForCreate().map(hex)
    a.stop()

    const b = manager()
    await b.start()
    expect(b.keysForCreate().map(hex)).to.deep.equal(before)
  })

  it('drops keys that expired while the node was down and reports them', async () => {
    const a = manager()
    await a.start()
    const old = hex(a.current())
    a.stop()

    clock.set(START + 3 * DAY)
    const b = manager()
    const expired: number[] = []
    b.onExpire(e => expired.push(e))
    await b.start()
    expect(expired).to.deep.equal([19_675])
    expect(b.keysForCreate().map(k => k.epoch)).to.deep.equal([19_678])
    expect(hex(b.current())).not.to.equal(old)
    const file = JSON.parse(await readFile(join(dir, ONION_KEY_FILE_NAME), 'utf8')) as { keys: Array<{ epoch: number }> }
    expect(file.keys.map(k => k.epoch)).to.deep.equal([19_678])
  })

  it('starts afresh when the epoch length changed', async () => {
    const a = manager()
    await a.start()
    const old = hex(a.current())
    a.stop()
    const b = manager({ epochMs: 12 * HOUR, graceMs: HOUR })
    await b.start()
    expect(b.current().epoch).to.equal(19_675 * 2)
    expect(hex(b.current())).not.to.equal(old)
  })

  it('stops listeners that unsubscribed', async () => {
    const m = manager()
    const seen: number[] = []
    const off = m.onRotate(k => seen.push(k.epoch))
    await m.start()
    off()
    clock.advance(DAY)
    await m.rotateIfDue()
    expect(seen).to.deep.equal([19_675])
  })

  it('rejects a grace period longer than the epoch', () => {
    expect(() => manager({ epochMs: HOUR, graceMs: 2 * HOUR })).to.throw(InvalidOnionOptionError)
  })
})
