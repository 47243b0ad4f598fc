import { enabled, logger } from '@libp2p/logger'
import type { ComponentLogger, Logger } from '@libp2p/interface'

/**
 * libp2p's component logger for the node and the client, at no cost where
 * debug output is off. libp2p makes a new scope for every stream, muxer and
 * protocol negotiation, and @libp2p/logger builds three debug instances per
 * scope, each asking the OS whether stderr is a terminal: in a simulation
 * host running 33 of 100 nodes that was 2 % of its CPU. The
 * namespaces DEBUG enables are fixed when the process starts (nothing here
 * enables more later), so a scope whose namespaces are all off gets a logger
 * that does nothing, and one with any of them on gets @libp2p/logger's own.
 */
export function libp2pLogger (): ComponentLogger {
  return { forComponent: scopedLogger }
}

export function scopedLogger (name: string): Logger {
  if (enabled(name) || enabled(`${name}:error`) || enabled(`${name}:trace`)) return logger(name)
  return silentScope(name)
}

function silentScope (name: string): Logger {
  const log = (() => {}) as unknown as Logger
  log.error = () => {}
  log.trace = () => {}
  log.enabled = false
  log.newScope = (scope: string) => scopedLogger(`${name}:${scope}`)
  return log
}
