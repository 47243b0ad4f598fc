import { GhostnodeError } from '../errors.js'

/** Base for every configuration problem; the CLI maps these to exit code 2. */
export class ConfigError extends GhostnodeError {}

/** A key that the schema does not know (file, environment or flag). */
export class UnknownConfigKeyError extends ConfigError {
  readonly key: string
  constructor (key: string, source: string) {
    super(`unknown config key "${key}" (from ${source})`, 'ERR_CONFIG_UNKNOWN_KEY')
    this.key = key
  }
}

/** A value of the wrong type for its key. */
export class InvalidConfigTypeError extends ConfigError {
  readonly key: string
  readonly value: unknown
  constructor (key: string, value: unknown, expected: string, source: string) {
    super(`config key "${key}" has value ${describe(value)} (from ${source}); expected ${expected}`, 'ERR_CONFIG_TYPE')
    this.key = key
    this.value = value
  }
}

/** A value of the right type that is impossible (out of range, unparsable address...). */
export class InvalidConfigValueError extends ConfigError {
  readonly key: string
  readonly value: unknown
  constructor (key: string, value: unknown, reason: string, source: string) {
    super(`config key "${key}" has invalid value ${describe(value)} (from ${source}): ${reason}`, 'ERR_CONFIG_VALUE')
    this.key = key
    this.value = value
  }
}

/** The config file could not be read or parsed. */
export class ConfigFileError extends ConfigError {
  readonly path: string
  constructor (path: string, reason: string, options?: ErrorOptions) {
    super(`cannot load config file ${path}: ${reason}`, 'ERR_CONFIG_FILE', options)
    this.path = path
  }
}

/** Longest value quoted in an error message. */
const MAX_DESCRIBED_CHARS = 120

function describe (value: unknown): string {
  let text: string
  if (typeof value === 'number' && !Number.isFinite(value)) {
    text = String(value) // JSON would print 1e400 as null
  } else {
    try {
      text = JSON.stringify(value) ?? String(value)
    } catch {
      // nested deeper than the stack (a hostile or broken file): still name what it is
      text = Array.isArray(value) ? `an array of ${value.length}` : typeof value
    }
  }
  return text.length > MAX_DESCRIBED_CHARS ? `${text.slice(0, MAX_DESCRIBED_CHARS - 3)}...` : text
}
