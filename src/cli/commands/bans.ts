import { Command } from 'commander'
import { InvalidConfigValueError } from '../../config/errors.js'
import { ADMIN_HEADER } from '../../metrics/http-server.js'
import { readAdminToken } from '../../metrics/admin-token.js'
import type { GhostnodeConfig } from '../../config/defaults.js'
import { baseUrl, requestJson } from '../http-client.js'
import { listCommand } from '../list-command.js'
import { addEndpointOptions, configFromOptions, type EndpointOptions } from '../options.js'
import type { Output } from '../output.js'

interface AdminOptions extends EndpointOptions { for?: string }

/** `90s`, `15m`, `1h`, `7d` or plain milliseconds → milliseconds. */
export function parseDuration (text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim())
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
  if (m == null) throw new InvalidConfigValueError('--for', text, 'must be a duration such as 90s, 15m, 1h or 7d', 'command line')
  return Number(m[1]) * unit[(m[2] ?? 'ms') as keyof typeof unit]
}

/** The admin header, and the token of http.adminTokenFile when the config names one. */
async function adminHeaders (config: GhostnodeConfig): Promise<Record<string, string>> {
  const headers: Record<string, string> = { [ADMIN_HEADER]: '1' }
  if (config.http.adminTokenFile !== '') headers.authorization = `Bearer ${await readAdminToken(config.http.adminTokenFile)}`
  return headers
}

const when = (ms: unknown): string => typeof ms === 'number' ? new Date(ms).toISOString() : 'never'

export function bansCommand (out: Output): Command {
  return listCommand(out, {
    name: 'bans',
    description: 'list the peers the running node has banned: score, reason, until when',
    path: '/bans',
    field: 'bans',
    count: (n) => `${n} banned peer(s)`,
    line: (b) => `${String(b.peer)}  score=${Number(b.score).toFixed(1)} reason=${String(b.reason)} until=${when(b.until)}`
  })
}

export function banCommand (out: Output): Command {
  const cmd = new Command('ban').description('ban a peer on the running node now (closes its connections); needs http.host on loopback')
    .argument('<peer>', 'peer id')
    .option('--for <duration>', 'how long: 90s, 15m, 1h, 7d (default 1h)', '1h')
  addEndpointOptions(cmd).action(async (peer: string, opts: AdminOptions) => {
    const { config } = configFromOptions(opts)
    const forMs = parseDuration(opts.for ?? '1h')
    const { body } = await requestJson('POST', `${baseUrl(config, opts.url)}/bans/${encodeURIComponent(peer)}?forMs=${forMs}`, await adminHeaders(config))
    if (opts.json === true) out.line(JSON.stringify(body))
    else out.line(`banned ${peer} until ${when((body.ban as Record<string, unknown> | undefined)?.until)}`)
  })
  return cmd
}

export function unbanCommand (out: Output): Command {
  const cmd = new Command('unban').description('lift a ban on the running node; needs http.host on loopback')
    .argument('<peer>', 'peer id')
  addEndpointOptions(cmd).action(async (peer: string, opts: AdminOptions) => {
    const { config } = configFromOptions(opts)
    const { body } = await requestJson('DELETE', `${baseUrl(config, opts.url)}/bans/${encodeURIComponent(peer)}`, await adminHeaders(config))
    if (opts.json === true) out.line(JSON.stringify(body))
    else out.line(body.unbanned === true ? `unbanned ${peer}` : `${peer} was not banned`)
  })
  return cmd
}

export function membersCommand (out: Output): Command {
  return listCommand(out, {
    name: 'members',
    description: 'list the swarm members the running node sees: connected, pulled from (ready) or not yet (pulling), last heard from',
    path: '/members',
    field: 'members',
    count: (n) => `${n} swarm member(s)`,
    line: (m) => `${String(m.peer)}${m.self === true ? ' (this node)' : ''}  ${m.connected === true ? 'connected' : 'not connected'}  ${String(m.sync)}  last seen ${when(m.lastSeen)}`,
    footer: 'a member that left for good stays until the authorities drop it: on each authority, ghostnode authority deny <peer> (or forget it)'
  })
}
