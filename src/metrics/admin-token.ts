import { createHash, timingSafeEqual } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { GhostnodeError } from '../errors.js'
import { inspectSecretFile } from '../secret-file.js'

const MIN_TOKEN_CHARS = 32

/** http.adminTokenFile cannot be used: missing, readable by others, or too short. */
export class AdminTokenFileError extends GhostnodeError {
  constructor (path: string, reason: string) {
    super(`http.adminTokenFile ${path} ${reason}`, 'ERR_ADMIN_TOKEN_FILE')
  }
}

/** Reads the admin token: a file of mode 0600 holding at least 32 characters (surrounding whitespace ignored). */
export async function readAdminToken (path: string): Promise<string> {
  const file = await inspectSecretFile(path)
  if (file.state === 'missing') throw new AdminTokenFileError(path, 'does not exist')
  if (file.state === 'not-a-file') throw new AdminTokenFileError(path, 'is not a regular file')
  if (file.state === 'exposed') throw new AdminTokenFileError(path, `has mode ${file.mode.toString(8).padStart(3, '0')}; run "chmod 600 ${path}"`)
  const token = (await readFile(path, 'utf8')).trim()
  if (token.length < MIN_TOKEN_CHARS) throw new AdminTokenFileError(path, `holds ${token.length} characters; a token needs at least ${MIN_TOKEN_CHARS} (e.g. openssl rand -hex 32)`)
  return token
}

/** Compares a presented token with the configured one in constant time (both hashed first, so lengths do not leak). */
export function tokenMatches (presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}
