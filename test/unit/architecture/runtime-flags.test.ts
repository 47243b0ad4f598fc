import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { missingRelayFlags, RELAY_NODE_FLAGS } from '../../../src/runtime-flags.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

describe('runtime flags: every way of starting a relay gives V8 the same flags', () => {
  const flags = RELAY_NODE_FLAGS.join(' ')

  it('the ghostnode executable passes them on its #! line (ghostnode start, Docker, systemd)', () => {
    const first = readFileSync(join(ROOT, 'bin', 'ghostnode.js'), 'utf8').split('\n')[0]
    expect(first).to.equal(`#!/usr/bin/env -S node ${flags}`)
  })

  it('npm start and bench:onion pass them on the node command line', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
    expect(scripts.start).to.equal(`node ${flags} bin/ghostnode.js start`)
    expect(scripts['bench:onion']).to.match(new RegExp(`^node ${flags} `))
  })

  it('the harness spawner and the plain baseline relays use the same list', () => {
    for (const file of ['harness/lib/ghostnode-process.ts', 'harness/baseline/plain-chain.ts']) {
      expect(readFileSync(join(ROOT, file), 'utf8'), file).to.include('process.execPath, ...RELAY_NODE_FLAGS,')
    }
  })

  it('tells which flags a process lacks, from its argv or NODE_OPTIONS, either spelling', () => {
    expect(missingRelayFlags([], undefined)).to.deep.equal([...RELAY_NODE_FLAGS])
    expect(missingRelayFlags(['--max-semi-space-size=4'], undefined)).to.deep.equal([])
    expect(missingRelayFlags(['--max_semi_space_size=8'], undefined)).to.deep.equal([])
    expect(missingRelayFlags([], '--enable-source-maps --max-semi-space-size=2')).to.deep.equal([])
    expect(missingRelayFlags(['--max-old-space-size=512'], '--trace-warnings')).to.deep.equal([...RELAY_NODE_FLAGS])
  })
})
