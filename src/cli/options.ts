import { Option, type Command } from 'commander'
import { InvalidConfigValueError } from '../config/errors.js'
import { loadConfig, type LoadedConfig } from '../config/load.js'

/** Options every command that reads the config accepts. */
export interface CommonOptions {
  config?: string
  dataDir?: string
  set?: string[]
}

/** Options of `start` and `init` that map straight onto config keys. */
export interface NodeOptions extends CommonOptions {
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  httpHost?: string
  httpPort?: string
  http?: boolean
  logLevel?: string
  logFormat?: string
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

export function addCommonOptions (cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'config file (JSON, comments allowed); default <data-dir>/config.json if present, or $GHOSTNODE_CONFIG')
    .option('-d, --data-dir <dir>', 'data directory (identity key, databases); default ~/.ghostnode or $GHOSTNODE_DATA_DIR')
    .option('--set <key=value>', 'set any config key, e.g. --set connections.max=500 (repeatable)', collect)
}

/** Options of the commands that ask the running node's local HTTP endpoint (status, peers, bans, ...). */
export interface EndpointOptions extends CommonOptions { url?: string, json?: boolean }

export function addEndpointOptions (cmd: Command): Command {
  return addCommonOptions(cmd)
    .option('--url <url>', 'the node\'s HTTP endpoint (default from config http.host/http.port)')
    .option('--json', 'print the raw JSON')
}

export function addNodeOptions (cmd: Command): Command {
  return addCommonOptions(cmd)
    .option('--listen <multiaddr>', 'listen address (repeatable; replaces the configured list)', collect)
    .option('--announce <multiaddr>', 'address to announce (repeatable)', collect)
    .option('--bootstrap <multiaddr>', 'bootstrap peer, ending in /p2p/<id> (repeatable)', collect)
    .option('--http-host <host>', 'bind address of /metrics and /health')
    .option('--http-port <port>', 'port of /metrics and /health (0 = any free port)')
    .addOption(new Option('--no-http', 'disable the HTTP endpoint'))
    .option('--log-level <level>', 'error, warn, info or debug (config log.level)')
    .option('--log-format <format>', 'text or json (config log.format)')
}

/** Turns parsed CLI options into config flags (dotted keys) and loads the config. */
export function configFromOptions (opts: NodeOptions): LoadedConfig {
  const flags: Record<string, unknown> = {}
  for (const item of opts.set ?? []) {
    const eq = item.indexOf('=')
    if (eq <= 0) {
      throw new InvalidConfigValueError(item, item, 'expected --set key=value', 'flag --set')
    }
    flags[item.slice(0, eq)] = item.slice(eq + 1)
  }
  if (opts.dataDir != null) flags.dataDir = opts.dataDir
  if (opts.logLevel != null) flags['log.level'] = opts.logLevel
  if (opts.logFormat != null) flags['log.format'] = opts.logFormat
  if (opts.listen != null) flags.listen = opts.listen.join(',')
  if (opts.announce != null) flags.announce = opts.announce.join(',')
  if (opts.bootstrap != null) flags.bootstrap = opts.bootstrap.join(',')
  if (opts.httpHost != null) flags['http.host'] = opts.httpHost
  if (opts.httpPort != null) flags['http.port'] = opts.httpPort
  if (opts.http === false) flags['http.enabled'] = false
  return loadConfig(opts.config == null ? { flags } : { flags, configFile: opts.config })
}
