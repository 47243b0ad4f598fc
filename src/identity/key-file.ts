import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { inspectSecretFile, writeSecretFile } from '../secret-file.js'
import { ensureDataDir } from './data-dir.js'
import { InsecureKeyFileError, InvalidKeyFileError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE_NAME = 'identity.key'

export interface Identity {
  privateKey: PrivateKey
  path: string
  /** True when this call generated the key. */
  created: boolean
}


/** Reads the Ed25519 identity from the data dir, refusing a key file others can read. */
export async function loadIdentity (dataDir: string): Promise<Identity | undefined> {
  const path = join(dataDir, IDENTITY_FILE_NAME)
  const file = await inspectSecretFile(path)
  if (file.state === 'missing') return undefined
  if (file.state === 'not-a-file') throw new InvalidKeyFileError(path, 'not a regular file')
  if (file.state === 'exposed') throw new InsecureKeyFileError(path, file.mode)
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
 * Returns the node's identity, generating it on first start. The key is written
 * with writeSecretFile (no clobber), so a crash never leaves a half-written key
 * and two racing starts cannot both win.
 */
export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  await ensureDataDir(dataDir)
  const existing = await loadIdentity(dataDir)
  if (existing != null) return existing

  const path = join(dataDir, IDENTITY_FILE_NAME)
  const privateKey = await generateKeyPair('Ed25519')
  try {
    await writeSecretFile(path, privateKeyToProtobuf(privateKey), { replace: false })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    // another process created it first: use theirs
    const theirs = await loadIdentity(dataDir)
    if (theirs == null) throw err
    return theirs
  }
  return { privateKey, path, created: true }
}
