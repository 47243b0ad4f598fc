import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { DEFAULT_CONFIG } from '../../../src/config/defaults.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

/** `Key=value` lines of the [Service] section (repeated keys keep every value). */
function serviceSection (text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let inService = false
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('[')) inService = line === '[Service]'
    if (!inService || line === '' || line.startsWith('#') || !line.includes('=')) continue
    const eq = line.indexOf('=')
    out.set(line.slice(0, eq), [...(out.get(line.slice(0, eq)) ?? []), line.slice(eq + 1)])
  }
  return out
}

describe('packaging/systemd/ghostnode.service', () => {
  const unit = serviceSection(readFileSync(join(ROOT, 'packaging', 'systemd', 'ghostnode.service'), 'utf8'))
  const one = (key: string): string | undefined => unit.get(key)?.[0]

  it('starts the executable (so its #! line gives V8 its flags), reloads with HUP and stops with TERM', () => {
    expect(one('ExecStart')).to.equal('/usr/bin/ghostnode start')
    expect(one('ExecReload')).to.equal('/bin/kill -HUP $MAINPID')
    expect(one('KillSignal')).to.equal('SIGTERM')
    expect(Number(one('TimeoutStopSec'))).to.be.greaterThan(DEFAULT_CONFIG.shutdownTimeoutMs / 1000)
  })

  it('is hardened and may write its data dir only', () => {
    expect(one('NoNewPrivileges')).to.equal('yes')
    expect(one('ProtectSystem')).to.equal('strict')
    expect(one('ReadWritePaths')).to.equal('/var/lib/ghostnode')
    expect(one('Environment')).to.equal('GHOSTNODE_DATA_DIR=/var/lib/ghostnode')
    expect(one('CapabilityBoundingSet')).to.equal('')
    expect(one('UMask')).to.equal('0077')
    expect(unit.has('MemoryDenyWriteExecute'), 'V8 needs W+X memory').to.equal(false)
  })

  it('sets MemoryMax above memory.maxRssBytes, so the node sheds load before the kernel kills it', () => {
    const m = /^(\d+)M$/.exec(one('MemoryMax') ?? '')
    expect(m, 'MemoryMax in MiB').to.not.equal(null)
    expect(Number(m?.[1]) * 1024 * 1024).to.be.greaterThan(DEFAULT_CONFIG.memory.maxRssBytes)
  })
})
