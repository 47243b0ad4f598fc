import { expect } from 'chai'
import { type ItemOutcome, WriteBatcher } from '../../../../src/swarm/store/write-batcher.js'

/** A commit the test finishes by hand, to hold the writer busy. */
function gate (): { promise: Promise<void>, open: () => void } {
  let open = (): void => {}
  const promise = new Promise<void>(resolve => { open = resolve })
  return { promise, open }
}

describe('swarm/write-batcher', () => {
  it('coalesces items enqueued in the same turn into one commit', async () => {
    const commits: number[][] = []
    const b = new WriteBatcher<number, number>({
      maxBatchItems: 100,
      commit: async (items) => {
        commits.push(items)
        return items.map(i => ({ ok: true, value: i * 2 }))
      }
    })
    const results = await Promise.all([1, 2, 3, 4].map(async i => b.enqueue(i)))
    expect(results).to.deep.equal([2, 4, 6, 8])
    expect(commits).to.deep.equal([[1, 2, 3, 4]])
  })

  it('collects items arriving during a commit into the next batch, up to the size cap', async () => {
    const commits: number[][] = []
    const first = gate()
    const b = new WriteBatcher<number, number>({
      maxBatchItems: 3,
      commit: async (items) => {
        commits.push(items)
        if (commits.length === 1) await first.promise
        return items.map(i => ({ ok: true, value: i }))
      }
    })
    const p1 = b.enqueue(0)
    await new Promise(resolve => setImmediate(resolve))
    expect(commits).to.deep.equal([[0]])
    const rest = [1, 2, 3, 4, 5].map(async i => b.enqueue(i))
    expect(b.pending).to.equal(5)
    first.open()
    await Promise.all([p1, ...rest])
    expect(commits).to.deep.equal([[0], [1, 2, 3], [4, 5]])
  })

  it('keeps exclusive tasks in order between batches', async () => {
    const log: string[] = []
    const b = new WriteBatcher<string, void>({
      maxBatchItems: 10,
      commit: async (items) => {
        log.push(`batch:${items.join(',')}`)
        return items.map(() => ({ ok: true, value: undefined }))
      }
    })
    const done = [
      b.enqueue('a'),
      b.exclusive(async () => { log.push('task') }),
      b.enqueue('b')
    ]
    await Promise.all(done)
    expect(log).to.deep.equal(['batch:a', 'task', 'batch:b'])
  })

  it('fails only the items whose outcome is an error', async () => {
    const b = new WriteBatcher<number, number>({
      maxBatchItems: 10,
      commit: async (items) => items.map((i): ItemOutcome<number> => i % 2 === 0 ? { ok: true, value: i } : { ok: false, error: new Error(`odd ${i}`) })
    })
    const settled = await Promise.allSettled([0, 1, 2].map(async i => b.enqueue(i)))
    expect(settled.map(s => s.status)).to.deep.equal(['fulfilled', 'rejected', 'fulfilled'])
  })

  it('rejects every item of a batch whose commit throws, and carries on', async () => {
    let calls = 0
    const b = new WriteBatcher<number, number>({
      maxBatchItems: 10,
      commit: async (items) => {
        if (calls++ === 0) throw new Error('disk full')
        return items.map(i => ({ ok: true, value: i }))
      }
    })
    const settled = await Promise.allSettled([1, 2].map(async i => b.enqueue(i)))
    expect(settled.map(s => s.status)).to.deep.equal(['rejected', 'rejected'])
    expect(await b.enqueue(3)).to.equal(3)
  })

  it('resolves idle only after queued work has finished', async () => {
    const g = gate()
    let finished = false
    const b = new WriteBatcher<number, number>({
      maxBatchItems: 10,
      commit: async (items) => {
        await g.promise
        finished = true
        return items.map(i => ({ ok: true, value: i }))
      }
    })
    const p = b.enqueue(1)
    const idle = b.idle().then(() => finished)
    g.open()
    expect(await idle).to.equal(true)
    await p
    await b.idle()
  })

  it('prefetches the next batch while the previous one writes, and closes it to newcomers', async () => {
    const log: string[] = []
    const writeGate = gate()
    const b = new WriteBatcher<number, number, string>({
      maxBatchItems: 2,
      prefetch: async (items) => {
        log.push(`prefetch:${items.join(',')}`)
        return items.join('+')
      },
      commit: async (items, prefetched, writing) => {
        const pre = prefetched === undefined ? 'none' : await prefetched
        log.push(`commit:${items.join(',')} with ${pre}`)
        writing()
        if (items[0] === 1) await writeGate.promise
        return items.map(i => ({ ok: true, value: i }))
      }
    })
    const first = [1, 2, 3].map(async i => b.enqueue(i))
    await new Promise(resolve => setImmediate(resolve))
    expect(log).to.deep.equal(['commit:1,2 with none', 'prefetch:3'])
    const late = b.enqueue(4)
    writeGate.open()
    await Promise.all([...first, late])
    expect(log).to.deep.equal(['commit:1,2 with none', 'prefetch:3', 'commit:3 with 3', 'prefetch:4', 'commit:4 with 4'])
  })
})
