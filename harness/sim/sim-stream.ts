/**
 * The part of a libp2p Stream that ghostnode's wire handlers use (events,
 * send/onDrain, close/abort), with the far end played by the fuzzer: it
 * delivers bytes, stops and resumes reading, closes or resets.
 */
export class SimStream extends EventTarget {
  writeStatus: 'writable' | 'closed' = 'writable'
  stalled = false
  /** What the relay wrote, kept only where the fuzzer plays the far end's reader. */
  readonly written: Uint8Array[] = []
  private readonly keepWrites: boolean
  private drainWaiters: Array<{ resolve: () => void, reject: (err: Error) => void }> = []

  constructor (keepWrites: boolean) {
    super()
    this.keepWrites = keepWrites
  }

  get open (): boolean {
    return this.writeStatus === 'writable'
  }

  send (data: Uint8Array): boolean {
    if (this.keepWrites) this.written.push(data)
    return !this.stalled
  }

  async onDrain (options?: { signal?: AbortSignal }): Promise<void> {
    if (!this.stalled || !this.open) return
    const signal = options?.signal
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { reject(signal?.reason as Error) }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.drainWaiters.push({
        resolve: () => { signal?.removeEventListener('abort', onAbort); resolve() },
        reject: (err) => { signal?.removeEventListener('abort', onAbort); reject(err) }
      })
    })
  }

  /** The far end reads again. */
  drain (): void {
    this.stalled = false
    for (const w of this.drainWaiters.splice(0)) w.resolve()
  }

  async close (): Promise<void> {
    this.shut()
  }

  abort (err: Error): void {
    this.shut(err)
  }

  /** Bytes from the far end. */
  deliver (bytes: Uint8Array): void {
    if (!this.open) return
    const evt = new Event('message') as Event & { data: Uint8Array }
    evt.data = bytes
    this.dispatchEvent(evt)
  }

  /** The far end closes its write side. */
  remoteClose (): void {
    if (this.open) this.dispatchEvent(new Event('remoteCloseWrite'))
  }

  /** The far end resets the stream. */
  reset (): void {
    this.shut(new Error('stream reset'))
  }

  /** Closes once; like a libp2p stream, the `close` event follows a local close or abort too. */
  private shut (err?: Error): void {
    if (!this.open) return
    this.writeStatus = 'closed'
    for (const w of this.drainWaiters.splice(0)) w.reject(err ?? new Error('stream closed'))
    const evt = new Event('close') as Event & { error?: Error }
    evt.error = err
    this.dispatchEvent(evt)
  }
}
