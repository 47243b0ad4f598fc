import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { GhostnodeError } from '../../../src/errors.js'
import { describeFinding, fuzz, replayCorpus, type FuzzTarget } from '../../../fuzz/harness.js'
import { TARGETS } from '../../../fuzz/run.js'

// A fixed seed keeps the short run reproducible; `node dist/fuzz/run.js` explores with random seeds.
const SHORT_RUNS = 3000
const SEED = 0x6f6e696f

describe('fuzz (short run)', () => {
  for (const target of TARGETS) {
    const runs = target.shortRuns ?? SHORT_RUNS
    it(`finds no crash, hang or state growth in ${target.name} over ${runs} inputs`, async () => {
      const report = await fuzz(target, { runs, seed: SEED, saveFindings: false })
      expect(report.runs).to.equal(runs)
      expect(report.findings.map(describeFinding)).to.deep.equal([])
      // Mutations must both get past the parsers and be rejected by them, or the run explores nothing.
      expect(report.accepted, 'accepted inputs').to.be.greaterThan(0)
      expect(report.typedErrors, 'rejected inputs').to.be.greaterThan(0)
    })

    it(`replays the saved ${target.name} corpus without a finding`, async () => {
      const findings = await replayCorpus(target)
      expect(findings.map(describeFinding)).to.deep.equal([])
    })
  }

  describe('harness', () => {
    let dir: string

    beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'ghostnode-fuzz-')) })
    afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

    it('saves an untyped error as a finding and replays it', async () => {
      const buggy: FuzzTarget = {
        name: 'buggy',
        seeds: () => [new Uint8Array(8)],
        run (input) {
          if (input.length > 8) throw new RangeError('out of bounds')
          if (input.length < 8) throw new GhostnodeError('short', 'ERR_SHORT')
        }
      }
      const report = await fuzz(buggy, { runs: 500, seed: 1, corpusDir: dir })
      expect(report.findings.length).to.be.greaterThan(0)
      expect(report.findings.every(f => f.kind === 'crash' && f.error instanceof RangeError)).to.equal(true)
      expect(report.typedErrors).to.be.greaterThan(0)
      const saved = await readdir(join(dir, 'buggy'))
      expect(saved.sort()).to.deep.equal(report.findings.map(f => `${f.sha}.bin`).sort())
      expect(await replayCorpus(buggy, dir)).to.have.length(saved.length)
    })

    it('reports an input slower than the bound as a hang', async () => {
      const slow: FuzzTarget = {
        name: 'slow',
        seeds: () => [Uint8Array.of(1)],
        async run () { await new Promise(resolve => setTimeout(resolve, 50)) }
      }
      const report = await fuzz(slow, { runs: 2, seed: 1, hangMs: 10, saveFindings: false })
      expect(report.findings.length).to.be.greaterThan(0)
      expect(report.findings[0].kind).to.equal('hang')
    })
  })
})
