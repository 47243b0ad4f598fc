import { access, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Command } from 'commander'
import { GhostnodeError } from '../../errors.js'
import { readMailboxKeyFile } from '../../swarm/key-file.js'
import { formatMailbox } from '../../swarm/auth.js'
import { configFromOptions } from '../options.js'
import { addClientOptions, connectClient, explained, intOption, type ClientCommandOptions } from './send.js'
import { DEFAULT_MAILBOX_KEY_FILE } from './keygen.js'
import type { RetrievedMessage } from '../../swarm/exit/exit-protocol.js'
import type { Output } from '../output.js'

/** Hashes per DELETE request (the exit's limit). */
const DELETE_BATCH = 1024

interface FetchOptions extends ClientCommandOptions { key?: string, out?: string, delete?: boolean, namespace?: string, maxBytes?: string, json?: boolean }

/** No --key, and no key where keygen writes one by default. */
export class NoMailboxKeyError extends GhostnodeError {
  constructor (path: string) {
    super(`no mailbox key: pass --key <file>, or create ${path} with "ghostnode keygen"`, 'ERR_NO_MAILBOX_KEY')
  }
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/** The message as text when it is printable UTF-8, else base64 (marked). */
function render (data: Uint8Array): string {
  try {
    const text = decoder.decode(data)
    // eslint-disable-next-line no-control-regex
    if (!/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return text
  } catch {}
  return `base64:${Buffer.from(data).toString('base64')}`
}

export function fetchCommand (out: Output): Command {
  const cmd = new Command('fetch')
    .description('retrieve the messages of your mailbox through a 3-hop circuit (requests signed with your key)')
    .option('--key <file>', `mailbox key file (default <data-dir>/${DEFAULT_MAILBOX_KEY_FILE}, where ghostnode keygen writes it)`)
    .option('--out <dir>', 'write each message to <dir>/<timestamp>-<hash>.bin (raw bytes) instead of printing it')
    .option('--delete', 'delete the messages from the swarm once they are printed')
    .option('--namespace <n>', 'application namespace, -32768..32767', '0')
    .option('--max-bytes <n>', 'page size asked of the exit', '65536')
    .option('--json', 'print one JSON object per message')
  addClientOptions(cmd).action(async (opts: FetchOptions) => {
    const { config } = configFromOptions(opts)
    let keyPath = opts.key
    if (keyPath == null) {
      keyPath = join(config.dataDir, DEFAULT_MAILBOX_KEY_FILE)
      if (!await access(keyPath).then(() => true, () => false)) throw new NoMailboxKeyError(keyPath)
    }
    const key = await readMailboxKeyFile(keyPath)
    if (opts.out != null) await mkdir(opts.out, { recursive: true, mode: 0o700 })
    const namespace = intOption('namespace', opts.namespace, 0, -0x8000, 0x7fff)
    const maxBytes = intOption('max-bytes', opts.maxBytes, 65_536, 1, 16 * 1024 * 1024)
    const client = await connectClient(opts, config)
    try {
      const messages: RetrievedMessage[] = []
      let cursor: Uint8Array | undefined
      do {
        const page = await explained(client.retrieve(key, { namespace, maxBytes, ...(cursor !== undefined ? { cursor } : {}) }))
        for (const m of page.messages) {
          messages.push(m)
          const hash = Buffer.from(m.hash).toString('hex')
          if (opts.out != null) {
            const file = join(opts.out, `${new Date(m.timestamp).toISOString().replaceAll(':', '-')}-${hash.slice(0, 16)}.bin`)
            await writeFile(file, m.data, { mode: 0o600 })
            out.line(opts.json === true ? JSON.stringify({ timestamp: m.timestamp, expiry: m.expiry, hash, file }) : `${new Date(m.timestamp).toISOString()} ${hash.slice(0, 16)} ${m.data.byteLength} bytes -> ${file}`)
          } else if (opts.json === true) {
            out.line(JSON.stringify({ timestamp: m.timestamp, expiry: m.expiry, hash, data: Buffer.from(m.data).toString('base64') }))
          } else {
            out.line(`${new Date(m.timestamp).toISOString()} ${hash.slice(0, 16)} ${render(m.data)}`)
          }
        }
        cursor = page.cursor
      } while (cursor !== undefined)
      if (opts.json !== true) out.line(`${messages.length} message(s) in mailbox ${formatMailbox(key.publicKey)}`)
      if (opts.delete === true && messages.length > 0) {
        let deleted = 0
        for (let i = 0; i < messages.length; i += DELETE_BATCH) {
          deleted += await explained(client.delete(key, messages.slice(i, i + DELETE_BATCH).map(m => m.hash), { namespace }))
        }
        if (opts.json !== true) out.line(`deleted ${deleted} message(s)`)
      }
    } finally {
      await client.stop()
    }
  })
  return cmd
}
