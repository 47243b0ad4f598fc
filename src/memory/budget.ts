import type { MemoryHolder } from './relief.js'

/**
 * Frees memory down to `targetBytes` (or as close as it can) by closing the
 * biggest holders; the relay installs one.
 */
export type PressureHandler = (targetBytes: number) => void

export interface MemoryBudgetOptions {
  /**
   * When a reservation finds the budget spent, the pressure handler is asked
   * to free down to this share of the limit, so relief runs once per burst of
   * pressure rather than once per cell. @default 0.9
   */
  reliefRatio?: number
  /** A relief that freed nothing is not retried for this long (each one scans every holder). @default 100 */
  reliefCooldownMs?: number
  /** @default performance.now */
  now?: () => number
}

const DEFAULT_RELIEF_RATIO = 0.9
const DEFAULT_RELIEF_COOLDOWN_MS = 100

/**
 * One node-wide budget for memory that peers can make the node hold: cells
 * queued on links, fragments waiting for reassembly, requests executing at the
 * exit (Tor's MaxMemInQueues). When a reservation would exceed it, the
 * pressure handler closes the biggest holders, then the reservation is
 * refused if there is still no room and the caller sheds.
 *
 * The memory watchdog lowers the limit (`clamp`) while the process's RSS is
 * near its bound, so what peers hold cannot grow back while it is.
 */
export class MemoryBudget {
  readonly maxBytes: number
  private limitBytes: number
  private usedBytes = 0
  private onPressure?: PressureHandler
  private relieving = false
  private readonly reliefRatio: number
  private readonly reliefCooldownMs: number
  private readonly now: () => number
  private fruitlessUntil = -Infinity
  private readonly sources = new Set<() => MemoryHolder[]>()

  constructor (maxBytes: number, options: MemoryBudgetOptions = {}) {
    this.maxBytes = maxBytes
    this.limitBytes = maxBytes
    this.reliefRatio = options.reliefRatio ?? DEFAULT_RELIEF_RATIO
    this.reliefCooldownMs = options.reliefCooldownMs ?? DEFAULT_RELIEF_COOLDOWN_MS
    this.now = options.now ?? (() => performance.now())
  }

  get used (): number {
    return this.usedBytes
  }

  /** The limit in force: maxBytes, or less while clamped. */
  get limit (): number {
    return this.limitBytes
  }

  /**
   * Registers more holders of this budget (say, the swarm's streams with
   * partial frames) for the pressure handler to weigh with its own; returns
   * the unregister function.
   */
  addHolderSource (source: () => MemoryHolder[]): () => void {
    this.sources.add(source)
    return () => { this.sources.delete(source) }
  }

  /** The holders every registered source reports now. */
  otherHolders (): MemoryHolder[] {
    return [...this.sources].flatMap(source => source())
  }

  /** Installs what to do when the budget is exhausted. */
  setPressureHandler (handler: PressureHandler): void {
    this.onPressure = handler
  }

  /** Lowers the limit to `bytes` (never above maxBytes); without an argument, restores maxBytes. */
  clamp (bytes?: number): void {
    this.limitBytes = bytes == null ? this.maxBytes : Math.max(0, Math.min(this.maxBytes, bytes))
  }

  tryReserve (bytes: number): boolean {
    if (this.usedBytes + bytes > this.limitBytes && this.now() >= this.fruitlessUntil) {
      this.relieve(this.limitBytes * this.reliefRatio - bytes)
    }
    if (this.usedBytes + bytes > this.limitBytes) return false
    this.usedBytes += bytes
    return true
  }

  release (bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes)
  }

  /** Asks the pressure handler to free memory down to `targetBytes`; returns the bytes freed. */
  relieve (targetBytes: number): number {
    if (this.onPressure == null || this.relieving) return 0
    const before = this.usedBytes
    this.relieving = true
    try {
      this.onPressure(Math.max(0, targetBytes))
    } finally {
      this.relieving = false
    }
    const freed = Math.max(0, before - this.usedBytes)
    if (freed === 0) this.fruitlessUntil = this.now() + this.reliefCooldownMs
    return freed
  }
}
