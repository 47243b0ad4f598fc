import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isGhostnodeError } from '../src/errors.js'
import {
  CELL_PAYLOAD_BYTES, CELL_SIZE, CREATE_HEADER_BYTES, RELAY_BODY_BYTES, RELAY_DATA_BYTES
} from '../src/onion/constants.js'

/**
 * A small mutation fuzzer for ghostnode's parsers. No coverage feedback: inputs are
 * random bytes or stacked structure-aware mutations of each target's seeds (and of
 * saved findings). Any thrown error that is not a GhostnodeError is a finding, as is
 * an input slower than the hang bound. Findings go to `<corpusDir>/<target>/<sha256>.bin`
 * and are replayed as regression tests by test/fuzz/short.test.ts.
 */

export interface FuzzTarget {
  name: string
  /** Valid (or nearly valid) inputs to mutate. */
  seeds(): Uint8Array[]
  /** Parse/process one input; throw a plain Error to report a broken invariant. */
  run(input: Uint8Array): void | Promise<void>
}

export interface FuzzOptions {
  /** Stop after this many inputs. @default 10000 */
  runs?: number
  /** Also stop after this many milliseconds. @default Infinity */
  timeMs?: number
  /** PRNG seed, printed in the report so a run can be repeated. @default random */
  seed?: number
  /** An input taking longer than this is a hang. @default 1000 */
  hangMs?: number
  /** Mutations never grow an input past this. @default 8192 */
  maxInputBytes?: number
  /** @default fuzz/corpus in the repository */
  corpusDir?: string
  /** Write findings to the corpus directory. @default true */
  saveFindings?: boolean
}

export interface FuzzFinding {
  kind: 'crash' | 'hang'
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
}

export const DEFAULT_FUZZ_RUNS = 10_000
export const DEFAULT_FUZZ_HANG_MS = 1000
export const DEFAULT_FUZZ_MAX_INPUT_BYTES = 8192
/** Resolved from dist/fuzz/harness.js to <repo>/fuzz/corpus. */
export const DEFAULT_CORPUS_DIR = fileURLToPath(new URL('../../fuzz/corpus', import.meta.url))

const INTERESTING_U8 = [0x00, 0x01, 0x02, 0x05, 0x7f, 0x80, 0xfe, 0xff]
const INTERESTING_U16 = [0, 1, 0xff, 0x100, RELAY_DATA_BYTES, RELAY_DATA_BYTES + 1, RELAY_BODY_BYTES, CELL_SIZE, 0x7fff, 0x8000, 0xfffe, 0xffff]
const INTERESTING_U32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]
const INTERESTING_SIZES = [0, 1, 4, 5, 11, 96, CREATE_HEADER_BYTES, RELAY_BODY_BYTES, CELL_PAYLOAD_BYTES, CELL_SIZE - 1, CELL_SIZE, CELL_SIZE + 1, 2 * CELL_SIZE]

/** mulberry32: tiny, seedable, good enough to drive mutations reproducibly. */
export class Prng {
  private state: number
  constructor (seed: number) { this.state = seed >>> 0 }
  next (): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0)
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  int (n: number): number { return Math.floor(this.next() * n) }
  pick<T> (items: readonly T[]): T { return items[this.int(items.length)] }
  bytes (n: number): Uint8Array { return Uint8Array.from({ length: n }, () => this.int(256)) }
}

function writeInt (out: Uint8Array, at: number, value: number, width: number, littleEndian: boolean): void {
  for (let i = 0; i < width && at + i < out.length; i++) {
    const shift = 8 * (littleEndian ? i : width - 1 - i)
    out[at + i] = Math.floor(value / 2 ** shift) & 0xff
  }
}

