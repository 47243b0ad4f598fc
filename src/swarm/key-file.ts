import { randomBytes } from 'node:crypto'
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { MailboxKey, formatMailbox, parseMailbox } from './auth.js'
import { InvalidMailboxKeyError } from './service-errors.js'

/**
 * Mailbox key files (`ghostnode keygen`): JSON, mode 0600,
 *
 *   { "type": "ghostnode-mailbox-key", "version": 1,
 *     "publicKey": "<64 hex chars>", "privateKey": "<64 hex chars: the Ed25519 seed>" }
 *
 * The public key is the mailbox address senders use; it is stored only as a
 * check that the file is intact (it must match the seed).
 */

export const MAILBOX_KEY_FILE_TYPE = 'ghostnode-mailbox-key'
export const MAILBOX_KEY_FILE_VERSION = 1
const KEY_FILE_MODE = 0o600
const FOREIGN_ACCESS_BITS = 0o077

export function encodeMailboxKeyFile (key: MailboxKey): string {
  return JSON.stringify({
    type: MAILBOX_KEY_FILE_TYPE,
    version: MAILBOX_KEY_FILE_VERSION,
    publicKey: formatMailbox(key.publicKey),
    privateKey: Buffer.from(key.exportSeed()).toString('hex')
  }, null, 2) + '\n'
}

export function decodeMailboxKeyFile (text: string, path = 'key file'): MailboxKey {
  let parsed: Record<string, unknown>
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new InvalidMailboxKeyError(`${path} is not JSON`, { cause: err })
  }
  if (parsed?.type !== MAILBOX_KEY_FILE_TYPE || parsed.version !== MAILBOX_KEY_FILE_VERSION) {
    throw new InvalidMailboxKeyError(`${path} is not a version ${MAILBOX_KEY_FILE_VERSION} ghostnode mailbox key`)
  }
  if (typeof parsed.privateKey !== 'string' || !/^[0-9a-f]{64}$/i.test(parsed.privateKey) || typeof parsed.publicKey !== 'string') {
    throw new InvalidMailboxKeyError(`${path} lacks a 32-byte hex private key or the public key`)
  }
  const key = MailboxKey.fromSeed(Buffer.from(parsed.privateKey, 'hex'))
  if (formatMailbox(key.publicKey) !== formatMailbox(parseMailbox(parsed.publicKey))) {
    throw new InvalidMailboxKeyError(`${path}: the public key does not match the private key`)
  }
  return key
}

/** Reads a key file, refusing one that group or other users can access. */
export async function readMailboxKeyFile (path: string): Promise<MailboxKey> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    throw new InvalidMailboxKeyError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  if (!info.isFile()) throw new InvalidMailboxKeyError(`${path} is not a regular file`)
  if ((info.mode & FOREIGN_ACCESS_BITS) !== 0) {
    throw new InvalidMailboxKeyError(`${path} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); chmod 600 it`)
  }
  return decodeMailboxKeyFile(await readFile(path, 'utf8'), path)
}

/**
 * Writes a key file atomically with mode 0600: a synced temporary file is
 * linked into place, so an existing key is never clobbered unless `force`.
 */
export async function writeMailboxKeyFile (path: string, key: MailboxKey, options: { force?: boolean } = {}): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', KEY_FILE_MODE)
  try {
    await handle.writeFile(encodeMailboxKeyFile(key))
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    if (options.force === true) {
      await rename(tmp, path)
      return
    }
    try {
      await link(tmp, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InvalidMailboxKeyError(`${path} already exists (use --force to replace it)`)
      throw err
    }
  } finally {
    await unlink(tmp).catch(() => {})
  }
}
