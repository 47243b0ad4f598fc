import { randomBytes } from 'node:crypto'
import { mkdir, link, open, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { InsecureKeyFileError, InvalidKeyFileError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE_NAME = 'identity.key'
const KEY_FILE_MODE = 0o600
const DATA_DIR_MODE = 0o700
/** Group or other permission bits: any of them means the key is not private. */
const FOREIGN_ACCESS_BITS = 0o077

export interface Identity {
  privateKey: PrivateKey
  path: string
  /** True when this call generated the key. */
  created: boolean
}

/** Creates the data directory (0700) if missing. */
export async function ensureDataDir (dataDir: string): Promise<void> {
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE })
}

/** Reads the Ed25519 identity from the data dir, refusing a key file others can read. */
export async function loadIdentity (dataDir: string): Promise<Identity | undefined> {
  const path = join(dataDir, IDENTITY_FILE_NAME)
  let info
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  if (!info.isFile()) {
    throw new InvalidKeyFileError(path, 'not a regular file')
  }
  if ((info.mode & FOREIGN_ACCESS_BITS) !== 0) {
    throw new InsecureKeyFileError(path, info.mode)
  }
  const bytes = await readFile(path)
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new InvalidKeyFileError(path, 'not a libp2p private key', { cause: err })
  }
  if (privateKey.type !== 'Ed25519') {
    throw new InvalidKeyFileError(path, `expected an Ed25519 key, found ${privateKey.type}`)
  }
  return { privateKey, path, created: false }
}

/**
 * Returns the node's identity, generating it on first start. The new key is
 * written to a temporary 0600 file, synced, then hard-linked into place so a
 * crash never leaves a half-written key and two racing starts cannot both win.
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  await ensureDataDir(dataDir)
  const existing = await loadIdentity(dataDir)
  if (existing != null) return existing

  const path = join(dataDir, IDENTITY_FILE_NAME)
  const privateKey = await generateKeyPair('Ed25519')
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', KEY_FILE_MODE)
  try {
    await handle.writeFile(privateKeyToProtobuf(privateKey))
    await handle.sync()
  } finally {
    await handle.close()
  }
  try {
    await link(tmp, path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    // another process created it first: use theirs
    const theirs = await loadIdentity(dataDir)
    if (theirs == null) throw err
    return theirs
  } finally {
    await unlink(tmp)
  }
  return { privateKey, path, created: true }
}