/** One random mutation of `input` (never in place). */
export function mutate (rng: Prng, input: Uint8Array, pool: readonly Uint8Array[], maxBytes: number): Uint8Array {
  let out = input.slice()
  const at = (): number => rng.int(Math.max(out.length, 1))
  switch (rng.int(12)) {
    case 0: if (out.length > 0) { const p = at(); out[p] ^= 1 << rng.int(8) } break
    case 1: if (out.length > 0) out[at()] = rng.int(256); break
    case 2: if (out.length > 0) out[at()] = rng.pick(INTERESTING_U8); break
    case 3: writeInt(out, at(), rng.pick(INTERESTING_U16), 2, rng.int(4) === 0); break
    case 4: writeInt(out, at(), rng.pick(INTERESTING_U32), 4, rng.int(4) === 0); break
    case 5: out = out.subarray(0, rng.int(out.length + 1)).slice(); break
    case 6: { const size = rng.pick(INTERESTING_SIZES); const next = new Uint8Array(size); next.set(out.subarray(0, size)); out = next; break }
    case 7: { const extra = rng.bytes(1 + rng.int(64)); const next = new Uint8Array(out.length + extra.length); next.set(out); next.set(extra, out.length); out = next; break }
    case 8: { // splice: head of this input, tail of another
      const other = rng.pick(pool)
      const cut = rng.int(out.length + 1)
      const from = rng.int(other.length + 1)
      const next = new Uint8Array(cut + other.length - from)
      next.set(out.subarray(0, cut))
      next.set(other.subarray(from), cut)
      out = next
      break
    }
    case 9: { // copy a range over another position
      if (out.length < 2) break
      const src = at(); const len = 1 + rng.int(Math.min(64, out.length - src)); const dst = at()
      out.copyWithin(dst, src, src + len)
      break
    }
    case 10: { // delete a range
      const start = at(); const len = rng.int(Math.min(64, out.length - start) + 1)
      const next = new Uint8Array(out.length - len)
      next.set(out.subarray(0, start)); next.set(out.subarray(start + len), start)
      out = next
      break
    }
    default: { // insert random bytes
      const start = rng.int(out.length + 1); const extra = rng.bytes(1 + rng.int(16))
      const next = new Uint8Array(out.length + extra.length)
      next.set(out.subarray(0, start)); next.set(extra, start); next.set(out.subarray(start), start + extra.length)
      out = next
    }
  }
  return out.length > maxBytes ? out.slice(0, maxBytes) : out
}

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

/** Fuzz one target. */
export async function fuzz (target: FuzzTarget, options: FuzzOptions = {}): Promise<FuzzReport> {
  const runs = options.runs ?? DEFAULT_FUZZ_RUNS
  const timeMs = options.timeMs ?? Infinity
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32)
  const hangMs = options.hangMs ?? DEFAULT_FUZZ_HANG_MS
  const maxBytes = options.maxInputBytes ?? DEFAULT_FUZZ_MAX_INPUT_BYTES
  const corpusDir = options.corpusDir ?? DEFAULT_CORPUS_DIR
  const save = options.saveFindings ?? true
  const rng = new Prng(seed)
  const pool = [...target.seeds(), ...(await loadCorpus(target.name, corpusDir)).map(c => c.input)]
  if (pool.length === 0) pool.push(new Uint8Array(0))

  const report: FuzzReport = { target: target.name, seed, runs: 0, typedErrors: 0, accepted: 0, findings: [], elapsedMs: 0 }
  const seen = new Set<string>()
  const start = performance.now()
  while (report.runs < runs && performance.now() - start < timeMs) {
    let input: Uint8Array
    if (rng.int(20) === 0) {
      input = rng.bytes(rng.pick(INTERESTING_SIZES) + rng.int(3))
    } else {
      input = rng.pick(pool)
      const rounds = 1 + rng.int(4)
      for (let i = 0; i < rounds; i++) input = mutate(rng, input, pool, maxBytes)
    }
    report.runs++
    const outcome = await runOne(target, input, hangMs)
    if (outcome.kind === 'ok') { report.accepted++; continue }
    if (outcome.kind === 'typed') { report.typedErrors++; continue }
    const sha = sha256(input)
    if (seen.has(sha)) continue
    seen.add(sha)
    const finding: FuzzFinding = { kind: outcome.kind, sha, input, error: outcome.error, durationMs: outcome.durationMs }
    if (save) {
      const dir = join(corpusDir, target.name)
      await mkdir(dir, { recursive: true })
      finding.file = join(dir, `${sha}.bin`)
      await writeFile(finding.file, input)
    }
    report.findings.push(finding)
  }
  report.elapsedMs = performance.now() - start
  return report
}

/** Replay saved findings; returns those that still crash or hang. */
export async function replayCorpus (target: FuzzTarget, corpusDir = DEFAULT_CORPUS_DIR, hangMs = DEFAULT_FUZZ_HANG_MS): Promise<FuzzFinding[]> {
  const findings: FuzzFinding[] = []
  for (const { file, input } of await loadCorpus(target.name, corpusDir)) {
    const outcome = await runOne(target, input, hangMs)
    if (outcome.kind !== 'ok' && outcome.kind !== 'typed') {
      findings.push({ kind: outcome.kind, sha: sha256(input), input, error: outcome.error, durationMs: outcome.durationMs, file })
    }
  }
  return findings
}

/** One line per finding, for logs and assertion messages. */
export function describeFinding (f: FuzzFinding): string {
  const err = f.error instanceof Error ? `${f.error.name}: ${f.error.message}` : String(f.error ?? '')
  return `${f.kind} ${f.sha.slice(0, 16)} (${f.input.length} B, ${f.durationMs.toFixed(1)} ms) ${err}`
}
