import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isGhostnodeError } from '../src/errors.js'
import { INTERESTING_SIZES, mutate, Prng } from './mutate.js'

export { mutate, Prng }

/**
 * A small mutation fuzzer for ghostnode's parsers and wire handlers. No coverage
 * feedback: inputs are random bytes or stacked mutations (byte-level, and the
 * target's own structure-aware ones) of each target's seeds and saved findings.
 * Any thrown error that is not a GhostnodeError is a finding, as is an input
 * slower than the hang bound, a promise rejection nobody handled, and, for a
 * target that keeps state across inputs, state over one of its bounds. Findings go to `<corpusDir>/<target>/<sha256>.bin`
 * and are replayed as regression tests by test/fuzz/short.test.ts.
 */

export interface FuzzTarget {
  name: string
  /** Valid (or nearly valid) inputs to mutate. */
  seeds(): Uint8Array[]
  /** Parse/process one input; throw a plain Error to report a broken invariant. */
  run(input: Uint8Array): void | Promise<void>
  /** A structure-aware mutation (e.g. edit a parsed document), mixed with the byte mutations. */
  mutate?(rng: Prng, input: Uint8Array, pool: readonly Uint8Array[]): Uint8Array
  /** Inputs in the short run `npm test` does, for a target far slower per input than a parser. @default 3000 */
  shortRuns?: number
  /** Longest input this target is given unless FuzzOptions.maxInputBytes says otherwise. @default 8192 */
  maxInputBytes?: number
  /** Builds the state run() keeps across inputs; called before the first input of a run or replay. */
  setUp?(): Promise<void>
  /** Releases that state (timers, databases, temp dirs); called after the last input. */
  tearDown?(): Promise<void>
  /**
   * Sizes of the state kept across inputs (circuits, queued bytes...), read after
   * every input and compared with stateBounds; must be cheap.
   */
  state?(): Record<string, number>
  /** Largest allowed value of each state() entry: a larger one is a 'growth' finding. */
  stateBounds?: Readonly<Record<string, number>>
}

export interface FuzzOptions {
  /** Stop after this many inputs. @default 10000 */
  runs?: number
  /** Also stop after this many milliseconds (whichever comes first). @default Infinity */
  timeMs?: number
  /** PRNG seed, printed in the report so a run can be repeated. @default random */
  seed?: number
  /** An input taking longer than this is a hang. @default 1000 */
  hangMs?: number
  /** Mutations never grow an input past this. @default the target's maxInputBytes, else 8192 */
  maxInputBytes?: number
  /** @default fuzz/corpus in the repository */
  corpusDir?: string
  /** Write findings to the corpus directory. @default true */
  saveFindings?: boolean
}

export interface FuzzFinding {
  /** crash: an untyped error; hang: over the time bound; growth: state over a bound. */
  kind: 'crash' | 'hang' | 'growth'
  sha: string
  input: Uint8Array
  error?: unknown
  durationMs: number
  file?: string
}

export interface FuzzReport {
  target: string
  seed: number
  runs: number
  /** Inputs rejected with a GhostnodeError (the expected outcome for garbage). */
  typedErrors: number
  /** Inputs processed without an error. */
  accepted: number
  findings: FuzzFinding[]
  elapsedMs: number
  /** Largest value seen of each state() entry (stateful targets only). */
  statePeak?: Record<string, number>
}

/** A stateful target's state went over one or more of its bounds (a leak or a missing limit). */
export class StateBoundError extends Error {
  readonly exceeded: ReadonlyArray<{ key: string, value: number, bound: number }>
  constructor (exceeded: ReadonlyArray<{ key: string, value: number, bound: number }>) {
    super(`state over its bound: ${exceeded.map(e => `${e.key} is ${e.value} > ${e.bound}`).join(', ')}`)
    this.name = 'StateBoundError'
    this.exceeded = exceeded
  }
}

export const DEFAULT_FUZZ_RUNS = 10_000
export const DEFAULT_FUZZ_HANG_MS = 1000
export const DEFAULT_FUZZ_MAX_INPUT_BYTES = 8192
/** Resolved from dist/fuzz/harness.js to <repo>/fuzz/corpus. */
export const DEFAULT_CORPUS_DIR = fileURLToPath(new URL('../../fuzz/corpus', import.meta.url))

/** Run `fn`; return its value, or undefined if it threw a GhostnodeError. Other errors propagate. */
export async function tolerateTyped<T> (fn: () => T | Promise<T>): Promise<T | undefined> {
  try {
    return await fn()
  } catch (err) {
    if (isGhostnodeError(err)) return undefined
    throw err
  }
}

