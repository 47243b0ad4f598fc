import { Command } from 'commander'
import { baseUrl, getJson, NodeNotReadyError } from '../http-client.js'
import { listCommand } from '../list-command.js'
import { addEndpointOptions, configFromOptions, type EndpointOptions } from '../options.js'
import type { Output } from '../output.js'

export function statusCommand (out: Output): Command {
  const cmd = new Command('status').description('show the running node\'s health (from its local HTTP endpoint)')
  addEndpointOptions(cmd).action(async (opts: EndpointOptions) => {
    const { config } = configFromOptions(opts)
    const { body } = await getJson(`${baseUrl(config, opts.url)}/health`)
    const ready = body.ready === true
    if (opts.json === true) {
      out.line(JSON.stringify(body))
    } else {
      out.line(`status: ${body.status}${ready ? ' (ready)' : ' (not ready)'}`)
      for (const reason of stringList(body.reasons)) out.line(`  not ready: ${reason}`)
      for (const warning of stringList(body.warnings)) out.line(`  warning: ${warning}`)
      out.line(summaryLine(body))
      out.line(`version: ${body.version}`)
      out.line(`peer id: ${body.peerId}`)
      out.line(`uptime: ${body.uptimeSeconds} s`)
      for (const addr of body.addrs ?? []) out.line(`listening: ${addr}`)
    }
    // a script or a health check can act on the exit code alone
    if (!ready) throw new NodeNotReadyError(stringList(body.reasons))
  })
  return cmd
}

function stringList (value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []
}

/** `peers 3, circuits 2, stored messages 41, RSS 132 MiB` */
export function summaryLine (body: Record<string, unknown>): string {
  const rssBytes = (body.memory as { rssBytes?: unknown } | undefined)?.rssBytes
  const rss = typeof rssBytes === 'number' ? `${Math.round(rssBytes / 1048576)} MiB` : '?'
  return `peers ${String(body.connectedPeers ?? '?')}, circuits ${String(body.circuits ?? '?')}, stored messages ${String(body.swarmRecords ?? '?')}, RSS ${rss}`
}

export function peersCommand (out: Output): Command {
  return listCommand(out, {
    name: 'peers',
    description: 'list the running node\'s connected peers (from its local HTTP endpoint)',
    path: '/peers',
    field: 'peers',
    count: (n) => `${n} connection(s)`,
    line: (p) => `${String(p.peerId)}  ${String(p.direction).padEnd(8)} ${String(p.addr)}  ${protocolName(p.encryption)}+${protocolName(p.muxer)}  streams=${String(p.streams)}${reputationColumns(p)}`
  })
}

/** `/noise` → `noise`, `/yamux/1.0.0` → `yamux/1.0.0` (a protocol id without its leading slash). */
export function protocolName (id: unknown): string {
  return typeof id === 'string' && id !== '' ? id.replace(/^\//, '') : '?'
}

/**
 * `  score=47.5 tier=neutral`, plus `banned-until=<ISO time>` while banned.
 * Empty for a node that does not report reputation (an older version).
 */
export function reputationColumns (peer: Record<string, unknown>): string {
  if (typeof peer.score !== 'number') return ''
  let text = `  score=${peer.score.toFixed(1)} tier=${String(peer.tier)}`
  if (typeof peer.bannedUntil === 'number') text += ` banned-until=${new Date(peer.bannedUntil).toISOString()}`
  return text
}
