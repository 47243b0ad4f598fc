import { execFileSync } from 'node:child_process'
import { chmodSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { loadConfig } from '../../../src/config/load.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))

/**
 * The compose testnet's one-shot setup (docker/testnet-init.mjs), run here
 * against temp dirs with `ghostnode` on the PATH: every node must name the
 * same three authorities, so the three containers form one admitted network.
 */
describe('docker/testnet-init.mjs (compose testnet setup)', function () {
  this.timeout(60_000)
  let dir: string

  beforeEach(async () => { dir = await makeTempDir() })
  afterEach(async () => { await removeTempDir(dir) })

  it('writes each node a bootstrap list and the same network of three authorities, which its loader accepts', () => {
    const bin = join(dir, 'bin')
    mkdirSync(bin)
    const shim = join(bin, 'ghostnode')
    writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'bin/ghostnode.js')}" "$@"\n`)
    chmodSync(shim, 0o755)
    const out = execFileSync(process.execPath, [join(ROOT, 'docker/testnet-init.mjs')], {
      encoding: 'utf8',
      env: { PATH: `${bin}:${process.env.PATH ?? ''}`, TESTNET_ROOT: dir, TESTNET_UID: String(process.getuid?.() ?? 0), TESTNET_GID: String(process.getgid?.() ?? 0) }
    })
    const ids = [...out.matchAll(/^(node\d) (\S+) bootstrap/gm)].map(m => ({ name: m[1], peerId: m[2] }))
    expect(ids.map(i => i.name)).to.deep.equal(['node1', 'node2', 'node3'])
    for (const { name, peerId } of ids) {
      const { config } = loadConfig({ env: {}, flags: { dataDir: join(dir, name) } })
      expect(config.network.authorities.map(a => a.split('/p2p/')[1]).sort()).to.deep.equal(ids.map(i => i.peerId).sort())
      expect(config.network.authorityThreshold).to.equal(0) // a majority: 2 of 3
      expect(config.network.allowPrivateAddresses).to.equal(true)
      expect(config.bootstrap).to.have.length(2)
      expect(config.bootstrap.some(b => b.endsWith(peerId))).to.equal(false)
    }
  })
})
