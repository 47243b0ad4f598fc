import { Command } from 'commander'
import { readMailboxKeyFile } from '../../swarm/key-file.js'
import { formatMailbox } from '../../swarm/auth.js'
import { configFromOptions } from '../options.js'
import { addClientOptions, connectClient, explained, intOption, type ClientCommandOptions } from './send.js'
import type { RetrievedMessage } from '../../swarm/exit/exit-protocol.js'
import type { Output } from '../output.js'

/** Hashes per DELETE request (the exit's limit). */
const DELETE_BATCH = 1024

interface FetchOptions extends ClientCommandOptions { key: string, delete?: boolean, namespace?: string, maxBytes?: string, json?: boolean }

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
    .requiredOption('--key <file>', 'mailbox key file (from ghostnode keygen)')
    .option('--delete', 'delete the messages from the swarm once they are printed')
    .option('--namespace <n>', 'application namespace, -32768..32767', '0')
    .option('--max-bytes <n>', 'page size asked of the exit', '65536')
    .option('--json', 'print one JSON object per message')
  addClientOptions(cmd).action(async (opts: FetchOptions) => {
    const { config } = configFromOptions(opts)
    const key = await readMailboxKeyFile(opts.key)
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
          if (opts.json === true) {
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
