import { readFile } from 'node:fs/promises'
import { inspectSecretFile, writeSecretFile } from '../secret-file.js'
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
  let file
  try {
    file = await inspectSecretFile(path)
  } catch (err) {
    throw new InvalidMailboxKeyError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  if (file.state === 'missing') throw new InvalidMailboxKeyError(`cannot read ${path}: ENOENT`)
  if (file.state === 'not-a-file') throw new InvalidMailboxKeyError(`${path} is not a regular file`)
  if (file.state === 'exposed') {
    throw new InvalidMailboxKeyError(`${path} is readable by other users (mode ${file.mode.toString(8)}); chmod 600 it`)
  }
  return decodeMailboxKeyFile(await readFile(path, 'utf8'), path)
}

/** Writes a key file atomically with mode 0600; an existing key is never clobbered unless `force`. */
export async function writeMailboxKeyFile (path: string, key: MailboxKey, options: { force?: boolean } = {}): Promise<void> {
  try {
    await writeSecretFile(path, encodeMailboxKeyFile(key), { replace: options.force === true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new InvalidMailboxKeyError(`${path} already exists (use --force to replace it)`)
    throw err
  }
}
