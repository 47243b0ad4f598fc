/** Something that holds budgeted memory and can be closed to free it. */
export interface MemoryHolder {
  /** `stream`: a protocol stream holding a partial frame (swarm). */
  kind: 'link' | 'circuit' | 'stream'
  /** Budgeted bytes it holds now. */
  bytes: number
  /** When it started holding (circuit creation); among equals the oldest goes first. */
  since: number
  close: () => void
}

/**
 * Closes the biggest holders first (the oldest among equals) until `used()`
 * is at most `targetBytes` or nothing holds anything. A peer that does not
 * read, or that parks fragments it never completes, is by construction the
 * biggest holder, so it pays first. Returns how many of each kind it closed.
 */
export function shedLargest (holders: MemoryHolder[], targetBytes: number, used: () => number): { links: number, circuits: number, streams: number } {
  const closed = { links: 0, circuits: 0, streams: 0 }
  const ranked = holders.filter(h => h.bytes > 0).sort((a, b) => b.bytes - a.bytes || a.since - b.since)
  for (const holder of ranked) {
    if (used() <= targetBytes) break
    holder.close()
    if (holder.kind === 'link') closed.links++
    else if (holder.kind === 'stream') closed.streams++
    else closed.circuits++
  }
  return closed
}
