import { join } from 'node:path'
import { expect } from 'chai'
import { LevelDatastore } from 'datastore-level'
import { PeerCachingDatastore } from '../../src/peer-datastore.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

type Key = Parameters<LevelDatastore['get']>[0]
/** The datastore only ever prints a key. */
const key = (text: string): Key => ({ toString: () => text }) as unknown as Key
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)
const text = (value: Uint8Array): string => new TextDecoder().decode(value)

async function notFound (p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    return (err as Error).name
  }
  return 'found'
}

describe('libp2p datastore with the peer store cached (PeerCachingDatastore)', () => {
  let dir: string
  let store: PeerCachingDatastore

  beforeEach(async () => {
    dir = await makeTempDir('peer-datastore')
    store = new PeerCachingDatastore(join(dir, 'ds'), 3)
    await store.open()
  })

  afterEach(async () => {
    await store.close().catch(() => {})
    await removeTempDir(dir)
  })

  it('serves a peer entry it wrote from memory, and LevelDB holds the same', async () => {
    await store.put(key('/peers/a'), bytes('one'))
    expect(text(await store.get(key('/peers/a')))).to.equal('one')
    expect(store.hits).to.equal(1)
    expect(store.misses).to.equal(0)
    await store.close()
    const plain = new LevelDatastore(join(dir, 'ds'))
    await plain.open()
    expect(text(await plain.get(key('/peers/a')))).to.equal('one')
    await plain.close()
  })

  it('remembers an absent peer, and forgets it when the peer is written', async () => {
    expect(await notFound(store.get(key('/peers/b')))).to.equal('NotFoundError')
    expect(await notFound(store.get(key('/peers/b')))).to.equal('NotFoundError')
    expect(store.misses).to.equal(1)
    expect(store.hits).to.equal(1)
    expect(await store.has(key('/peers/b'))).to.equal(false)
    await store.put(key('/peers/b'), bytes('two'))
    expect(await store.has(key('/peers/b'))).to.equal(true)
    expect(text(await store.get(key('/peers/b')))).to.equal('two')
    await store.delete(key('/peers/b'))
    expect(await notFound(store.get(key('/peers/b')))).to.equal('NotFoundError')
  })

  it('a batch replaces and deletes cached entries', async () => {
    await store.put(key('/peers/a'), bytes('old'))
    await store.put(key('/peers/c'), bytes('gone'))
    const batch = store.batch()
    batch.put(key('/peers/a'), bytes('new'))
    batch.delete(key('/peers/c'))
    await batch.commit()
    expect(text(await store.get(key('/peers/a')))).to.equal('new')
    expect(await notFound(store.get(key('/peers/c')))).to.equal('NotFoundError')
  })

  it('a read that overlaps a write does not cache what it read', async () => {
    await store.put(key('/peers/a'), bytes('old'))
    await store.close()
    store = new PeerCachingDatastore(join(dir, 'ds'), 3)
    await store.open()
    // the read misses, finds the old value in LevelDB, and is answered only after the write is done
    const db = store.db as unknown as { get: (k: string) => Promise<Uint8Array | undefined> }
    const get = db.get.bind(db)
    db.get = async (k) => {
      const value = await get(k)
      await new Promise(resolve => setTimeout(resolve, 50))
      return value
    }
    const reading = store.get(key('/peers/a'))
    const writing = store.put(key('/peers/a'), bytes('new'))
    await writing
    expect(text(await reading)).to.equal('old')
    db.get = get
    expect(text(await store.get(key('/peers/a')))).to.equal('new')
  })

  it('holds at most its bound, the least recently used going first; LevelDB still answers for them', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) await store.put(key(`/peers/${name}`), bytes(name))
    expect(store.cachedEntries).to.equal(3)
    const misses = store.misses
    expect(text(await store.get(key('/peers/a')))).to.equal('a')
    expect(store.misses).to.equal(misses + 1)
    expect(text(await store.get(key('/peers/e')))).to.equal('e')
    expect(store.misses).to.equal(misses + 1)
  })

  it('leaves other keys (DHT records) to LevelDB alone', async () => {
    await store.put(key('/dht/record/x'), bytes('r'))
    expect(text(await store.get(key('/dht/record/x')))).to.equal('r')
    expect(store.cachedEntries).to.equal(0)
    expect(store.hits + store.misses).to.equal(0)
  })
})
