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
