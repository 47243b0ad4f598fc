import {
  DEFAULT_RATE_LIMIT_CONFIG, LIMIT_KINDS, MAX_SCORE, MIN_SCORE, NEUTRAL_SCORE, VIOLATIONS
} from './config.js'
import { InvalidRateLimitConfigError } from './errors.js'
import type { RateLimitConfig, ReputationConfig } from './config.js'

type DeepPartial<T> = T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T

/** What callers may pass: any subset of the config, merged over the defaults. */
export type RateLimitConfigInput = DeepPartial<RateLimitConfig>
export type ReputationConfigInput = DeepPartial<ReputationConfig>

/**
 * Merges `input` over DEFAULT_RATE_LIMIT_CONFIG and validates the result.
 * Unknown keys are rejected (a typo must not silently fall back to a default).
 *
 * @throws {InvalidRateLimitConfigError} naming the dotted key and its value
 */
export function resolveRateLimitConfig (input: RateLimitConfigInput = {}): RateLimitConfig {
  const config = merge(DEFAULT_RATE_LIMIT_CONFIG, input, '') as RateLimitConfig
  validateRateLimitConfig(config)
  return config
}

/** Same as resolveRateLimitConfig for the reputation part alone. */
export function resolveReputationConfig (input: ReputationConfigInput = {}): ReputationConfig {
  const config = merge(DEFAULT_RATE_LIMIT_CONFIG.reputation, input, 'reputation.') as ReputationConfig
  validateReputationConfig(config, 'reputation.')
  return config
}

/** @throws {InvalidRateLimitConfigError} on the first bad key */
export function validateRateLimitConfig (config: RateLimitConfig): void {
  for (const kind of LIMIT_KINDS) {
    const limit = config.limits[kind]
    positive(`limits.${kind}.ratePerSecond`, limit.ratePerSecond)
    positive(`limits.${kind}.burst`, limit.burst)
  }
  integerAtLeastOne('maxBucketsPerKind', config.maxBucketsPerKind)
  validateReputationConfig(config.reputation, 'reputation.')
}

function validateReputationConfig (config: ReputationConfig, prefix: string): void {
  const { tiers } = config
  inRange(`${prefix}tiers.lowMaxScore`, tiers.lowMaxScore, MIN_SCORE, MAX_SCORE)
  inRange(`${prefix}tiers.highMinScore`, tiers.highMinScore, MIN_SCORE, MAX_SCORE)
  if (tiers.highMinScore <= tiers.lowMaxScore) {
    throw new InvalidRateLimitConfigError(`${prefix}tiers.highMinScore`, tiers.highMinScore, 'must be greater than tiers.lowMaxScore')
  }
  positive(`${prefix}tiers.lowWeight`, tiers.lowWeight)
  positive(`${prefix}tiers.neutralWeight`, tiers.neutralWeight)
  positive(`${prefix}tiers.highWeight`, tiers.highWeight)
  for (const violation of VIOLATIONS) {
    inRange(`${prefix}penalties.${violation}`, config.penalties[violation], 0, MAX_SCORE)
    inRange(`${prefix}penaltyCooldownsMs.${violation}`, config.penaltyCooldownsMs[violation], 0, Number.MAX_SAFE_INTEGER)
  }
  // At or above neutral, a fresh peer would be banned by its first violation.
  inRange(`${prefix}banThresholdScore`, config.banThresholdScore, MIN_SCORE, NEUTRAL_SCORE - 1)
  positive(`${prefix}banDurationMs`, config.banDurationMs)
  inRange(`${prefix}scoreAfterBan`, config.scoreAfterBan, MIN_SCORE, MAX_SCORE)
  if (config.scoreAfterBan <= config.banThresholdScore) {
    throw new InvalidRateLimitConfigError(`${prefix}scoreAfterBan`, config.scoreAfterBan, 'must be above banThresholdScore, or an expired ban would re-ban at once')
  }
  inRange(`${prefix}recoveryPointsPerMinute`, config.recoveryPointsPerMinute, 0, MAX_SCORE)
  inRange(`${prefix}rewardPointsPerSuccess`, config.rewardPointsPerSuccess, 0, MAX_SCORE)
  inRange(`${prefix}rewardMaxPointsPerMinute`, config.rewardMaxPointsPerMinute, 0, MAX_SCORE)
  integerAtLeastOne(`${prefix}maxTrackedPeers`, config.maxTrackedPeers)
}

function merge (defaults: unknown, input: unknown, path: string): unknown {
  if (input === undefined) return structuredClone(defaults)
  if (typeof defaults !== 'object' || defaults === null) return input
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidRateLimitConfigError(path.slice(0, -1), input, 'expected an object')
  }
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(defaults, key)) throw new InvalidRateLimitConfigError(`${path}${key}`, (input as Record<string, unknown>)[key], 'unknown key')
  }
  for (const [key, value] of Object.entries(defaults)) {
    out[key] = merge(value, (input as Record<string, unknown>)[key], `${path}${key}.`)
  }
  return out
}

function number (key: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidRateLimitConfigError(key, value, 'expected a finite number')
  }
  return value
}

function positive (key: string, value: unknown): void {
  if (number(key, value) <= 0) throw new InvalidRateLimitConfigError(key, value, 'must be greater than 0')
}

function inRange (key: string, value: unknown, min: number, max: number): void {
  const n = number(key, value)
  if (n < min || n > max) throw new InvalidRateLimitConfigError(key, value, `must be between ${min} and ${max}`)
}

function integerAtLeastOne (key: string, value: unknown): void {
  if (!Number.isSafeInteger(number(key, value)) || (value as number) < 1) {
    throw new InvalidRateLimitConfigError(key, value, 'must be an integer >= 1')
  }
}
