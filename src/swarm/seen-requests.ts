/**
 * Signed deletes the exit has executed, remembered by signature for as long
 * as their timestamp is acceptable (±window): a replay within that time gets
 * the first answer and is not executed again. Bounded (oldest dropped first);
 * a replay older than the window fails its timestamp check anyway, and a
 * DELETE_ALL only ever removes what was stored before its signed timestamp.
 */
export const DEFAULT_MAX_SEEN_REQUESTS = 10_000

export class SeenRequests {
  private readonly entries = new Map<string, { answer: Uint8Array, until: number }>()
  private readonly max: number
  private readonly now: () => number

  constructor (init: { max?: number, now: () => number }) {
    this.max = init.max ?? DEFAULT_MAX_SEEN_REQUESTS
    this.now = init.now
  }

  get size (): number {
    return this.entries.size
  }

  /** The answer given to this signature, if it was seen and is still remembered. */
  answerOf (signature: Uint8Array): Uint8Array | undefined {
    const key = Buffer.from(signature).toString('base64')
    const held = this.entries.get(key)
    if (held === undefined) return undefined
    if (held.until <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return held.answer
  }

  /** Forgets a signature (its request failed before it took effect, so running it again is no replay). */
  forget (signature: Uint8Array): void {
    this.entries.delete(Buffer.from(signature).toString('base64'))
  }

  /** Remembers the answer to a signed request until `until` (ms). */
  remember (signature: Uint8Array, answer: Uint8Array, until: number): void {
    this.entries.set(Buffer.from(signature).toString('base64'), { answer, until })
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!)
  }
}
