import { GhostnodeError } from '../errors.js'

/** The neighbour accepted no data for the stall timeout (it stopped reading): the link is closed. */
export class LinkStalledError extends GhostnodeError {
  constructor (stallTimeoutMs: number) {
    super(`the neighbour accepted no data for ${stallTimeoutMs} ms`, 'ERR_LINK_STALLED')
  }
}

/** The node closed a link or circuit (or refused one) to free memory or to keep from growing. */
export class MemoryShedError extends GhostnodeError {
  constructor (message = 'closed to free memory') {
    super(message, 'ERR_MEMORY_SHED')
  }
}

/** A link that carried no circuit and no cell for the idle timeout: closed so it holds no connection slot. */
export class LinkIdleError extends GhostnodeError {
  constructor (message = 'closed: no circuit and no cell for the idle timeout') {
    super(message, 'ERR_LINK_IDLE')
  }
}

/** Why links end; the label values of ghostnode_onion_links_closed_total. */
export const LINK_CLOSE_REASONS = ['stall', 'memory', 'malformed', 'idle', 'remote', 'local', 'error'] as const
export type LinkCloseReason = typeof LINK_CLOSE_REASONS[number]
