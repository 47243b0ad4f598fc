import { GhostnodeError } from '../errors.js'

/** The key file can be read by other users: refusing is safer than using a leaked key. */
export class InsecureKeyFileError extends GhostnodeError {
  constructor (path: string, mode: number) {
    super(`identity key ${path} has mode ${(mode & 0o777).toString(8).padStart(3, '0')}; other users may read it. ` +
      `Run "chmod 600 ${path}" (and consider the key compromised if it was shared)`, 'ERR_KEY_FILE_INSECURE')
  }
}

/** The key file exists but does not hold a usable private key. */
export class InvalidKeyFileError extends GhostnodeError {
  constructor (path: string, reason: string, options?: ErrorOptions) {
    super(`identity key ${path} is unusable: ${reason}`, 'ERR_KEY_FILE_INVALID', options)
  }
}

/** The data directory cannot be used: it is a file, or a parent is, or it cannot be created or written. */
export class DataDirUnusableError extends GhostnodeError {
  constructor (dataDir: string, reason: string, options?: ErrorOptions) {
    super(`data dir ${dataDir} ${reason} (set dataDir, --data-dir or GHOSTNODE_DATA_DIR to a directory)`, 'ERR_DATA_DIR_UNUSABLE', options)
  }
}

/** Another running node holds the data directory (its lock is taken). */
export class DataDirLockedError extends GhostnodeError {
  constructor (dataDir: string, options?: ErrorOptions) {
    super(`data dir ${dataDir} is in use by another running ghostnode; stop that node first, or give this one its own --data-dir`, 'ERR_DATA_DIR_LOCKED', options)
  }
}
