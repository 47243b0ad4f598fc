import { createHash } from 'node:crypto'
import { expect } from 'chai'
import { DedupFilter, HashFilter } from '../../../../src/swarm/store/hash-filter.js'

const h = (i: number, seed = 'in'): Uint8Array => createHash('sha256').update(`${seed}${i}`).digest()

async function * source (hashes: Uint8Array[], gate?: Promise<void>): AsyncGenerator<Uint8Array> {
  for (const x of hashes) {
    if (gate !== undefined) await gate
    yield x
  }
}

describe('swarm/hash-filter', () => {
  it('never forgets an added hash and rarely claims an absent one', () => {
    const f = new HashFilter(20_000)
    for (let i = 0; i < 20_000; i++) f.add(h(i))
    for (let i = 0; i < 20_000; i++) expect(f.mightContain(h(i))).to.equal(true)
    let falsePositives = 0
    for (let i = 0; i < 20_000; i++) if (f.mightContain(h(i, 'out'))) falsePositives++
    // Sized for ~1% at capacity (10 bits, 7 probes); 2% leaves room for chance.
    expect(falsePositives / 20_000).to.be.below(0.02)
    expect(f.full).to.equal(false)
    f.add(h(-1))
    expect(f.full).to.equal(true)
  })

  it('answers "maybe" for everything until its first build completes', async () => {
    const d = new DedupFilter()
    expect(d.mightContain(h(1, 'never'))).to.equal(true)
    d.rebuild(100, () => source([h(1), h(2)]))
    await d.settled()
    expect(d.ready).to.equal(true)
    expect(d.mightContain(h(1))).to.equal(true)
    expect(d.mightContain(h(1, 'never'))).to.equal(false)
  })

  it('keeps hashes added while a rebuild is scanning', async () => {
    const d = new DedupFilter()
    d.rebuild(10, () => source([]))
    await d.settled()
    for (let i = 0; i < 11; i++) d.add(h(i))
    expect(d.needsRebuild).to.equal(true)
    let open = (): void => {}
    const gate = new Promise<void>(resolve => { open = resolve })
    // The scan's snapshot holds 0..10; 11 is written while it runs.
    d.rebuild(1000, () => source(Array.from({ length: 11 }, (_, i) => h(i)), gate))
    expect(d.needsRebuild).to.equal(false)
    d.add(h(11))
    open()
    await d.settled()
    for (let i = 0; i < 12; i++) expect(d.mightContain(h(i))).to.equal(true)
    expect(d.needsRebuild).to.equal(false)
  })

  it('abandons a build stopped mid-scan, keeps the previous filter and starts no other', async () => {
    const d = new DedupFilter()
    d.rebuild(10, () => source([h(1)]))
    await d.settled()
    let open = (): void => {}
    const gate = new Promise<void>(resolve => { open = resolve })
    d.rebuild(10, () => source([h(2), h(3)], gate))
    const stopped = d.stop()
    open()
    await stopped
    expect(d.mightContain(h(1))).to.equal(true)
    expect(d.mightContain(h(2))).to.equal(false)
    d.rebuild(10, () => source([h(2)]))
    await d.settled()
    expect(d.mightContain(h(2))).to.equal(false)
  })
})
