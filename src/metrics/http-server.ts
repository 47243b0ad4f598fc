import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { inBackground } from '../background.js'
import { envNameForKey } from '../config/schema.js'
import { AddressInUseError } from '../errors.js'

/** What the HTTP endpoints read from the node. */
export interface HealthSource {
  health: () => Record<string, unknown> & { status: string }
  ready: () => boolean
  peers: () => unknown[]
}

export interface HttpServerInit {
  host: string
  port: number
  registry: Registry
  source: HealthSource
}

const MAX_HTTP_CONNECTIONS = 64
const HTTP_TIMEOUT_MS = 10_000

/**
 * The operator's local window into the node: /metrics for Prometheus,
 * /health* for supervisors and load balancers, /peers for `ghostnode peers`.
 * Bound to loopback by default; it never accepts a request body.
 */
export class HttpServer {
  private readonly init: HttpServerInit
  private server?: Server

  constructor (init: HttpServerInit) {
    this.init = init
  }

  async start (): Promise<void> {
    if (this.server != null) return
    const server = createServer((req, res) => { inBackground('HTTP request', this.handle(req, res)) })
    server.maxConnections = MAX_HTTP_CONNECTIONS
    server.requestTimeout = HTTP_TIMEOUT_MS
    server.headersTimeout = HTTP_TIMEOUT_MS
    server.keepAliveTimeout = 5_000
    server.listen(this.init.port, this.init.host)
    try {
      await once(server, 'listening')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new AddressInUseError(`${this.init.host}:${this.init.port}`, `http.host/http.port (--http-host, --http-port, ${envNameForKey('http.port')})`, { cause: err })
      }
      throw err
    }
    this.server = server
  }

  /** Where it listens (port resolved when configured as 0). */
  address (): { host: string, port: number } | undefined {
    const addr = this.server?.address() as AddressInfo | null | undefined
    return addr == null ? undefined : { host: addr.address, port: addr.port }
  }

  async stop (): Promise<void> {
    const server = this.server
    if (server == null) return
    this.server = undefined
    const closed = once(server, 'close')
    server.close()
    server.closeAllConnections()
    await closed
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' })
      return
    }
    const path = (req.url ?? '/').split('?')[0]
    try {
      switch (path) {
        case '/metrics': {
          const body = await this.init.registry.metrics()
          res.writeHead(200, { 'content-type': this.init.registry.contentType })
          res.end(req.method === 'HEAD' ? undefined : body)
          return
        }
        case '/health':
          send(res, 200, this.init.source.health())
          return
        case '/health/live':
          send(res, 200, { status: 'live' })
          return
        case '/health/ready': {
          const ready = this.init.source.ready()
          send(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not-ready' })
          return
        }
        case '/peers':
          send(res, 200, { peers: this.init.source.peers() })
          return
        default:
          send(res, 404, { error: 'not found' })
      }
    } catch (err) {
      send(res, 500, { error: (err as Error).message })
    }
  }
}

function send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : text)
}
