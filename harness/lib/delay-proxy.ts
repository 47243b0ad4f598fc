import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { BenchSetupError } from './errors.js'

/**
 * A user-space stand-in for `tc netem delay` (which this kernel lacks): a TCP
 * proxy in front of one listener that holds every chunk it relays for
 * `delayMs`, in each direction, so a connection through it has a round trip
 * of 2 × delayMs plus loopback's. Order is kept (one timer queue per
 * direction); a direction holding more than `maxHeldBytes` pauses its reader,
 * so a fast sender cannot make the proxy buffer without bound.
 */

const DEFAULT_MAX_HELD_BYTES = 8 * 1024 * 1024

export interface DelayProxyOptions {
  /** Where connections go. */
  targetHost: string
  targetPort: number
  /** One-way delay added to every chunk, ms. */
  delayMs: number
  /** @default '127.0.0.1' */
  listenHost?: string
  /** @default 0 (the OS picks) */
  listenPort?: number
  /** @default 8 MiB */
  maxHeldBytes?: number
}

export interface DelayProxy {
  readonly host: string
  readonly port: number
  /** Connections accepted so far. */
  readonly connections: () => number
  stop: () => Promise<void>
}

/** Relays `from` to `to`, each chunk `delayMs` late, in order. */
function delayedPipe (from: Socket, to: Socket, delayMs: number, maxHeldBytes: number): void {
  const held: Array<{ due: number, chunk: Buffer }> = []
  let heldBytes = 0
  let timer: NodeJS.Timeout | undefined
  let ended = false
  const release = (): void => {
    timer = undefined
    const now = performance.now()
    while (held.length > 0 && held[0].due <= now) {
      const { chunk } = held.shift() as { due: number, chunk: Buffer }
      heldBytes -= chunk.byteLength
      if (!to.destroyed) to.write(chunk)
    }
    if (heldBytes <= maxHeldBytes / 2 && from.isPaused()) from.resume()
    if (held.length > 0) {
      timer = setTimeout(release, Math.max(0, held[0].due - performance.now()))
    } else if (ended && !to.destroyed) {
      to.end()
    }
  }
  from.on('data', (chunk: Buffer) => {
    held.push({ due: performance.now() + delayMs, chunk })
    heldBytes += chunk.byteLength
    if (heldBytes > maxHeldBytes) from.pause()
    timer ??= setTimeout(release, delayMs)
  })
  // an end (or a close without one) is passed on after what was sent before it
  const finish = (): void => {
    if (ended) return
    ended = true
    if (held.length === 0 && !to.destroyed) to.end()
  }
  from.on('end', finish)
  from.on('close', finish)
}

export async function startDelayProxy (options: DelayProxyOptions): Promise<DelayProxy> {
  if (!Number.isFinite(options.delayMs) || options.delayMs < 0) throw new BenchSetupError(`delay must be ≥ 0 ms, got ${options.delayMs}`)
  const maxHeldBytes = options.maxHeldBytes ?? DEFAULT_MAX_HELD_BYTES
  const sockets = new Set<Socket>()
  let accepted = 0
  // half-open both ways: an end is passed on (late, after what came before it), not answered at once
  const server: Server = createServer({ allowHalfOpen: true }, (client) => {
    accepted++
    const upstream = createConnection({ host: options.targetHost, port: options.targetPort, allowHalfOpen: true })
    for (const s of [client, upstream]) {
      s.setNoDelay(true)
      sockets.add(s)
      s.once('close', () => { sockets.delete(s) })
    }
    // either side failing ends both: the endpoints see what a dropped connection looks like
    client.on('error', () => { upstream.destroy() })
    upstream.on('error', () => { client.destroy() })
    delayedPipe(client, upstream, options.delayMs, maxHeldBytes)
    delayedPipe(upstream, client, options.delayMs, maxHeldBytes)
  })
  const host = options.listenHost ?? '127.0.0.1'
  server.listen(options.listenPort ?? 0, host)
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([err]) => { throw new BenchSetupError(`delay proxy cannot listen on ${host}: ${(err as Error).message}`, { cause: err }) })
  ])
  const address = server.address()
  if (address == null || typeof address === 'string') throw new BenchSetupError('delay proxy has no TCP address')
  return {
    host,
    port: address.port,
    connections: () => accepted,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

/**
 * The round trip of one link through a delay proxy as it behaves on this
 * machine (the timers fire a little late, and the proxy shares a core with
 * everything else): a 1-byte echo through a proxy of `delayMs`, median of
 * `samples`.
 */
export async function measureProxiedRtt (delayMs: number, samples = 20): Promise<number> {
  const echo = createServer((s) => { s.setNoDelay(true); s.on('data', (d) => { s.write(d) }); s.on('error', () => {}) })
  echo.listen(0, '127.0.0.1')
  await once(echo, 'listening')
  const echoPort = (echo.address() as { port: number }).port
  const proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: echoPort, delayMs })
  const socket = createConnection({ host: '127.0.0.1', port: proxy.port })
  socket.setNoDelay(true)
  try {
    await once(socket, 'connect')
    const rtts: number[] = []
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now()
      socket.write(Buffer.from([i & 0xff]))
      await once(socket, 'data')
      rtts.push(performance.now() - t0)
    }
    rtts.sort((a, b) => a - b)
    return rtts[rtts.length >> 1]
  } finally {
    socket.destroy()
    await proxy.stop()
    await new Promise<void>((resolve) => { echo.close(() => { resolve() }) })
  }
}
