import { join } from 'node:path'
import { Command } from 'commander'
import { formatMailbox, MailboxKey } from '../../swarm/auth.js'
import { writeMailboxKeyFile } from '../../swarm/key-file.js'
import { ensureDataDir } from '../../identity/data-dir.js'
import { addCommonOptions, configFromOptions, type CommonOptions } from '../options.js'
import type { Output } from '../output.js'

export const DEFAULT_MAILBOX_KEY_FILE = 'mailbox.key'

interface KeygenOptions extends CommonOptions { out?: string, force?: boolean, json?: boolean }

export function keygenCommand (out: Output): Command {
  const cmd = new Command('keygen')
    .description('create a mailbox key (Ed25519) in a 0600 file and print its public key, the mailbox address senders use')
    .option('-o, --out <file>', `key file to write (default <data-dir>/${DEFAULT_MAILBOX_KEY_FILE})`)
    .option('--force', 'replace an existing key file')
    .option('--json', 'print JSON')
  addCommonOptions(cmd).action(async (opts: KeygenOptions) => {
    let path = opts.out
    if (path == null) {
      const { config } = configFromOptions(opts)
      await ensureDataDir(config.dataDir)
      path = join(config.dataDir, DEFAULT_MAILBOX_KEY_FILE)
    }
    const key = MailboxKey.generate()
    await writeMailboxKeyFile(path, key, { force: opts.force === true })
    const publicKey = formatMailbox(key.publicKey)
    if (opts.json === true) {
      out.line(JSON.stringify({ publicKey, keyFile: path }))
      return
    }
    out.line(`public key: ${publicKey}`)
    out.line(`key file: ${path} (mode 0600; keep it private: it reads and deletes this mailbox)`)
  })
  return cmd
}
