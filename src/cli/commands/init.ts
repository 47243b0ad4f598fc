import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Command } from 'commander'
import { DEFAULT_CONFIG_FILE_NAME } from '../../config/load.js'
import { renderConfigFile } from '../../config/render.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../../identity/key-file.js'
import { addNodeOptions, configFromOptions, type NodeOptions } from '../options.js'
import type { Output } from '../output.js'

export function initCommand (out: Output): Command {
  const cmd = new Command('init')
    .description('create the data directory, the identity key (0600) and a commented config file')
    .option('-f, --force', 'overwrite an existing config file (the identity key is never replaced)')
  addNodeOptions(cmd).action(async (opts: NodeOptions & { force?: boolean }) => {
    const { config } = configFromOptions(opts)
    const identity = await loadOrCreateIdentity(config.dataDir)
    out.line(`${identity.created ? 'created' : 'kept existing'} identity ${identity.path}`)
    out.line(`peer id: ${peerIdFromPrivateKey(identity.privateKey).toString()}`)
    const path = join(config.dataDir, DEFAULT_CONFIG_FILE_NAME)
    if (existsSync(path) && opts.force !== true) {
      out.line(`kept existing config ${path} (use --force to rewrite it)`)
      return
    }
    await writeFile(path, renderConfigFile(config, [
      'ghostnode configuration. Precedence: this file < GHOSTNODE_* environment < CLI flags.',
      'Comments are allowed. Every key is optional; see the README for the full reference.'
    ]), { mode: 0o644 })
    out.line(`wrote config ${path}`)
  })
  return cmd
}
