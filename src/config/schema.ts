import { isIP } from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { CONFIG_SPEC, type LeafSpec } from './defaults.js'
import { InvalidConfigTypeError, InvalidConfigValueError, UnknownConfigKeyError } from './errors.js'

export type ConfigValue = string | number | boolean | string[]

/** Where a value came from, for error messages: `file ./x.json`, `environment GHOSTNODE_Y`... */
export type Source = string

const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/
const PROTOCOL_PREFIX = /^(\/[a-zA-Z0-9._-]+)+$/

/** Every leaf key, in schema order. */
export function configKeys (): string[] {
  return Object.keys(CONFIG_SPEC)
}

/** `connections.dialTimeoutMs` → `GHOSTNODE_CONNECTIONS_DIAL_TIMEOUT_MS`. */
export function envNameForKey (key: string): string {
  return 'GHOSTNODE_' + key.split('.').map(part => part.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_')
}

/**
 * True for the schema's own keys only: CONFIG_SPEC is a plain object, so a
 * lookup by `constructor`, `toString` or `__proto__` would find its prototype's.
 */
export function isConfigKey (key: string): boolean {
  return Object.hasOwn(CONFIG_SPEC, key)
}

function specFor (key: string, source: Source): LeafSpec {
  if (!isConfigKey(key)) throw new UnknownConfigKeyError(key, source)
  return CONFIG_SPEC[key].spec
}

function isBranch (key: string): boolean {
  return configKeys().some(k => k.startsWith(key + '.'))
}

/**
 * Turns a parsed config file into `[key, value]` leaves. Objects are only
 * allowed where the schema has nested keys, so a typo anywhere is reported.
 */
export function flattenFileConfig (input: unknown, source: Source, prefix = ''): Array<[string, unknown]> {
  if (typeof input !== 'object' || input == null || Array.isArray(input)) {
    throw new InvalidConfigTypeError(prefix === '' ? '(root)' : prefix, input, 'an object', source)
  }
  const leaves: Array<[string, unknown]> = []
  for (const [name, value] of Object.entries(input)) {
    const key = prefix === '' ? name : `${prefix}.${name}`
    if (isConfigKey(key)) {
      leaves.push([key, value])
    } else if (isBranch(key)) {
      leaves.push(...flattenFileConfig(value, source, key))
    } else {
      throw new UnknownConfigKeyError(key, source)
    }
  }
  return leaves
}

/** Parses a string from the environment or a flag into the key's type, then validates it. */
export function parseStringValue (key: string, raw: string, source: Source): ConfigValue {
  const spec = specFor(key, source)
  switch (spec.kind) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) {
        throw new InvalidConfigTypeError(key, raw, 'an integer', source)
      }
      return validateValue(key, Number(raw.trim()), source)
    }
    case 'number': {
      if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(raw.trim())) {
        throw new InvalidConfigTypeError(key, raw, 'a number', source)
      }
      return validateValue(key, Number(raw.trim()), source)
    }
    case 'bool': {
      const v = raw.trim().toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(v)) return true
      if (['false', '0', 'no', 'off'].includes(v)) return false
      throw new InvalidConfigTypeError(key, raw, 'a boolean (true/false)', source)
    }
    case 'multiaddrs': {
      const list = raw.split(',').map(s => s.trim()).filter(s => s !== '')
      return validateValue(key, list, source)
    }
    default:
      return validateValue(key, raw, source)
  }
}

/** Checks a typed value (from a file or already parsed) against its key's spec. */
export function validateValue (key: string, value: unknown, source: Source): ConfigValue {
  const spec = specFor(key, source)
  switch (spec.kind) {
    case 'int': {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new InvalidConfigTypeError(key, value, 'an integer', source)
      }
      if (value < spec.min || value > spec.max) {
        throw new InvalidConfigValueError(key, value, `must be between ${spec.min} and ${spec.max}`, source)
      }
      return value
    }
    case 'number': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new InvalidConfigTypeError(key, value, 'a number', source)
      }
      if (value < spec.min || value > spec.max) {
        throw new InvalidConfigValueError(key, value, `must be between ${spec.min} and ${spec.max}`, source)
      }
      return value
    }
    case 'bool':
      if (typeof value !== 'boolean') {
        throw new InvalidConfigTypeError(key, value, 'a boolean', source)
      }
      return value
    case 'path':
    case 'host':
    case 'protocolPrefix': {
      if (typeof value !== 'string') {
        throw new InvalidConfigTypeError(key, value, 'a string', source)
      }
      if (spec.kind === 'path' && spec.optional === true && value === '') return value
      checkString(key, value, spec, source)
      return value
    }
    case 'enum': {
      if (typeof value !== 'string' || !spec.values.includes(value)) {
        throw new InvalidConfigValueError(key, value, `must be one of ${spec.values.join(', ')}`, source)
      }
      return value
    }
    case 'multiaddrs': {
      if (!Array.isArray(value) || value.some(v => typeof v !== 'string')) {
        throw new InvalidConfigTypeError(key, value, 'a list of multiaddr strings', source)
      }
      if (spec.nonEmpty === true && value.length === 0) {
        throw new InvalidConfigValueError(key, value, 'must name at least one address', source)
      }
      for (const addr of value as string[]) {
        checkMultiaddr(key, addr, spec.requirePeerId === true, source)
      }
      return [...value as string[]]
    }
  }
}

function checkString (key: string, value: string, spec: LeafSpec, source: Source): void {
  if (value.trim() === '') {
    throw new InvalidConfigValueError(key, value, 'must not be empty', source)
  }
  if (spec.kind === 'host' && isIP(value) === 0 && !HOSTNAME.test(value)) {
    throw new InvalidConfigValueError(key, value, 'must be an IP address or a host name', source)
  }
  if (spec.kind === 'protocolPrefix' && !PROTOCOL_PREFIX.test(value)) {
    throw new InvalidConfigValueError(key, value, 'must look like /name', source)
  }
  if (value.includes('\0')) {
    throw new InvalidConfigValueError(key, value, 'must not contain NUL', source)
  }
}

function checkMultiaddr (key: string, addr: string, requirePeerId: boolean, source: Source): void {
  let ma
  try {
    ma = multiaddr(addr)
  } catch (err) {
    throw new InvalidConfigValueError(key, addr, `not a multiaddr (${(err as Error).message})`, source)
  }
  if (requirePeerId && ma.getComponents().findLast(c => c.name === 'p2p')?.value == null) {
    throw new InvalidConfigValueError(key, addr, 'must end in /p2p/<peer id>', source)
  }
}
