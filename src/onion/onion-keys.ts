import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { inspectSecretFile, writeSecretFile } from '../secret-file.js'
import { generateOnionKey, onionKeyFromRaw, x25519PrivateKeyToRaw, type OnionKey } from '../crypto/x25519.js'
import { InvalidOnionOptionError } from './errors.js'
import { DEFAULT_ONION_EPOCH_MS, DEFAULT_ONION_GRACE_MS } from '../wire/onion-format.js'
import { InsecureOnionKeyFileError, InvalidOnionKeyFileError, OnionKeysNotLoadedError } from '../directory/record-errors.js'
import type { ComponentLogger, Logger, Startable } from '@libp2p/interface'

export const ONION_KEY_FILE_NAME = 'onion-keys.json'
/** Retry delay after a failed rotation (disk error); the old key stays in use meanwhile. */
const ROTATE_RETRY_MS = 60_000
/** setTimeout's largest delay; longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1
const FILE_FORMAT = 1
const DATA_DIR_MODE = 0o700
/** Onion-key epochs are u32 on the wire (node records, replay filter). */
const MAX_EPOCH = 0xffffffff

export interface OnionKeyManagerInit {
  /** Directory holding `onion-keys.json` (created 0700 if missing). */
  dataDir: string
  /** Length of an onion-key epoch. @default 86400000 */
  epochMs?: number
  /** How long after rotation the previous key is still accepted; at most one epoch. @default 7200000 */
  graceMs?: number
  /** Clock (ms since the Unix epoch). @default Date.now */
  now?: () => number
}

export interface OnionKeyManagerComponents {
  logger: ComponentLogger
}

interface KeyFile {
  version: number
  epochMs: number
  keys: Array<{ epoch: number, privateKey: string }>
}

/**
 * The node's X25519 onion keys, separate from its libp2p identity. One key per
 * epoch (floor(now / epochMs)); the previous key stays acceptable for
 * `graceMs` after the boundary so circuits built from a cached record still
 * work. Keys live in `<dataDir>/onion-keys.json` (0600, replaced atomically),
 * so a restart keeps the key that is already published.
 */
export class OnionKeyManager implements Startable {
  readonly epochMs: number
  readonly graceMs: number
  readonly path: string
  private readonly dataDir: string
  private readonly now: () => number
  private readonly log: Logger
  private readonly keys = new Map<number, OnionKey>()
  private readonly rotateListeners = new Set<(key: OnionKey) => void>()
  private readonly expireListeners = new Set<(epoch: number) => void>()
  private timer?: ReturnType<typeof setTimeout>
  private running = false
  private loaded = false
  /** Serialises rotations so a timer tick and an explicit call never write the file at once. */
  private queue: Promise<void> = Promise.resolve()

  constructor (components: OnionKeyManagerComponents, init: OnionKeyManagerInit) {
    this.epochMs = init.epochMs ?? DEFAULT_ONION_EPOCH_MS
    this.graceMs = init.graceMs ?? DEFAULT_ONION_GRACE_MS
    if (!Number.isSafeInteger(this.epochMs) || this.epochMs < 1_000) {
      throw new InvalidOnionOptionError('onion key epochMs must be an integer ≥ 1000')
    }
    if (!Number.isSafeInteger(this.graceMs) || this.graceMs < 0 || this.graceMs > this.epochMs) {
      throw new InvalidOnionOptionError('onion key graceMs must be an integer between 0 and epochMs')
    }
    this.dataDir = init.dataDir
    this.path = join(init.dataDir, ONION_KEY_FILE_NAME)
    this.now = init.now ?? Date.now
    this.log = components.logger.forComponent('ghostnode:onion-keys')
  }

  readonly [Symbol.toStringTag] = 'ghostnode:onion-keys'

  /** Loads the key file (creating the current key if needed) and arms the rotation timer. */
  async start (): Promise<void> {
    if (this.running) return
    await this.enqueue(async () => {
      if (!this.loaded) await this.load()
      this.loaded = true
      await this.rotateNow()
    })
    this.running = true
    this.schedule()
  }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** The epoch that contains time `t`. */
  epochAt (t: number): number {
    return Math.floor(t / this.epochMs)
  }

  /** The last instant (exclusive) at which a key of `epoch` is accepted: epoch end + grace. */
  acceptedUntil (epoch: number): number {
    return (epoch + 1) * this.epochMs + this.graceMs
  }

  /** The key to publish now. */
  current (): OnionKey {
    const key = this.keys.get(this.epochAt(this.now()))
    if (key == null) {
      // rotateIfDue() has not run since the boundary; the newest accepted key is still correct to use
      const newest = this.keysForCreate()[0]
      if (newest == null) throw new OnionKeysNotLoadedError()
      return newest
    }
    return key
  }

  /**
   * Keys a CREATE may have been built for, newest first: the current key and,
   * within the grace period after a rotation, the previous one.
   */
  keysForCreate (): OnionKey[] {
    const t = this.now()
    const current = this.epochAt(t)
    return [...this.keys.values()]
      .filter(k => k.epoch <= current && t < this.acceptedUntil(k.epoch))
      .sort((a, b) => b.epoch - a.epoch)
  }

  /** Subscribes to rotations (a new current key); returns the unsubscribe function. */
  onRotate (listener: (key: OnionKey) => void): () => void {
    this.rotateListeners.add(listener)
    return () => { this.rotateListeners.delete(listener) }
  }

  /**
   * Subscribes to expiries (a key is no longer accepted and is deleted): the
   * replay filter drops that epoch's tags. Keys found expired in the file at
   * start are reported too.
   */
  onExpire (listener: (epoch: number) => void): () => void {
    this.expireListeners.add(listener)
    return () => { this.expireListeners.delete(listener) }
  }

