import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { inBackground } from '../background.js'
import { envNameForKey } from '../config/schema.js'
import { AddressInUseError } from '../errors.js'
import { tokenMatches } from './admin-token.js'
import { ipScope } from '../ratelimit/ip-prefix.js'

/** What the HTTP endpoints read from the node. */
export interface HealthSource {
  health: () => Record<string, unknown> & { status: string }
  ready: () => boolean
  peers: () => unknown[]
  bans: () => unknown[]
  members: () => unknown[]
  /** @throws Error when `peer` is not a peer id */
  ban: (peer: string, durationMs: number) => unknown
  unban: (peer: string) => boolean
}

/** The header `ghostnode ban`/`unban` send; a browser cannot add it to a cross-site request without a preflight we never grant. */
export const ADMIN_HEADER = 'x-ghostnode-admin'

/** Longest ban an operator may ask for over HTTP: 30 days. */
const MAX_BAN_MS = 30 * 86_400_000

export interface HttpServerInit {
  host: string
  port: number
  /** With a token, ban and unban are served on any bind address to requests bearing it (http.adminTokenFile). */
  adminToken?: string
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
    const url = new URL(req.url ?? '/', 'http://local')
    const path = url.pathname
    if ((req.method === 'POST' || req.method === 'DELETE') && path.startsWith('/bans/')) {
      this.admin(req, res, decodeURIComponent(path.slice('/bans/'.length)), url)
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: 'method not allowed' }, { allow: 'GET, HEAD' })
      return
    }
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
        case '/bans':
          send(res, 200, { bans: this.init.source.bans() })
          return
        case '/members':
          send(res, 200, { members: this.init.source.members() })
          return
        default:
          send(res, 404, { error: 'not found' })
      }
    } catch (err) {
      send(res, 500, { error: (err as Error).message })
    }
  }

  /**
   * POST /bans/<peer>?forMs=N bans, DELETE /bans/<peer> unbans. Only while the
   * endpoint is bound to loopback: then only this host reaches it. Bound
   * anywhere else, anyone who reaches the port could ban peers, so it refuses.
   * No request body is read.
   */
  private admin (req: IncomingMessage, res: ServerResponse, peer: string, url: URL): void {
    // A web page the operator has open could otherwise send this POST (a "simple"
    // cross-site request needs no CORS approval) or reach it by DNS rebinding: refuse
    // anything a browser sends (Origin) and any request without the header only our
    // CLI sets (a browser would need a preflight for it, which this server never grants).
    if (req.headers.origin != null || req.headers[ADMIN_HEADER] !== '1') {
      send(res, 403, { error: `ban and unban need the ${ADMIN_HEADER}: 1 header and no Origin (use ghostnode ban/unban)` })
      return
    }
    const token = this.init.adminToken
    if (token != null) {
      const presented = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? ''
      if (!tokenMatches(presented, token)) {
        send(res, 401, { error: 'ban and unban need the token of http.adminTokenFile (Authorization: Bearer <token>)' })
        return
      }
    } else {
      if (!isLoopback(this.init.host)) {
        send(res, 403, { error: `ban and unban are served only while http.host is a loopback address (it is ${this.init.host}) or with http.adminTokenFile` })
        return
      }
      const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')
      if (!isLoopback(hostHeader)) {
        send(res, 403, { error: 'ban and unban need a loopback Host' })
        return
      }
    }
    if (req.method === 'DELETE') {
      send(res, 200, { peer, unbanned: this.init.source.unban(peer) })
      return
    }
    const forMs = Number(url.searchParams.get('forMs') ?? '3600000')
    if (!Number.isSafeInteger(forMs) || forMs < 1000 || forMs > MAX_BAN_MS) {
      send(res, 400, { error: `forMs must be an integer between 1000 and ${MAX_BAN_MS}` })
      return
    }
    try {
      send(res, 200, { ban: this.init.source.ban(peer, forMs) })
    } catch (err) {
      send(res, 400, { error: `not a peer id: ${peer} (${(err as Error).message})` })
    }
  }
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || ipScope(host) === 'loopback'
}

function send (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers })
  res.end(res.req.method === 'HEAD' ? undefined : text)
}
