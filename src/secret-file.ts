import { randomBytes } from 'node:crypto'
import { link, open, rename, stat, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/** Mode of every file that holds a secret (identity, onion and mailbox keys). */
export const SECRET_FILE_MODE = 0o600
/** Group or other permission bits: any of them means the secret is not private. */
const FOREIGN_ACCESS_BITS = 0o077

export type SecretFileState =
  | { state: 'missing' }
  | { state: 'not-a-file' }
  | { state: 'exposed', mode: number }
  | { state: 'private' }

/** What a secret file's metadata says, so each caller can raise its own typed error. */
export async function inspectSecretFile (path: string): Promise<SecretFileState> {
  let info
  try {
    info = await stat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'missing' }
    throw err
  }
  if (!info.isFile()) return { state: 'not-a-file' }
  if ((info.mode & FOREIGN_ACCESS_BITS) !== 0) return { state: 'exposed', mode: info.mode & 0o777 }
  return { state: 'private' }
}

/**
 * Writes a secret atomically with mode 0600: a synced temporary file beside the
 * target is renamed over it (`replace`) or hard-linked into place, which fails
 * with EEXIST instead of clobbering an existing file. A crash never leaves a
 * half-written secret, and the temporary file is always removed.
 */
export async function writeSecretFile (path: string, data: string | Uint8Array, options: { replace: boolean }): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`
  const handle = await open(tmp, 'wx', SECRET_FILE_MODE)
  try {
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    if (options.replace) {
      await rename(tmp, path)
      await syncDirectory(dirname(path))
    } else {
      await link(tmp, path)
    }
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

async function syncDirectory (dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r')
    try { await handle.sync() } finally { await handle.close() }
  } catch {
    // some filesystems cannot fsync a directory; the rename itself is still atomic
  }
}