  /** Creates the key of the current epoch and drops expired keys, if due. Tests call it with a fake clock. */
  async rotateIfDue (): Promise<void> {
    if (!this.loaded) throw new OnionKeysNotLoadedError()
    await this.enqueue(async () => { await this.rotateNow() })
    if (this.running) this.schedule()
  }

  private async enqueue (task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task)
    this.queue = run.catch(() => {})
    await run
  }

  private async rotateNow (): Promise<void> {
    const t = this.now()
    const epoch = this.epochAt(t)
    if (epoch > MAX_EPOCH) throw new InvalidOnionOptionError('onion key epoch exceeds u32; epochMs is too small')
    const expired = [...this.keys.keys()].filter(e => t >= this.acceptedUntil(e))
    const created = this.keys.has(epoch) ? undefined : generateOnionKey(epoch)
    if (created == null && expired.length === 0) return

    // persist before publishing: a key announced in a record must survive a crash
    const next = new Map(this.keys)
    if (created != null) next.set(epoch, created)
    for (const e of expired) next.delete(e)
    await this.save(next)

    this.keys.clear()
    for (const [e, k] of next) this.keys.set(e, k)
    for (const e of expired) {
      this.log('onion key of epoch %d expired', e)
      this.emit(this.expireListeners, e)
    }
    if (created != null) {
      this.log('rotated to the onion key of epoch %d', epoch)
      this.emit(this.rotateListeners, created)
    }
  }

  private emit<T> (listeners: Set<(value: T) => void>, value: T): void {
    for (const listener of listeners) {
      try {
        listener(value)
      } catch (err) {
        this.log.error('onion key listener failed - %e', err)
      }
    }
  }

  /** Time of the next event: the next epoch boundary or the end of a kept key's grace. */
  private nextDeadline (): number {
    const t = this.now()
    let next = (this.epochAt(t) + 1) * this.epochMs
    for (const e of this.keys.keys()) {
      const until = this.acceptedUntil(e)
      if (until > t && until < next) next = until
    }
    return next
  }

  private schedule (delayMs?: number): void {
    clearTimeout(this.timer)
    const delay = delayMs ?? Math.min(MAX_TIMER_MS, Math.max(1, this.nextDeadline() - this.now()))
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (!this.running) return
      this.rotateIfDue().catch(err => {
        this.log.error('onion key rotation failed, retrying in %d ms - %e', ROTATE_RETRY_MS, err)
        if (this.running) this.schedule(ROTATE_RETRY_MS)
      })
    }, delay)
    this.timer.unref?.()
  }

  private async load (): Promise<void> {
    const state = await inspectSecretFile(this.path)
    if (state.state === 'missing') return
    if (state.state === 'not-a-file') throw new InvalidOnionKeyFileError(this.path, 'not a regular file')
    if (state.state === 'exposed') throw new InsecureOnionKeyFileError(this.path, state.mode)
    const file = parseKeyFile(this.path, await readFile(this.path, 'utf8'))
    if (file.epochMs !== this.epochMs) {
      // epoch numbers mean other instants under another epoch length: start afresh
      this.log('onion key file was written with another epoch length; generating new keys')
      return
    }
    for (const entry of file.keys) {
      let key: OnionKey
      try {
        key = onionKeyFromRaw(entry.epoch, new Uint8Array(Buffer.from(entry.privateKey, 'base64url')))
      } catch (err) {
        throw new InvalidOnionKeyFileError(this.path, `key of epoch ${entry.epoch} is not an X25519 private key`, { cause: err })
      }
      this.keys.set(entry.epoch, key)
    }
  }

  /** Replaces the key file atomically (0600, synced, directory synced). */
  private async save (keys: Map<number, OnionKey>): Promise<void> {
    await mkdir(this.dataDir, { recursive: true, mode: DATA_DIR_MODE })
    const file: KeyFile = {
      version: FILE_FORMAT,
      epochMs: this.epochMs,
      keys: [...keys.values()].sort((a, b) => a.epoch - b.epoch).map(k => ({
        epoch: k.epoch,
        privateKey: Buffer.from(x25519PrivateKeyToRaw(k.privateKey)).toString('base64url')
      }))
    }
    await writeSecretFile(this.path, JSON.stringify(file) + '\n', { replace: true })
  }
}

function parseKeyFile (path: string, text: string): KeyFile {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new InvalidOnionKeyFileError(path, 'not JSON', { cause: err })
  }
  const file = value as Partial<KeyFile> | null
  if (file == null || typeof file !== 'object' || file.version !== FILE_FORMAT) {
    throw new InvalidOnionKeyFileError(path, `unknown format (expected version ${FILE_FORMAT})`)
  }
  if (!Number.isSafeInteger(file.epochMs) || !Array.isArray(file.keys)) {
    throw new InvalidOnionKeyFileError(path, 'missing epochMs or keys')
  }
  for (const entry of file.keys as unknown[]) {
    const e = entry as { epoch?: unknown, privateKey?: unknown } | null
    if (e == null || typeof e !== 'object' || !Number.isInteger(e.epoch) || (e.epoch as number) < 0 ||
      (e.epoch as number) > MAX_EPOCH || typeof e.privateKey !== 'string') {
      throw new InvalidOnionKeyFileError(path, 'a key entry lacks a valid epoch or private key')
    }
  }
  return file as KeyFile
}

/** libp2p-style factory: `services: { onionKeys: onionKeyManager({ dataDir }) }`. */
export function onionKeyManager (init: OnionKeyManagerInit): (components: OnionKeyManagerComponents) => OnionKeyManager {
  return (components) => new OnionKeyManager(components, init)
}
