import { randomFillSync } from 'node:crypto'

/**
 * Pooled CSPRNG output for padding and filler bytes.
 *
 * `randomFillSync` has a fixed per-call cost (~2 µs for 1 KiB here) that dominates
 * small fills; filling a 64 KiB pool once costs ~10 µs, i.e. ~0.15 µs per KiB (see
 * bench/onion-micro.ts). Bytes are handed out once and never reused, so the output
 * is exactly as unpredictable as direct `randomFillSync` output.
 */
const POOL_BYTES = 64 * 1024
/** Fills at least this large bypass the pool: the per-call overhead is already amortised. */
const DIRECT_FILL_BYTES = 16 * 1024

const pool = new Uint8Array(POOL_BYTES)
let poolOffset = POOL_BYTES

/** Reserves `n` unused pool bytes (refilling the pool when it runs short) and returns where they start. */
function takeFromPool (n: number): number {
  if (poolOffset + n > POOL_BYTES) {
    randomFillSync(pool)
    poolOffset = 0
  }
  const start = poolOffset
  poolOffset += n
  return start
}

/** Fill `target` with cryptographically secure random bytes and return it. */
export function randomFill<T extends Uint8Array> (target: T): T {
  const n = target.byteLength
  if (n >= DIRECT_FILL_BYTES) {
    randomFillSync(target)
    return target
  }
  const start = takeFromPool(n)
  target.set(pool.subarray(start, start + n))
  // Wipe what we handed out so a later heap dump cannot replay it.
  pool.fill(0, start, start + n)
  return target
}

/**
 * Fill `target[offset, offset + length)` the same way, without creating a view:
 * the relay's per-cell path allocates nothing.
 */
export function randomFillAt (target: Uint8Array, offset: number, length: number): void {
  if (length >= DIRECT_FILL_BYTES) {
    randomFillSync(target, offset, length)
    return
  }
  const start = takeFromPool(length)
  for (let i = 0; i < length; i++) {
    target[offset + i] = pool[start + i]
    pool[start + i] = 0
  }
}

/** A new array of `n` cryptographically secure random bytes. */
export function randomBytes (n: number): Uint8Array {
  return randomFill(new Uint8Array(n))
}
