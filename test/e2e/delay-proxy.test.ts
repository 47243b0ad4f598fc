import { once } from 'node:events'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { expect } from 'chai'
import { startDelayProxy, type DelayProxy } from '../../harness/lib/delay-proxy.js'

/** A TCP server that echoes what it reads. */
async function echoServer (): Promise<{ server: Server, port: number }> {
  const server = createServer((s) => { s.on('data', (d) => { s.write(d) }); s.on('end', () => { s.end() }); s.on('error', () => {}) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as { port: number }).port }
}

async function connect (port: number): Promise<Socket> {
  const s = createConnection({ host: '127.0.0.1', port })
  await once(s, 'connect')
  return s
}

/** Reads until `bytes` bytes arrived; resolves with them. */
async function readBytes (s: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let got = 0
  while (got < bytes) {
    const [chunk] = await once(s, 'data') as [Buffer]
    chunks.push(chunk)
    got += chunk.byteLength
  }
  return Buffer.concat(chunks)
}

describe('bench delay proxy (user-space stand-in for netem)', function () {
  this.timeout(20_000)
  let echo: { server: Server, port: number }
  let proxy: DelayProxy | undefined
  let socket: Socket | undefined

  beforeEach(async () => { echo = await echoServer() })
  afterEach(async () => {
    socket?.destroy()
    await proxy?.stop()
    proxy = undefined
    await new Promise<void>((resolve) => { echo.server.close(() => { resolve() }) })
  })

  it('holds every chunk the given time each way: a round trip takes at least twice the delay', async () => {
    proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: echo.port, delayMs: 40 })
    socket = await connect(proxy.port)
    const started = performance.now()
    socket.write('ping')
    expect((await readBytes(socket, 4)).toString()).to.equal('ping')
    expect(performance.now() - started).to.be.at.least(79)
    expect(proxy.connections()).to.equal(1)
  })

  it('keeps the order of many chunks and loses none', async () => {
    proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: echo.port, delayMs: 5 })
    socket = await connect(proxy.port)
    const sent = Buffer.alloc(256 * 1024)
    for (let i = 0; i < sent.length; i++) sent[i] = (i * 7 + (i >> 10)) & 0xff
    for (let off = 0; off < sent.length; off += 1000) socket.write(sent.subarray(off, off + 1000))
    expect((await readBytes(socket, sent.length)).equals(sent)).to.equal(true)
  })

  it('passes an end on after what was sent before it', async () => {
    proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: echo.port, delayMs: 10 })
    socket = await connect(proxy.port)
    const ended = once(socket, 'end')
    socket.end('last words')
    const got = await readBytes(socket, 10)
    expect(got.toString()).to.equal('last words')
    await ended
  })

  it('closes the client side when its target refuses the connection', async () => {
    const { server, port } = await echoServer()
    await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    proxy = await startDelayProxy({ targetHost: '127.0.0.1', targetPort: port, delayMs: 10 })
    socket = await connect(proxy.port)
    socket.on('error', () => {})
    await once(socket, 'close')
  })
})
