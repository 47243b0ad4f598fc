import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The package root, from dist/harness/web/. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..')

/** What the example page is served from: the page itself, and the browser bundle. */
const FILES: Record<string, { path: string, type: string }> = {
  '/': { path: 'examples/web/index.html', type: 'text/html; charset=utf-8' },
  '/index.html': { path: 'examples/web/index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { path: 'examples/web/app.js', type: 'text/javascript; charset=utf-8' },
  '/ghostnode.js': { path: 'dist/browser/ghostnode.js', type: 'text/javascript; charset=utf-8' },
  '/ghostnode.js.map': { path: 'dist/browser/ghostnode.js.map', type: 'application/json' }
}

export interface ExampleServer {
  url: string
  close: () => Promise<void>
}

/**
 * Serves examples/web on 127.0.0.1 (a secure context: WebCrypto is there, as on
 * https) with `bootstrap` as the page's default relays (/config.json).
 * Run `npm run build:browser` first: the page loads dist/browser/ghostnode.js.
 */
export async function serveExample (options: { port?: number, host?: string, bootstrap?: string[] } = {}): Promise<ExampleServer> {
  const config = JSON.stringify({ bootstrap: options.bootstrap ?? [] })
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname
    if (path === '/favicon.ico') {
      res.writeHead(204).end()
      return
    }
    if (path === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(config)
      return
    }
    const file = FILES[path]
    if (file == null || req.method !== 'GET') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    readFile(join(ROOT, file.path)).then(
      (body) => { res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(body) },
      () => { res.writeHead(404, { 'content-type': 'text/plain' }).end(`${file.path} is missing: run npm run build:browser\n`) })
  })
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => { resolve() })
  })
  const address = server.address()
  const port = typeof address === 'object' && address != null ? address.port : 0
  return {
    url: `http://${host}:${port}/`,
    close: async () => { await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() }) }
  }
}
