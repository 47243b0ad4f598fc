import { existsSync, readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { InvalidRateLimitConfigError } from '../ratelimit/errors.js'
import { validateRateLimitConfig } from '../ratelimit/resolve-config.js'
import { keyOfPeerId } from '../membership/document.js'
import { multiaddr } from '@multiformats/multiaddr'
import { checkMemoryConfig } from './memory-check.js'
import { DEFAULT_CONFIG, type GhostnodeConfig } from './defaults.js'
import { ConfigFileError, InvalidConfigValueError, UnknownConfigKeyError } from './errors.js'
import { stripJsonComments } from './jsonc.js'
import { configKeys, envNameForKey, isConfigKey, flattenFileConfig, parseStringValue, validateValue, type ConfigValue } from './schema.js'

/** Names the config file; not itself a config key. */
export const CONFIG_FILE_ENV = 'GHOSTNODE_CONFIG'
/** Written by `ghostnode init` and read by default from the data directory. */
export const DEFAULT_CONFIG_FILE_NAME = 'config.json'

export interface LoadConfigOptions {
  /** Explicit config file (`--config`); wins over GHOSTNODE_CONFIG and the data-dir default. */
  configFile?: string
  /** Environment to read GHOSTNODE_* from. @default process.env */
  env?: Record<string, string | undefined>
  /** Values from CLI flags by dotted key: strings are parsed like env values. */
  flags?: Record<string, unknown>
  /** Relative paths resolve against this. @default process.cwd() */
  cwd?: string
}

export interface LoadedConfig {
  config: GhostnodeConfig
  /** The file that was read, if any. */
  configFile?: string
}

/** Builds the effective config: defaults < file < GHOSTNODE_* env < flags, validated. */
export function loadConfig (options: LoadConfigOptions = {}): LoadedConfig {
  const env = options.env ?? process.env
  const flags = options.flags ?? {}
  const cwd = options.cwd ?? process.cwd()

  const envValues = readEnv(env)
  const flagValues = Object.entries(flags).map(([key, value]): [string, ConfigValue] => {
    const source = `flag for ${key}`
    knownKey(key, source)
    return [key, typeof value === 'string' ? parseStringValue(key, value, source) : validateValue(key, value, source)]
  })

  const configFile = pickConfigFile(options.configFile, env, flagValues, envValues, cwd)
  const fileValues = configFile == null ? [] : readConfigFile(configFile)
  const config = buildConfig([fileValues, envValues, flagValues], cwd)
  return configFile == null ? { config } : { config, configFile }
}

/**
 * The defaults with each layer of validated values applied in order (later
 * layers win), the data dir resolved against `cwd`, and the checks that
 * relate several keys.
 */
export function buildConfig (layers: ReadonlyArray<ReadonlyArray<[string, ConfigValue]>>, cwd: string): GhostnodeConfig {
  const config = structuredClone(DEFAULT_CONFIG)
  for (const layer of layers) {
    for (const [key, value] of layer) setKey(config, key, value)
  }
  config.dataDir = resolvePath(config.dataDir, cwd)
  checkCrossField(config)
  return config
}

function readEnv (env: Record<string, string | undefined>): Array<[string, ConfigValue]> {
  const byEnvName = new Map(configKeys().map(key => [envNameForKey(key), key]))
  const values: Array<[string, ConfigValue]> = []
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('GHOSTNODE_') || name === CONFIG_FILE_ENV || raw == null) continue
    const key = byEnvName.get(name)
    if (key == null) {
      throw new UnknownConfigKeyError(name, 'environment')
    }
    values.push([key, parseStringValue(key, raw, `environment ${name}`)])
  }
  return values
}

function pickConfigFile (explicit: string | undefined, env: Record<string, string | undefined>, flagValues: Array<[string, ConfigValue]>, envValues: Array<[string, ConfigValue]>, cwd: string): string | undefined {
  const named = explicit ?? env[CONFIG_FILE_ENV]
  if (named != null && named !== '') {
    return resolvePath(named, cwd)
  }
  // Without an explicit file, use the one `ghostnode init` wrote into the data dir, if any.
  const dataDir = flagValues.find(([k]) => k === 'dataDir')?.[1] ?? envValues.find(([k]) => k === 'dataDir')?.[1] ?? DEFAULT_CONFIG.dataDir
  const candidate = join(resolvePath(String(dataDir), cwd), DEFAULT_CONFIG_FILE_NAME)
  return existsSync(candidate) ? candidate : undefined
}

/** Reads and validates a JSON (comments allowed) config file into `[key, value]` leaves. */
export function readConfigFile (path: string): Array<[string, ConfigValue]> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigFileError(path, (err as NodeJS.ErrnoException).code ?? (err as Error).message, { cause: err })
  }
  return parseConfigText(text, path)
}

/** Parses and validates the text of a config file (`path` names it in errors). */
export function parseConfigText (text: string, path: string): Array<[string, ConfigValue]> {
  let parsed: unknown
  try {
    parsed = JSON.parse(stripJsonComments(text))
  } catch (err) {
    throw new ConfigFileError(path, `not valid JSON: ${(err as Error).message}`, { cause: err })
  }
  const source = `file ${path}`
  return flattenFileConfig(parsed, source).map(([key, value]) => {
    knownKey(key, source)
    return [key, validateValue(key, value, source)]
  })
}

