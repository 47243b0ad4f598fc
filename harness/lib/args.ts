import { parseArgs, type ParseArgsConfig } from 'node:util'
import { BenchUsageError } from './errors.js'

/** node:util parseArgs, strict, with its errors turned into BenchUsageError (exit code 2). */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>> (argv: string[], options: T): ReturnType<typeof parseArgs<{ args: string[], options: T, strict: true, allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new BenchUsageError((err as Error).message)
  }
}

/** An integer flag within [min, max], or the default when absent. */
export function intFlag (name: string, value: string | undefined, fallback: number, min: number, max: number): number
export function intFlag (name: string, value: string | undefined, fallback: undefined, min: number, max: number): number | undefined
export function intFlag (name: string, value: string | undefined, fallback: number | undefined, min: number, max: number): number | undefined {
  if (value == null) return fallback
  if (!/^\d+$/.test(value)) throw new BenchUsageError(`--${name} expects an integer, got "${value}"`)
  const n = Number(value)
  if (n < min || n > max) throw new BenchUsageError(`--${name} must be from ${min} to ${max}, got ${n}`)
  return n
}

/** A positive number flag (fractions allowed, e.g. --seconds 2.5). */
export function numberFlag (name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value == null) return fallback
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n)) throw new BenchUsageError(`--${name} expects a number, got "${value}"`)
  if (n < min || n > max) throw new BenchUsageError(`--${name} must be from ${min} to ${max}, got ${n}`)
  return n
}

/** Comma-separated list flag; empty items dropped. */
export function listFlag (value: string | undefined): string[] | undefined {
  return value?.split(',').map(s => s.trim()).filter(s => s !== '')
}

/**
 * SIGINT/SIGTERM/SIGHUP abort the run (everything started is stopped in
 * order); a second signal exits at once, and the testnet's exit hook then
 * SIGKILLs the tracked processes and removes namespaces.
 */
export function abortOnSignals (log: (line: string) => void): { signal: AbortSignal, dispose: () => void } {
  const controller = new AbortController()
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  const onSignal = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      log(`${name} again: exiting now (started processes get SIGKILL)`)
      process.exit(130)
    }
    log(`${name} received: stopping the run and everything it started`)
    controller.abort()
  }
  for (const s of signals) process.on(s, onSignal)
  return { signal: controller.signal, dispose: () => { for (const s of signals) process.off(s, onSignal) } }
}
