import { createConnection, createServer, type Server } from 'node:net'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { TestnetConfigError } from './errors.js'
import type { Testnet } from './testnet.js'

/** What a running launcher can be asked through its control socket. */
export const CONTROL_VERBS = ['status', 'stop', 'kill', 'restart'] as const
export type ControlVerb = typeof CONTROL_VERBS[number]

const MAX_REQUEST_BYTES = 256
const CLIENT_TIMEOUT_MS = 60_000

/** `<dir>/control.sock`: a Unix socket in the testnet's own directory (0700 like the data dirs). */
export function controlPath (baseDir: string): string {
  return join(baseDir, 'control.sock')
}

export function isControlVerb (word: string | undefined): word is ControlVerb {
  return (CONTROL_VERBS as readonly string[]).includes(word ?? '')
}

/**
 * Serves `status`, `stop <node>`, `kill <node>` and `restart <node>` (one
 * request per connection, one line each way) for the running testnet, so one
 * node can be stopped, killed or restarted while the others keep running.
 */
export async function serveControl (net: Testnet, log: (line: string) => void): Promise<{ close: () => Promise<void> }> {
  const path = controlPath(net.baseDir)
  await rm(path, { force: true }) // left by a launcher that was killed
  const server: Server = createServer((socket) => {
    let request = ''
    socket.setEncoding('utf8')
    socket.on('error', () => {})
    socket.on('data', (chunk: string) => {
      request += chunk
      if (request.length > MAX_REQUEST_BYTES) socket.destroy()
      if (!request.includes('\n')) return
      const reply = (text: string): void => { socket.end(text + '\n') }
      handle(net, request.split('\n')[0].trim(), log).then(reply, (err: Error) => { reply(`error: ${err.message}`) })
    })
  })
  server.listen(path)
  await new Promise<void>((resolve, reject) => { server.once('listening', resolve); server.once('error', reject) })
  return {
    close: async () => {
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      await rm(path, { force: true })
    }
  }
}

async function handle (net: Testnet, request: string, log: (line: string) => void): Promise<string> {
  const [verb, name] = request.split(/\s+/)
  if (verb === 'status') {
    return net.nodes.map(n => n.process.exit == null
      ? `${n.name} running, pid ${n.process.pid}, ${n.httpUrl}`
      : `${n.name} exited (${n.process.exit.signal ?? `code ${String(n.process.exit.code)}`})`).join('\n')
  }
  if (!isControlVerb(verb)) throw new TestnetConfigError(`unknown request "${verb}"; use ${CONTROL_VERBS.join(', ')}`)
  const index = net.nodes.findIndex(n => n.name === name)
  if (index < 0) throw new TestnetConfigError(`no node "${name ?? ''}"; the nodes are ${net.nodes.map(n => n.name).join(', ')}`)
  const node = net.nodes[index]
  if (verb === 'restart') {
    if (node.process.exit == null) await net.kill(index, 'SIGTERM')
    const again = await net.restart(index)
    log(`${again.name} restarted on request, pid ${again.pid}`)
    return `${again.name} running again, pid ${again.pid}`
  }
  if (node.process.exit != null) return `${node.name} is not running`
  const exit = await net.kill(index, verb === 'stop' ? 'SIGTERM' : 'SIGKILL')
  const how = exit.signal ?? `code ${String(exit.code)}`
  log(`${node.name} ${verb === 'stop' ? 'stopped' : 'killed'} on request (${how}); the others keep running`)
  return `${node.name} ${verb === 'stop' ? 'stopped' : 'killed'} (${how})`
}

/** Sends one request to the launcher of the testnet in `baseDir` and returns its answer. */
export async function sendControl (baseDir: string, request: string): Promise<string> {
  const path = controlPath(baseDir)
  return await new Promise<string>((resolve, reject) => {
    const socket = createConnection(path)
    let answer = ''
    socket.setEncoding('utf8')
    socket.setTimeout(CLIENT_TIMEOUT_MS, () => { socket.destroy(new Error('no answer from the launcher in time')) })
    socket.on('connect', () => { socket.write(request + '\n') })
    socket.on('data', (chunk: string) => { answer += chunk })
    socket.on('end', () => { resolve(answer.trimEnd()) })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
        ? new TestnetConfigError(`no testnet runs in ${baseDir} (no launcher answers on ${path})`)
        : err)
    })
  })
}