/** Rejects a key that is not one of the schema's own (see isConfigKey). */
function knownKey (key: string, source: string): void {
  if (!isConfigKey(key)) throw new UnknownConfigKeyError(key, source)
}

function setKey (config: GhostnodeConfig, key: string, value: ConfigValue): void {
  const parts = key.split('.')
  let target = config as unknown as Record<string, unknown>
  for (const part of parts.slice(0, -1)) {
    target = target[part] as Record<string, unknown>
  }
  target[parts[parts.length - 1]] = value
}

function resolvePath (path: string, cwd: string): string {
  if (path === '~' || path.startsWith('~/')) {
    return join(homedir(), path.slice(1))
  }
  return isAbsolute(path) ? path : resolve(cwd, path)
}

/**
 * Every check a config must pass beyond its keys' own specs (relations between
 * keys): loadConfig runs it, and so does createGhostnode for a config built in
 * code, so `ghostnode config` refuses exactly what `ghostnode start` would.
 */
export function checkConfig (config: GhostnodeConfig): void {
  checkCrossField(config)
}

function checkCrossField (config: GhostnodeConfig): void {
  const d = config.discovery
  if (d.bootstrapRetryMinMs > d.bootstrapRetryMaxMs) {
    throw new InvalidConfigValueError('discovery.bootstrapRetryMinMs', d.bootstrapRetryMinMs,
      `must not exceed discovery.bootstrapRetryMaxMs (${d.bootstrapRetryMaxMs})`, 'effective config')
  }
  if (config.onion.keyGraceMs >= config.onion.keyEpochMs) {
    throw new InvalidConfigValueError('onion.keyGraceMs', config.onion.keyGraceMs,
      `must be shorter than onion.keyEpochMs (${config.onion.keyEpochMs})`, 'effective config')
  }
  checkMemoryConfig(config)
  checkSwarmConfig(config)
  checkNetworkConfig(config)
  try {
    validateRateLimitConfig(config.rateLimit)
  } catch (err) {
    if (!(err instanceof InvalidRateLimitConfigError)) throw err
    throw new InvalidConfigValueError(`rateLimit.${err.key}`, err.value, err.message, 'effective config')
  }
}

/** Authorities must be Ed25519 peer ids (they sign documents), and k at most their number. */
function checkNetworkConfig (config: GhostnodeConfig): void {
  const n = config.network
  const ids = new Set<string>()
  for (const entry of n.authorities) {
    const id = multiaddr(entry).getComponents().findLast(c => c.name === 'p2p')?.value ?? ''
    try {
      keyOfPeerId(id)
    } catch (err) {
      throw new InvalidConfigValueError('network.authorities', entry, (err as Error).message, 'effective config')
    }
    ids.add(id)
  }
  if (n.authorityThreshold > Math.max(1, ids.size)) {
    throw new InvalidConfigValueError('network.authorityThreshold', n.authorityThreshold,
      `must not exceed the number of authorities (${Math.max(1, ids.size)})`, 'effective config')
  }
  if (n.documentIntervalMs > config.onion.keyGraceMs && config.onion.keyGraceMs > 0) {
    // a rotated onion key reaches the document a period later: the old key must still open CREATEs until then
    throw new InvalidConfigValueError('network.documentIntervalMs', n.documentIntervalMs,
      `must not exceed onion.keyGraceMs (${config.onion.keyGraceMs})`, 'effective config')
  }
}

/** Relations between swarm keys that the per-key schema cannot express. */
function checkSwarmConfig (config: GhostnodeConfig): void {
  const s = config.swarm
  if (s.minTtlMs > s.maxTtlMs) {
    throw new InvalidConfigValueError('swarm.minTtlMs', s.minTtlMs, `must not exceed swarm.maxTtlMs (${s.maxTtlMs})`, 'effective config')
  }
  if (s.writeQuorum > s.replicas) {
    throw new InvalidConfigValueError('swarm.writeQuorum', s.writeQuorum, `must not exceed swarm.replicas (${s.replicas})`, 'effective config')
  }
  // a STORE carries one message and a RETRIEVE answer one page, each in one onion message (plus framing)
  const room = config.onion.maxMessageBytes - SWARM_EXIT_OVERHEAD_BYTES
  if (s.maxMessageBytes > room) {
    throw new InvalidConfigValueError('swarm.maxMessageBytes', s.maxMessageBytes, `must leave ${SWARM_EXIT_OVERHEAD_BYTES} bytes of onion.maxMessageBytes (${config.onion.maxMessageBytes}) for framing`, 'effective config')
  }
  if (s.maxPageBytes > room) {
    throw new InvalidConfigValueError('swarm.maxPageBytes', s.maxPageBytes, `must leave ${SWARM_EXIT_OVERHEAD_BYTES} bytes of onion.maxMessageBytes (${config.onion.maxMessageBytes}) for framing`, 'effective config')
  }
}

/** Framing around a message or page in a SWARM exit request or answer (generous: ~100 bytes are used). */
const SWARM_EXIT_OVERHEAD_BYTES = 1024
