import { InvalidConfigValueError } from './errors.js'
import type { GhostnodeConfig } from './defaults.js'

/**
 * onion.maxQueuedBytes may be at most this share of memory.maxRssBytes. A
 * slowloris attack that fills the budget measured ~4 bytes of RSS per budgeted
 * byte over an idle node's ~130 MiB, so a budget larger than this could not
 * even nearly be held under the bound; up to it, the watchdog takes over where
 * the budget alone would overshoot.
 */
export const MAX_QUEUED_SHARE_OF_RSS = 1 / 4

/** Relations between memory keys that the per-key schema cannot express. */
export function checkMemoryConfig (config: GhostnodeConfig, source = 'effective config'): void {
  const m = config.memory
  if (m.lowWatermark >= m.highWatermark) {
    throw new InvalidConfigValueError('memory.lowWatermark', m.lowWatermark, `must be below memory.highWatermark (${m.highWatermark})`, source)
  }
  const most = Math.floor(m.maxRssBytes * MAX_QUEUED_SHARE_OF_RSS)
  if (config.onion.maxQueuedBytes > most) {
    throw new InvalidConfigValueError('onion.maxQueuedBytes', config.onion.maxQueuedBytes,
      `must be at most a quarter of memory.maxRssBytes (${m.maxRssBytes}), i.e. ${most}: the memory it budgets costs more RSS than its bytes`, source)
  }
}
