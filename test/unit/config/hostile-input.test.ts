import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { InvalidConfigTypeError, UnknownConfigKeyError } from '../../../src/config/errors.js'
import { stripJsonComments } from '../../../src/config/jsonc.js'
import { loadConfig, parseConfigText } from '../../../src/config/load.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

// Regressions found by the config-file fuzz target (fuzz/corpus/config-file replays the inputs).
describe('config file: hostile input', () => {
  let dir: string

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => { await removeTempDir(dir) })

  for (const key of ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf']) {
    it(`rejects a top-level "${key}" key as unknown`, async () => {
      const file = join(dir, 'c.json')
      await writeFile(file, `{ "${key}": { "polluted": true } }`)
      expect(() => loadConfig({ configFile: file, env: {} })).to.throw(UnknownConfigKeyError, `"${key}"`)
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
    })
  }

  it('rejects a prototype-named key given as a flag', () => {
    expect(() => loadConfig({ env: {}, flags: { toString: '1' } })).to.throw(UnknownConfigKeyError, 'toString')
  })

  it('names a value nested deeper than the stack instead of overflowing it', () => {
    const depth = 100_000
    const text = `{ "listen": ${'['.repeat(depth)}${']'.repeat(depth)} }`
    expect(() => parseConfigText(text, 'deep.json')).to.throw(InvalidConfigTypeError, /"listen" has value an array of 1/)
  })

  it('prints an out-of-range number literally', () => {
    expect(() => parseConfigText('{ "http": { "port": 1e400 } }', 'huge.json')).to.throw(InvalidConfigTypeError, 'has value Infinity')
  })

  it('keeps ",}" and ",]" inside strings while dropping trailing commas', () => {
    const text = '{ "a": "x,}", "b": ["y,]", /* c */ ], "c": { "d": 1, // e\n }, }'
    expect(JSON.parse(stripJsonComments(text))).to.deep.equal({ a: 'x,}', b: ['y,]'], c: { d: 1 } })
    expect(parseConfigText('{ "dataDir": "/tmp/a,}" }', 'comma.json')).to.deep.equal([['dataDir', '/tmp/a,}']])
  })

  it('keeps a comma whose lookahead runs into an unterminated comment', () => {
    expect(stripJsonComments('[1, /* open')).to.equal('[1, ')
  })
})
