import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { PortInUseError } from './errors.js'

export interface NodePorts { tcp: number, ws: number, http: number }

/** Three ports per node: TCP, WebSockets, HTTP. */
export const PORTS_PER_NODE = 3

/** Away from the defaults 7400-7402 so a testnet runs beside a real node. */
export const DEFAULT_BASE_PORT = 7500

/** Node i (0-based) on a shared host gets base + 3i (TCP), +1 (WS), +2 (HTTP). */
export function sharedHostPorts (basePort: number, index: number): NodePorts {
  const first = basePort + PORTS_PER_NODE * index
  return { tcp: first, ws: first + 1, http: first + 2 }
}

async function listen (host: string, port: number): Promise<Server> {
  const server = createServer()
  server.listen({ host, port, exclusive: true })
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err })])
  return server
}

async function closeAll (servers: Server[]): Promise<void> {
  await Promise.all(servers.map(async s => { s.close(); await once(s, 'close') }))
}

/** True when nothing listens on host:port. */
export async function portIsFree (port: number, host = '127.0.0.1'): Promise<boolean> {
  try {
    await closeAll([await listen(host, port)])
    return true
  } catch {
    return false
  }
}

/** Fails with a message naming the node and the port if any of them is taken. */
export async function assertPortsFree (ports: Array<{ name: string, ports: NodePorts }>, host = '127.0.0.1'): Promise<void> {
  for (const { name, ports: p } of ports) {
    for (const [kind, port] of Object.entries(p)) {
      if (!await portIsFree(port, host)) throw new PortInUseError(port, `${name} ${kind}`)
    }
  }
}

/**
 * `count` distinct ports the OS reports free right now (all held open at once
 * so none repeats, then released). Another process could take one before the
 * node binds it; the node then fails to start and the launcher says so.
 */
export async function freePorts (count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = []
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(host, 0))
    return servers.map(s => (s.address() as { port: number }).port)
  } finally {
    await closeAll(servers)
  }
}