/**
 * Runs several parser steps on one input, remembering the first typed rejection so
 * a target can keep exploring and still report the input as rejected at the end
 * (which is what the report's typedErrors/accepted counts mean).
 */
export class Rejections {
  private first: unknown
  private rejected = false

  /** Run one step; a GhostnodeError is recorded and yields undefined, anything else propagates. */
  async attempt<T> (fn: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await fn()
    } catch (err) {
      if (!isGhostnodeError(err)) throw err
      if (!this.rejected) {
        this.rejected = true
        this.first = err
      }
      return undefined
    }
  }

  /** Throw the first recorded rejection, if any. */
  finish (): void {
    if (this.rejected) throw this.first
  }
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

/** Saved findings of `targetName` (empty if none). */
export async function loadCorpus (targetName: string, corpusDir = DEFAULT_CORPUS_DIR): Promise<Array<{ file: string, input: Uint8Array }>> {
  const dir = join(corpusDir, targetName)
  let names: string[]
  try {
    names = (await readdir(dir)).filter(n => n.endsWith('.bin')).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  return Promise.all(names.map(async name => ({ file: join(dir, name), input: new Uint8Array(await readFile(join(dir, name))) })))
}

type Outcome =
  | { kind: 'ok', durationMs: number }
  | { kind: 'typed', durationMs: number }
  | { kind: 'crash', durationMs: number, error: unknown }
  | { kind: 'hang', durationMs: number, error?: unknown }

/** Run one input with crash and hang classification. */
export async function runOne (target: FuzzTarget, input: Uint8Array, hangMs = DEFAULT_FUZZ_HANG_MS): Promise<Outcome> {
  const start = performance.now()
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise<'hang'>(resolve => { timer = setTimeout(() => { resolve('hang') }, hangMs) })
  try {
    // A synchronous target cannot be interrupted; its duration is judged afterwards.
    const result = await Promise.race([Promise.resolve().then(async () => { await target.run(input) }), hang])
    const durationMs = performance.now() - start
    if (result === 'hang' || durationMs > hangMs) return { kind: 'hang', durationMs }
    return { kind: 'ok', durationMs }
  } catch (error) {
    const durationMs = performance.now() - start
    if (!isGhostnodeError(error)) return { kind: 'crash', durationMs, error }
    return durationMs > hangMs ? { kind: 'hang', durationMs, error } : { kind: 'typed', durationMs }
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Compares a target's state with its bounds after each input. A key is reported
 * once when it goes over, not again for every input while it stays there.
 */
class StateWatch {
  readonly peak: Record<string, number> = {}
  private readonly over = new Set<string>()
  private readonly target: FuzzTarget

  constructor (target: FuzzTarget) {
    this.target = target
  }

  get enabled (): boolean {
    return this.target.state != null
  }

  /** The bounds newly exceeded, if any. */
  check (): StateBoundError | undefined {
    const state = this.target.state?.()
    if (state == null) return undefined
    const exceeded: Array<{ key: string, value: number, bound: number }> = []
    for (const [key, value] of Object.entries(state)) {
      this.peak[key] = Math.max(this.peak[key] ?? value, value)
      const bound = this.target.stateBounds?.[key] ?? Infinity
      if (!(value > bound)) {
        this.over.delete(key)
      } else if (!this.over.has(key)) {
        this.over.add(key)
        exceeded.push({ key, value, bound })
      }
    }
    return exceeded.length === 0 ? undefined : new StateBoundError(exceeded)
  }
}

/**
 * Promise rejections nobody handled while a target runs (e.g. from work a
 * wire handler started with `void`): in the daemon they would bring the
 * process down. Each is charged to the input during or after which it surfaced.
 */
class StrayRejections {
  private readonly seen: unknown[] = []
  private readonly listener = (reason: unknown): void => { this.seen.push(reason) }

  start (): void { process.on('unhandledRejection', this.listener) }
  stop (): void { process.off('unhandledRejection', this.listener) }

  /** The first rejection since the last call, if any. */
  take (): { error: unknown } | undefined {
    if (this.seen.length === 0) return undefined
    const error = this.seen[0]
    this.seen.length = 0
    return { error }
  }
}

async function withTarget<T> (target: FuzzTarget, fn: (strays: StrayRejections) => Promise<T>): Promise<T> {
  const strays = new StrayRejections()
  strays.start()
  await target.setUp?.()
  try {
    return await fn(strays)
  } finally {
    try {
      await target.tearDown?.()
    } finally {
      strays.stop()
    }
  }
}

/** Fuzz one target. */
export async function fuzz (target: FuzzTarget, options: FuzzOptions = {}): Promise<FuzzReport> {
  const runs = options.runs ?? DEFAULT_FUZZ_RUNS
  const timeMs = options.timeMs ?? Infinity
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32)
  const hangMs = options.hangMs ?? DEFAULT_FUZZ_HANG_MS
  const maxBytes = options.maxInputBytes ?? target.maxInputBytes ?? DEFAULT_FUZZ_MAX_INPUT_BYTES
  const corpusDir = options.corpusDir ?? DEFAULT_CORPUS_DIR
  const save = options.saveFindings ?? true
  const rng = new Prng(seed)
  const pool = [...target.seeds(), ...(await loadCorpus(target.name, corpusDir)).map(c => c.input)]
  if (pool.length === 0) pool.push(new Uint8Array(0))

  const report: FuzzReport = { target: target.name, seed, runs: 0, typedErrors: 0, accepted: 0, findings: [], elapsedMs: 0 }
  const seen = new Set<string>()
  const watch = new StateWatch(target)
  const record = async (kind: FuzzFinding['kind'], input: Uint8Array, error: unknown, durationMs: number): Promise<void> => {
    const sha = sha256(input)
    if (seen.has(`${kind}:${sha}`)) return
    seen.add(`${kind}:${sha}`)
    const finding: FuzzFinding = { kind, sha, input, error, durationMs }
    if (save) {
      const dir = join(corpusDir, target.name)
      await mkdir(dir, { recursive: true })
      finding.file = join(dir, `${sha}.bin`)
      await writeFile(finding.file, input)
    }
    report.findings.push(finding)
  }

  const start = performance.now()
  await withTarget(target, async (strays) => {
    while (report.runs < runs && performance.now() - start < timeMs) {
      let input: Uint8Array
      if (rng.int(20) === 0) {
        input = rng.bytes(Math.min(rng.pick(INTERESTING_SIZES) + rng.int(3), maxBytes))
      } else {
        input = rng.pick(pool)
        const rounds = 1 + rng.int(4)
        for (let i = 0; i < rounds; i++) {
          input = target.mutate != null && rng.int(2) === 0
            ? target.mutate(rng, input, pool)
            : mutate(rng, input, pool, maxBytes)
          if (input.length > maxBytes) input = input.slice(0, maxBytes)
        }
      }
      report.runs++
      const outcome = await runOne(target, input, hangMs)
      if (outcome.kind === 'ok') report.accepted++
      else if (outcome.kind === 'typed') report.typedErrors++
      else await record(outcome.kind, input, outcome.error, outcome.durationMs)
      const stray = strays.take()
      if (stray != null) await record('crash', input, stray.error, outcome.durationMs)
      // the input that pushed the state over a bound is the one saved
      const growth = watch.check()
      if (growth != null) await record('growth', input, growth, outcome.durationMs)
    }
  })
  report.elapsedMs = performance.now() - start
  if (watch.enabled) report.statePeak = watch.peak
  return report
}

/** Replay saved findings; returns those that still crash, hang or push the state over a bound. */
export async function replayCorpus (target: FuzzTarget, corpusDir = DEFAULT_CORPUS_DIR, hangMs = DEFAULT_FUZZ_HANG_MS): Promise<FuzzFinding[]> {
  const findings: FuzzFinding[] = []
  const corpus = await loadCorpus(target.name, corpusDir)
  if (corpus.length === 0) return findings
  const watch = new StateWatch(target)
  await withTarget(target, async (strays) => {
    for (const { file, input } of corpus) {
      const outcome = await runOne(target, input, hangMs)
      if (outcome.kind !== 'ok' && outcome.kind !== 'typed') {
        findings.push({ kind: outcome.kind, sha: sha256(input), input, error: outcome.error, durationMs: outcome.durationMs, file })
      }
      const stray = strays.take()
      if (stray != null) findings.push({ kind: 'crash', sha: sha256(input), input, error: stray.error, durationMs: outcome.durationMs, file })
      const growth = watch.check()
      if (growth != null) findings.push({ kind: 'growth', sha: sha256(input), input, error: growth, durationMs: outcome.durationMs, file })
    }
  })
  return findings
}

/** One line per finding, for logs and assertion messages. */
export function describeFinding (f: FuzzFinding): string {
  const err = f.error instanceof Error ? `${f.error.name}: ${f.error.message}` : String(f.error ?? '')
  return `${f.kind} ${f.sha.slice(0, 16)} (${f.input.length} B, ${f.durationMs.toFixed(1)} ms) ${err}`
}
