import { InvalidConfigValueError } from '../config/errors.js'
import { GhostnodeError } from '../errors.js'
import type { GhostnodeConfig } from '../config/defaults.js'

/** The local node's HTTP endpoint did not answer. */
export class NodeUnreachableError extends GhostnodeError {
  constructor (url: string, options?: ErrorOptions) {
    super(`no ghostnode answers at ${url} (is it running, with http enabled?)`, 'ERR_NODE_UNREACHABLE', options)
  }
}

const REQUEST_TIMEOUT_MS = 5_000

export function baseUrl (config: GhostnodeConfig, override?: string): string {
  if (override != null) {
    let url: URL | undefined
    try {
      url = new URL(override)
    } catch {}
    if (url == null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new InvalidConfigValueError('--url', override, 'must be an http:// or https:// URL, e.g. http://127.0.0.1:7402', 'command line')
    }
    return override.replace(/\/$/, '')
  }
  const host = config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host === '::' ? '[::1]' : config.http.host
  return `http://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.http.port}`
}

/** GETs a JSON document from the running node's local endpoint (its shape is the caller's to know). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- documents of our own endpoints, read field by field by each caller
export async function getJson (url: string): Promise<{ status: number, body: any }> {
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  } catch (err) {
    throw new NodeUnreachableError(url, { cause: err })
  }
  return { status: res.status, body: await res.json() }
}

/** `ghostnode status` found the node running but not ready (exit 1; the reasons are printed above). */
export class NodeNotReadyError extends GhostnodeError {
  constructor (reasons: string[]) {
    super(`the node is not ready${reasons.length > 0 ? `: ${reasons.join('; ')}` : ''}`, 'ERR_NODE_NOT_READY')
  }
}

/** The node refused an admin request (ban/unban): the message is the node's reason. */
export class AdminRequestRefusedError extends GhostnodeError {
  constructor (status: number, reason: string) {
    super(`the node refused (HTTP ${status}): ${reason}`, 'ERR_ADMIN_REFUSED')
  }
}

/** POST or DELETE to the running node's local endpoint (no body), with `headers`; non-2xx is an error naming the node's reason. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- documents of our own endpoints, read field by field by each caller
export async function requestJson (method: 'POST' | 'DELETE', url: string, headers: Record<string, string>): Promise<{ status: number, body: any }> {
  let res: Response
  try {
    res = await fetch(url, { method, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  } catch (err) {
    throw new NodeUnreachableError(url, { cause: err })
  }
  const body = await res.json() as { error?: string }
  if (!res.ok) throw new AdminRequestRefusedError(res.status, body.error ?? res.statusText)
  return { status: res.status, body }
}
