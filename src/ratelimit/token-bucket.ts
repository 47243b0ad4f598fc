import { InvalidCostError, InvalidRateLimitConfigError } from './errors.js'

export interface TokenBucketInit {
  /** Sustained refill rate in tokens per second at weight 1. */
  ratePerSecond: number
  /** Capacity in tokens at weight 1. */
  burst: number
  /** Clock in milliseconds; injected so tests need no timers. */
  now: () => number
  /** Multiplier applied to both rate and burst (the reputation tier weight). @default 1 */
  weight?: number
}

/**
 * A token bucket with lazy, fractional refill: no timers, O(1) per call, the
 * state is two numbers. The effective rate and burst are `base × weight`,
 * always computed from the base values so a weight change is exact and does
 * not drift (×0.1 then ×10 gives back the base exactly).
 *
 * Rescaling keeps the fill fraction: a bucket 40% full stays 40% full. A peer
 * demoted mid-flood does not keep a stock sized for its old tier, and a peer
 * promoted for good behaviour does not start empty (which would punish the
 * behaviour that earned the promotion).
 */
export class TokenBucket {
  private _baseRate: number
  private _baseBurst: number
  private readonly now: () => number
  private _weight: number
  private _rate: number
  private _burst: number
  private tokens: number
  private updatedAt: number

  constructor (init: TokenBucketInit) {
    checkPositive('ratePerSecond', init.ratePerSecond)
    checkPositive('burst', init.burst)
    const weight = init.weight ?? 1
    checkPositive('weight', weight)
    this._baseRate = init.ratePerSecond
    this._baseBurst = init.burst
    this.now = init.now
    this._weight = weight
    this._rate = init.ratePerSecond * weight
    this._burst = init.burst * weight
    this.tokens = this._burst
    this.updatedAt = this.now()
  }

  get baseRatePerSecond (): number { return this._baseRate }
  get baseBurst (): number { return this._baseBurst }
  get weight (): number { return this._weight }
  /** Effective rate in tokens per second (base × weight). */
  get ratePerSecond (): number { return this._rate }
  /** Effective capacity in tokens (base × weight). */
  get burst (): number { return this._burst }

  /** Tokens available now (fractional). */
  available (): number {
    this.refill()
    return this.tokens
  }

  /** True when the bucket is at capacity, i.e. dropping it and starting a new one loses nothing. */
  isFull (): boolean {
    return this.available() >= this._burst
  }

  /**
   * Takes `cost` tokens if that many are available. Returns 0 when taken,
   * otherwise the milliseconds until they would be (Infinity when `cost`
   * exceeds the burst and so can never be met). Nothing is taken on failure.
   *
   * @throws {InvalidCostError} when cost is negative or not a number (a caller bug)
   */
  take (cost = 1): number {
    if (!(cost >= 0)) throw new InvalidCostError(cost)
    this.refill()
    if (this.tokens >= cost) {
      this.tokens -= cost
      return 0
    }
    if (cost > this._burst) return Infinity
    return Math.ceil((cost - this.tokens) * 1000 / this._rate)
  }

  /** take() as a boolean. */
  tryTake (cost = 1): boolean {
    return this.take(cost) === 0
  }

  /**
   * Sets the multiplier (absolute, not cumulative) for rate and burst, keeping
   * the fill fraction. Tokens accrued before the change are counted at the
   * old rate.
   */
  setWeight (weight: number): void {
    if (weight === this._weight) return
    checkPositive('weight', weight)
    this.refill()
    const fraction = this.tokens / this._burst
    this._weight = weight
    this._rate = this._baseRate * weight
    this._burst = this._baseBurst * weight
    this.tokens = fraction === 1 ? this._burst : fraction * this._burst
  }

  /**
   * New base rate and burst (a config reload), keeping the weight and, like a
   * weight change, the fill fraction.
   */
  setBase (ratePerSecond: number, burst: number): void {
    checkPositive('ratePerSecond', ratePerSecond)
    checkPositive('burst', burst)
    this.refill()
    const fraction = this.tokens / this._burst
    this._baseRate = ratePerSecond
    this._baseBurst = burst
    this._rate = ratePerSecond * this._weight
    this._burst = burst * this._weight
    this.tokens = fraction === 1 ? this._burst : fraction * this._burst
  }

  private refill (): void {
    const now = this.now()
    // A clock that steps backwards (NTP) must neither mint nor destroy tokens.
    if (now <= this.updatedAt) return
    if (this.tokens < this._burst) {
      this.tokens = Math.min(this._burst, this.tokens + (now - this.updatedAt) * this._rate / 1000)
    }
    this.updatedAt = now
  }
}

function checkPositive (key: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidRateLimitConfigError(key, value, 'must be a finite number greater than 0')
  }
}
