import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { DataDirLockedError, DataDirUnusableError } from './errors.js'

const DATA_DIR_MODE = 0o700
/** A tiny LevelDB whose LOCK file marks the data dir as held by a running node. */
export const DATA_DIR_LOCK_NAME = 'node.lock'

/**
 * Creates the data directory (0700) if missing.
 * @throws DataDirUnusableError when it (or a parent) is a file, or it cannot be created
 */
export async function ensureDataDir (dataDir: string): Promise<void> {
  const existing = await stat(dataDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw unusable(dataDir, err)
  })
  if (existing != null && !existing.isDirectory()) throw new DataDirUnusableError(dataDir, 'is a file, not a directory')
  await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE }).catch((err: NodeJS.ErrnoException) => { throw unusable(dataDir, err) })
}

function unusable (dataDir: string, err: NodeJS.ErrnoException): DataDirUnusableError {
  const reason = err.code === 'ENOTDIR' || err.code === 'EEXIST'
    ? 'cannot be created: a parent of it is a file'
    : err.code === 'EACCES' || err.code === 'EPERM'
      ? 'cannot be created or read: permission denied'
      : `cannot be used: ${err.code ?? err.message}`
  return new DataDirUnusableError(dataDir, reason, { cause: err })
}

/**
 * The data directory's lock, held for as long as the node runs: LevelDB locks
 * its LOCK file with an OS lock, which the kernel releases when the process
 * dies, so a crashed node never leaves a stale lock behind.
 */
export class DataDirLock {
  private constructor (private readonly db: ClassicLevel) {}

  /** @throws DataDirLockedError when another process holds it */
  static async acquire (dataDir: string): Promise<DataDirLock> {
    const db = new ClassicLevel(join(dataDir, DATA_DIR_LOCK_NAME))
    try {
      await db.open()
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      if (cause?.code === 'LEVEL_LOCKED') throw new DataDirLockedError(dataDir, { cause: err })
      throw err
    }
    return new DataDirLock(db)
  }

  async close (): Promise<void> {
    await this.db.close()
  }
}
