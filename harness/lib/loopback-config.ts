import { join } from 'node:path'
import { DEFAULT_CONFIG, type GhostnodeConfig } from '../../src/config/defaults.js'

export type ConfigOverrides = { [K in keyof GhostnodeConfig]?: GhostnodeConfig[K] extends unknown[] ? GhostnodeConfig[K] : GhostnodeConfig[K] extends object ? Partial<GhostnodeConfig[K]> : GhostnodeConfig[K] }

/**
 * In-process nodes share one process's RSS: the watchdog's bound is per
 * process, so it is lifted here unless the caller sets it.
 */
const IN_PROCESS_MAX_RSS_BYTES = 1024 * 1024 * 1024 * 1024

/**
 * Loopback networks: private addresses allowed, one-second membership periods,
 * no probation, per-prefix caps out of the way (every node is in 127.0.0.0/24).
 */
export const LOOPBACK_NETWORK = { allowPrivateAddresses: true, documentIntervalMs: 1_000 }
export const LOOPBACK_ADMISSION = { probationMs: 0, maxPer24: 10_000, maxPer16: 10_000, maxNewPerHour: 10_000 }

/** A config for an in-process node on loopback with ephemeral ports and its own data dir under `baseDir`. */
export function loopbackConfig (baseDir: string, name: string, overrides: ConfigOverrides = {}): GhostnodeConfig {
  const d = structuredClone(DEFAULT_CONFIG)
  return {
    ...d,
    ...overrides,
    dataDir: overrides.dataDir ?? join(baseDir, name),
    listen: overrides.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    connections: { ...d.connections, ...overrides.connections },
    discovery: { ...d.discovery, intervalMs: 1_000, bootstrapRetryMinMs: 100, bootstrapRetryMaxMs: 1_000, ...overrides.discovery },
    http: { ...d.http, enabled: false, port: 0, ...overrides.http },
    onion: { ...d.onion, ...overrides.onion },
    directory: { ...d.directory, minServeIntervalMs: 0, ...overrides.directory },
    network: {
      ...d.network,
      ...LOOPBACK_NETWORK,
      ...overrides.network,
      admission: { ...d.network.admission, ...LOOPBACK_ADMISSION, ...overrides.network?.admission }
    },
    memory: { ...d.memory, maxRssBytes: IN_PROCESS_MAX_RSS_BYTES, ...overrides.memory },
    // in-process nodes answer dial-backs but do not run the self-test unless asked
    reachability: { ...d.reachability, intervalMs: 0, ...overrides.reachability },
    rateLimit: { ...d.rateLimit, ...overrides.rateLimit, limits: { ...d.rateLimit.limits, ...overrides.rateLimit?.limits } }
  } as GhostnodeConfig
}
