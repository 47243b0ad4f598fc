/** What the memory watchdog did to shed load; the label values of ghostnode_memory_shed_total. */
export const SHED_ACTIONS = ['link_closed', 'circuit_closed', 'stream_closed', 'create_refused', 'link_refused', 'connection_refused'] as const
export type ShedAction = typeof SHED_ACTIONS[number]

/**
 * What the relay, the link manager and the connection gater ask of the memory
 * watchdog: whether to take on anything new, and where to count what they shed.
 */
export interface MemoryGuard {
  /** True while the process's RSS is over its high watermark. */
  readonly underPressure: boolean
  shed: (action: ShedAction) => void
}
