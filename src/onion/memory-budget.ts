/**
 * One node-wide budget for memory that peers can make the node hold: cells
 * queued on links and fragments waiting for reassembly (Tor's MaxMemInQueues).
 * When a reservation would exceed it, `onPressure` gets one chance to free
 * memory (the link manager closes the link holding the most), then the
 * reservation is refused and the caller sheds.
 */
export class MemoryBudget {
  readonly maxBytes: number
  private usedBytes = 0
  private onPressure?: () => void
  private relieving = false

  constructor (maxBytes: number) {
    this.maxBytes = maxBytes
  }

  get used (): number {
    return this.usedBytes
  }

  /** Installs what to do when the budget is exhausted. */
  setPressureHandler (handler: () => void): void {
    this.onPressure = handler
  }

  tryReserve (bytes: number): boolean {
    if (this.usedBytes + bytes > this.maxBytes && this.onPressure != null && !this.relieving) {
      this.relieving = true
      try {
        this.onPressure()
      } finally {
        this.relieving = false
      }
    }
    if (this.usedBytes + bytes > this.maxBytes) return false
    this.usedBytes += bytes
    return true
  }

  release (bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes)
  }
}
