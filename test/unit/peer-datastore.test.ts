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
    store = new PeerCachingDatastore(join(dir, 'ds'), { maxEntries: 3 })
    await store.open()
  })

  afterEach(async () => {
    await store.close().catch(() => {})
    await removeTempDir(dir)
  })

  async function reopen (current: PeerCachingDatastore, options: ConstructorParameters<typeof PeerCachingDatastore>[1]): Promise<PeerCachingDatastore> {
    await current.close()
    const next = new PeerCachingDatastore(join(dir, 'ds'), options)
    await next.open()
    return next
  }

  /** What LevelDB itself holds under `k`, read after closing the store (which writes what is pending). */
  async function levelHolds (k: string): Promise<string | undefined> {
    await store.close()
    const plain = new LevelDatastore(join(dir, 'ds'))
    await plain.open()
    try {
      return text(await plain.get(key(k)))
    } catch {
      return undefined
    } finally {
      await plain.close()
      store = new PeerCachingDatastore(join(dir, 'ds'), { maxEntries: 3 })
      await store.open()
    }
  }

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
    store = new PeerCachingDatastore(join(dir, 'ds'), { maxEntries: 3 })
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
    await store.flush()
    expect(text(await store.get(key('/peers/a')))).to.equal('new')
  })

  it('holds at most its bound, the least recently used going first; LevelDB still answers for them', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) await store.put(key(`/peers/${name}`), bytes(name))
    expect(store.cachedEntries).to.equal(3)
    await store.flush()
    const misses = store.misses
    expect(text(await store.get(key('/peers/a')))).to.equal('a')
    expect(store.misses).to.equal(misses + 1)
    expect(text(await store.get(key('/peers/e')))).to.equal('e')
    expect(store.misses).to.equal(misses + 1)
  })

  it('writes a peer entry written many times once, its newest value, in one batch a moment later', async () => {
    store = await reopen(store, { maxEntries: 3, flushMs: 60_000 })
    for (let i = 0; i < 100; i++) await store.put(key('/peers/a'), bytes(`v${i}`))
    await store.put(key('/peers/b'), bytes('b'))
    expect(store.pendingEntries).to.equal(2)
    expect(text(await store.get(key('/peers/a')))).to.equal('v99')
    expect(await store.has(key('/peers/b'))).to.equal(true)
    await store.flush()
    expect(store.flushes).to.equal(1)
    expect(store.pendingEntries).to.equal(0)
    expect(await levelHolds('/peers/a')).to.equal('v99')
  })

  it('writes what is pending when it closes, and before a listing', async () => {
    store = await reopen(store, { flushMs: 60_000 })
    await store.put(key('/peers/x'), bytes('x'))
    const listed: string[] = []
    for await (const { key: k } of store.query({ prefix: '/peers/' })) listed.push(k.toString())
    expect(listed).to.deep.equal(['/peers/x'])
    await store.put(key('/peers/y'), bytes('y'))
    expect(await levelHolds('/peers/y')).to.equal('y')
  })

  it('a delete or a batch after a pending write is never undone by it', async () => {
    store = await reopen(store, { flushMs: 60_000 })
    await store.put(key('/peers/a'), bytes('a'))
    await store.delete(key('/peers/a'))
    await store.put(key('/peers/b'), bytes('b'))
    const batch = store.batch()
    batch.delete(key('/peers/b'))
    await batch.commit()
    await store.flush()
    expect(await notFound(store.get(key('/peers/a')))).to.equal('NotFoundError')
    expect(await notFound(store.get(key('/peers/b')))).to.equal('NotFoundError')
    expect(await levelHolds('/peers/a')).to.equal(undefined)
    expect(await levelHolds('/peers/b')).to.equal(undefined)
  })

  it('leaves other keys (DHT records) to LevelDB alone', async () => {
    await store.put(key('/dht/record/x'), bytes('r'))
    expect(text(await store.get(key('/dht/record/x')))).to.equal('r')
    expect(store.cachedEntries).to.equal(0)
    expect(store.hits + store.misses).to.equal(0)
  })
})
