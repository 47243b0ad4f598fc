import { logger } from '@libp2p/logger'
import type { Logger } from '@libp2p/interface'

const fallbackLog = logger('ghostnode:background')

/**
 * Starts `work` without waiting for it: timers, event handlers and
 * "also tell the others" side effects. The work is expected to handle its own
 * failures; if it rejects anyway, the rejection is logged as an error naming
 * `what` instead of becoming an unhandled rejection.
 */
export function inBackground (what: string, work: Promise<unknown>, log: Logger = fallbackLog): void {
  work.catch((err: unknown) => { log.error('%s failed - %e', what, err) })
}
