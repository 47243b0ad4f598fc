import { access, mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Command } from 'commander'
import { GhostnodeError } from '../../errors.js'
import { readMailboxKeyFile } from '../../swarm/key-file.js'
import { formatMailbox } from '../../swarm/auth.js'
import { configFromOptions } from '../options.js'
import { addClientOptions, connectClient, explained, intOption, type ClientCommandOptions } from './send.js'
import { DEFAULT_MAILBOX_KEY_FILE } from './keygen.js'
import { bytesToHex } from '../../wire/bytes.js'
import type { FetchedMessage } from '../../client/mailbox-client.js'
import type { Output } from '../output.js'

/** Hashes per DELETE request (the exit's limit). */
const DELETE_BATCH = 1024

interface FetchOptions extends ClientCommandOptions { key?: string, out?: string, delete?: boolean, follow?: boolean, namespace?: string, maxBytes?: string, json?: boolean }

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

/** One line (or JSON object) per message; `--out` writes the opened content to a file instead. */
async function show (out: Output, m: FetchedMessage, opts: FetchOptions): Promise<void> {
  const hash = bytesToHex(m.hash)
  const when = new Date(m.timestamp).toISOString()
  const sender = m.sender != null ? formatMailbox(m.sender) : undefined
  const tag = m.kind === 'raw' ? '[raw] ' : m.kind === 'unopenable' ? `[cannot open: ${m.error?.message ?? 'unknown'}] ` : sender != null ? `[from ${sender}] ` : ''
  if (opts.out != null && m.content != null) {
    const file = join(opts.out, `${when.replaceAll(':', '-')}-${hash.slice(0, 16)}.bin`)
    await writeFile(file, m.content, { mode: 0o600 })
    out.line(opts.json === true
      ? JSON.stringify({ timestamp: m.timestamp, expiry: m.expiry, hash, kind: m.kind, ...(sender != null ? { sender } : {}), file })
      : `${when} ${hash.slice(0, 16)} ${tag}${m.content.byteLength} bytes -> ${file}`)
    return
  }
  if (opts.json === true) {
    out.line(JSON.stringify({
      timestamp: m.timestamp,
      expiry: m.expiry,
      hash,
      kind: m.kind,
      ...(sender != null ? { sender } : {}),
      ...(m.content != null ? { data: Buffer.from(m.content).toString('base64') } : {}),
      ...(m.error != null ? { error: m.error.message } : {})
    }))
    return
  }
  out.line(`${when} ${hash.slice(0, 16)} ${tag}${m.content != null ? render(m.content) : ''}`.trimEnd())
}

export function fetchCommand (out: Output): Command {
  const cmd = new Command('fetch')
    .description('retrieve and open the messages of your mailbox through a 3-hop circuit (requests signed with your key)')
    .option('--key <file>', `mailbox key file (default <data-dir>/${DEFAULT_MAILBOX_KEY_FILE}, where ghostnode keygen writes it)`)
    .option('--out <dir>', 'write each message\'s content to <dir>/<timestamp>-<hash>.bin instead of printing it')
    .option('--delete', 'delete the messages from the swarm once they are printed')
    .option('--follow', 'after the messages already there, print new ones as they arrive (a signed long poll; Ctrl-C ends it)')
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
    const remove = async (hashes: Uint8Array[]): Promise<number> => {
      let deleted = 0
      for (let i = 0; i < hashes.length; i += DELETE_BATCH) deleted += await explained(client.delete(key, hashes.slice(i, i + DELETE_BATCH), { namespace }))
      return deleted
    }
    try {
      if (opts.follow === true) {
        const stop = new AbortController()
        const onSignal = (): void => { stop.abort() }
        process.once('SIGINT', onSignal)
        process.once('SIGTERM', onSignal)
        try {
          for await (const m of client.subscribe(key, { namespace, signal: stop.signal, onRetry: (err) => { out.error(`subscription interrupted, resuming: ${err.message}`) } })) {
            await show(out, m, opts)
            if (opts.delete === true) await remove([m.hash])
          }
        } finally {
          process.off('SIGINT', onSignal)
          process.off('SIGTERM', onSignal)
        }
        return
      }
      const messages: FetchedMessage[] = []
      let cursor: Uint8Array | undefined
      do {
        const page = await explained(client.fetch(key, { namespace, maxBytes, ...(cursor !== undefined ? { cursor } : {}) }))
        for (const m of page.messages) {
          messages.push(m)
          await show(out, m, opts)
        }
        cursor = page.cursor
      } while (cursor !== undefined)
      if (opts.json !== true) {
        const unopenable = messages.filter(m => m.kind === 'unopenable').length
        out.line(`${messages.length} message(s) in mailbox ${formatMailbox(key.publicKey)}${unopenable > 0 ? ` (${unopenable} could not be opened with this key)` : ''}`)
      }
      if (opts.delete === true && messages.length > 0) {
        const deleted = await remove(messages.map(m => m.hash))
        if (opts.json !== true) out.line(`deleted ${deleted} message(s)`)
      }
    } finally {
      await client.stop()
    }
  })
  return cmd
}
