import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { GhostnodeError } from '../../../src/errors.js'
import { fuzz, replayCorpus, StateBoundError, type FuzzTarget } from '../../../fuzz/harness.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

describe('fuzz harness: stateful targets', () => {
  let dir: string

  beforeEach(async () => { dir = await makeTempDir('ghostnode-fuzz-') })
  afterEach(async () => { await removeTempDir(dir) })

  /** Holds one more entry for every input that starts with an odd byte, and never frees any. */
  function leaky (bound: number): FuzzTarget & { held: number } {
    return {
      name: 'leaky',
      held: 0,
      stateBounds: { held: bound },
      seeds: () => [Uint8Array.of(1, 2, 3), Uint8Array.of(2, 3, 4)],
      async setUp () { this.held = 0 },
      run (input) { if ((input[0] ?? 0) % 2 === 1) this.held++ },
      state () { return { held: this.held } }
    }
  }

  it('reports state growing past its bound once, with the input that pushed it over', async () => {
    const target = leaky(10)
    const report = await fuzz(target, { runs: 2_000, seed: 7, corpusDir: dir })
    expect(target.held).to.be.greaterThan(11)
    expect(report.findings).to.have.length(1)
    const [finding] = report.findings
    expect(finding.kind).to.equal('growth')
    expect(finding.error).to.be.instanceOf(StateBoundError)
    expect((finding.error as StateBoundError).exceeded).to.deep.equal([{ key: 'held', value: 11, bound: 10 }])
    expect(finding.input[0] % 2).to.equal(1)
    expect(await readdir(join(dir, 'leaky'))).to.deep.equal([`${finding.sha}.bin`])
    expect(report.statePeak?.held).to.equal(target.held)
  })

  it('reports nothing for state that stays within its bound, and gives its peak', async () => {
    let live = 0
    const bounded: FuzzTarget = {
      name: 'bounded',
      stateBounds: { live: 4 },
      seeds: () => [Uint8Array.of(0)],
      run (input) { live = input.length % 5 },
      state: () => ({ live })
    }
    const report = await fuzz(bounded, { runs: 2_000, seed: 7, saveFindings: false })
    expect(report.findings).to.deep.equal([])
    expect(report.statePeak).to.deep.equal({ live: 4 })
  })

  it('replays a saved input whose state leak it reproduces', async () => {
    // leaks on every input, so the single saved input shows the leak on its own
    let leaked = 0
    const perInput: FuzzTarget = {
      name: 'per-input',
      stateBounds: { leaked: 0 },
      seeds: () => [Uint8Array.of(5)],
      async setUp () { leaked = 0 },
      run () { leaked++ },
      state: () => ({ leaked })
    }
    const report = await fuzz(perInput, { runs: 50, seed: 3, corpusDir: dir })
    expect(report.findings.map(f => f.kind)).to.deep.equal(['growth'])
    const replayed = await replayCorpus(perInput, dir)
    expect(replayed.map(f => f.kind)).to.deep.equal(['growth'])
  })

  it('sets a target up before its first input and tears it down after its last, even after a crash', async () => {
    const calls: string[] = []
    const target: FuzzTarget = {
      name: 'lifecycle',
      seeds: () => [Uint8Array.of(1)],
      async setUp () { calls.push('setUp') },
      async tearDown () { calls.push('tearDown') },
      run (input) {
        calls.push('run')
        if (input.length > 3) throw new RangeError('boom')
        if (input.length === 0) throw new GhostnodeError('empty', 'ERR_EMPTY')
      }
    }
    const report = await fuzz(target, { runs: 200, seed: 11, saveFindings: false })
    expect(report.findings.length).to.be.greaterThan(0)
    expect(calls[0]).to.equal('setUp')
    expect(calls.at(-1)).to.equal('tearDown')
    expect(calls.filter(c => c === 'run')).to.have.length(200)
    expect(calls.filter(c => c !== 'run')).to.deep.equal(['setUp', 'tearDown'])
  })

  it('reports a promise rejection nobody handled as a crash of the input that caused it', async () => {
    const target: FuzzTarget = {
      name: 'stray',
      seeds: () => [Uint8Array.of(1, 2)],
      async run (input) {
        // work started and forgotten, as `void promise` does in a wire handler
        if (input.length === 7) void Promise.reject(new RangeError('late failure'))
        await new Promise(resolve => setImmediate(resolve))
      }
    }
    const report = await fuzz(target, { runs: 300, seed: 9, saveFindings: false })
    expect(report.findings.length).to.be.greaterThan(0)
    for (const f of report.findings) {
      expect(f.kind).to.equal('crash')
      expect(f.error).to.be.instanceOf(RangeError)
      expect(f.input.length).to.equal(7)
    }
  })

  it('mixes the target\'s own mutations in and keeps inputs within its size limit', async () => {
    const MARK = 0xab
    let marked = 0
    let longest = 0
    const target: FuzzTarget = {
      name: 'structured',
      maxInputBytes: 64,
      seeds: () => [new Uint8Array(60)],
      mutate: (_rng, input) => Uint8Array.of(MARK, ...input, ...input),
      run (input) {
        longest = Math.max(longest, input.length)
        if (input[0] === MARK) marked++
      }
    }
    await fuzz(target, { runs: 500, seed: 5, saveFindings: false })
    expect(marked).to.be.greaterThan(0)
    expect(longest).to.equal(64)
  })
})
