import { readFile } from 'node:fs/promises'
import { buffer as readAll } from 'node:stream/consumers'
import { Command } from 'commander'
import { multiaddr } from '@multiformats/multiaddr'
import { InvalidConfigValueError } from '../../config/errors.js'
import { GhostnodeError } from '../../errors.js'
import { ExitError } from '../../onion/circuit-errors.js'
import { GhostClient } from '../../client/mailbox-client.js'
import { SwarmStatus } from '../../swarm/status.js'
import { parseMailbox } from '../../swarm/auth.js'
import { readMailboxKeyFile } from '../../swarm/key-file.js'
import { envelopeOverhead } from '../../client/envelope.js'
import { baseUrl, getJson } from '../http-client.js'
import { addCommonOptions, configFromOptions, type CommonOptions } from '../options.js'
import type { GhostnodeConfig } from '../../config/defaults.js'
import type { Output } from '../output.js'

/** Default TTL of `ghostnode send`: one day. */
export const DEFAULT_SEND_TTL_S = 86_400

/** No relay to ask for the directory: none given, none configured, no local node answering. */
export class NoBootstrapError extends GhostnodeError {
  constructor (detail: string) {
    super(`no relay to connect to: pass --bootstrap <multiaddr/p2p/id>, configure bootstrap, or run a local node (${detail})`, 'ERR_NO_BOOTSTRAP')
  }
}

/** The exit refused a swarm request; the message names the status. */
export class SwarmRequestRefusedError extends GhostnodeError {
  readonly status: number
  constructor (status: number, reason: string) {
    const name = Object.entries(SwarmStatus).find(([, v]) => v === status)?.[0] ?? `status ${status}`
    super(`the swarm refused the request: ${name} (${status}): ${reason}`, 'ERR_SWARM_REFUSED')
    this.status = status
  }
}

/** Runs a client call, turning an exit refusal into an error that names its status. */
export async function explained<T> (work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (err) {
    if (err instanceof ExitError) throw new SwarmRequestRefusedError(err.status, err.message)
    throw err
  }
}

export interface ClientCommandOptions extends CommonOptions {
  bootstrap?: string[]
  url?: string
  timeout?: string
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

/** Options of the commands that talk to the network as a client (send, fetch). */
export function addClientOptions (cmd: Command): Command {
  return addCommonOptions(cmd)
    .option('--bootstrap <multiaddr>', 'relay to fetch the directory from, ending in /p2p/<id> (repeatable; default: the config\'s bootstrap list, else the local node)', collect)
    .option('--url <url>', 'the local node\'s HTTP endpoint, asked for its addresses when no bootstrap relay is known')
    .option('--timeout <ms>', 'deadline of each request through a circuit', '30000')
}

export function intOption (name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value == null) return fallback
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidConfigValueError(`--${name}`, value, 'must be an integer', 'command line')
  const n = Number(value)
  if (n < min || n > max) throw new InvalidConfigValueError(`--${name}`, value, `must be between ${min} and ${max}`, 'command line')
  return n
}

/**
 * Relays to bootstrap from: `--bootstrap`, else the config's `bootstrap`, else
 * the addresses the local node reports on its /health endpoint (TCP ones).
 */
export async function resolveBootstrap (opts: ClientCommandOptions, config: GhostnodeConfig): Promise<string[]> {
  if (opts.bootstrap != null && opts.bootstrap.length > 0) {
    for (const addr of opts.bootstrap) {
      try {
        if (multiaddr(addr).getComponents().findLast(c => c.name === 'p2p')?.value == null) throw new Error('no /p2p/<id>')
      } catch (err) {
        throw new InvalidConfigValueError('--bootstrap', addr, `must be a multiaddr ending in /p2p/<peer id> (${(err as Error).message})`, 'command line')
      }
    }
    return opts.bootstrap
  }
  if (config.bootstrap.length > 0) return config.bootstrap
  let body: { addrs?: unknown } | undefined
  try {
    body = (await getJson(`${baseUrl(config, opts.url)}/health`)).body as { addrs?: unknown } | undefined
  } catch (err) {
    throw new NoBootstrapError((err as Error).message)
  }
  const addrs = (Array.isArray(body?.addrs) ? body.addrs as string[] : []).filter(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (addrs.length === 0) throw new NoBootstrapError('the local node reports no TCP address')
  // loopback first: the local node is on this machine
  return addrs.sort((a, b) => Number(b.startsWith('/ip4/127.')) - Number(a.startsWith('/ip4/127.')))
}

/** The message's bytes: `-` reads standard input, `@file` a file, anything else is the text itself. */
export async function messageBytes (message: string, stdin: NodeJS.ReadableStream = process.stdin): Promise<Uint8Array> {
  if (message === '-') return new Uint8Array(await readAll(stdin))
  if (message.startsWith('@')) return new Uint8Array(await readFile(message.slice(1)))
  return new TextEncoder().encode(message)
}

/** A mailbox public key given on the command line (a bad one is a usage error, exit 2). */
export function mailboxOption (name: string, value: string): Uint8Array {
  try {
    return parseMailbox(value)
  } catch (err) {
    throw new InvalidConfigValueError(`--${name}`, value, (err as Error).message, 'command line')
  }
}

export async function connectClient (opts: ClientCommandOptions, config: GhostnodeConfig): Promise<GhostClient> {
  const bootstrap = await resolveBootstrap(opts, config)
  return GhostClient.create({
    bootstrap,
    hops: config.onion.hops,
    requestTimeoutMs: intOption('timeout', opts.timeout, 30_000, 100, 600_000),
    maxMessageBytes: config.onion.maxMessageBytes,
    maxEnvelopeBytes: config.swarm.maxMessageBytes,
    // the network's authorities, when the config names them; otherwise those the bootstrap relay's document names
    ...(config.network.authorities.length > 0 ? { authorities: config.network.authorities, authorityThreshold: config.network.authorityThreshold } : {})
  })
}

interface SendOptions extends ClientCommandOptions { to: string, ttl?: string, namespace?: string, json?: boolean, raw?: boolean, from?: string }

export function sendCommand (out: Output): Command {
  const cmd = new Command('send')
    .description('deposit a message into a mailbox through a 3-hop circuit, sealed to the recipient\'s key')
    .argument('<message>', 'the message text, @file to send a file\'s bytes, or - to read it from standard input')
    .requiredOption('--to <publicKey>', 'recipient mailbox: its Ed25519 public key, 64 hex characters')
    .option('--ttl <seconds>', `how long the swarm keeps the message, in seconds (default ${DEFAULT_SEND_TTL_S}; the swarm allows swarm.minTtlMs..swarm.maxTtlMs)`)
    .option('--namespace <n>', 'application namespace, -32768..32767', '0')
    .option('--from <file>', 'sign the message inside the envelope with this mailbox key file, so the recipient (and only it) sees who sent it')
    .option('--raw', 'store the bytes as given, unsealed (for applications with their own encryption)')
    .option('--json', 'print JSON')
  addClientOptions(cmd).action(async (message: string, opts: SendOptions) => {
    const { config } = configFromOptions(opts)
    const mailbox = mailboxOption('to', opts.to)
    // the swarm's own bounds, in the flag's unit: the exit would refuse anything outside them
    const ttlS = intOption('ttl', opts.ttl, DEFAULT_SEND_TTL_S, Math.ceil(config.swarm.minTtlMs / 1000), Math.floor(config.swarm.maxTtlMs / 1000))
    const namespace = intOption('namespace', opts.namespace, 0, -0x8000, 0x7fff)
    const data = await messageBytes(message)
    if (data.byteLength === 0) throw new InvalidConfigValueError('<message>', message, 'is empty: a message needs at least one byte', 'command line')
    if (opts.raw === true && opts.from != null) throw new InvalidConfigValueError('--from', opts.from, 'signs inside an envelope: it cannot be used with --raw', 'command line')
    const room = opts.raw === true ? config.swarm.maxMessageBytes : config.swarm.maxMessageBytes - envelopeOverhead(opts.from != null)
    if (data.byteLength > room) {
      throw new InvalidConfigValueError('<message>', `${data.byteLength} bytes`, `is too large: a mailbox message holds at most ${room} bytes${opts.raw === true ? '' : ' once sealed'} (swarm.maxMessageBytes)`, 'command line')
    }
    const from = opts.from != null ? await readMailboxKeyFile(opts.from) : undefined
    const client = await connectClient(opts, config)
    try {
      const receipt = await explained(client.store(mailbox, data, { ttlMs: ttlS * 1000, namespace, ...(opts.raw === true ? { raw: true } : {}), ...(from != null ? { from } : {}) }))
      const hash = Buffer.from(receipt.hash).toString('hex')
      if (opts.json === true) {
        out.line(JSON.stringify({ hash, stored: receipt.stored, expiry: receipt.expiry, members: receipt.members }))
        return
      }
      out.line(`${receipt.stored ? 'stored' : 'already stored (duplicate)'}${opts.raw === true ? ' (raw, unsealed)' : ' (sealed to the recipient)'}: ${hash}`)
      out.line(`expires: ${new Date(receipt.expiry).toISOString()}`)
      out.line(`acknowledged by ${receipt.members.length} swarm member(s): ${receipt.members.join(', ')}`)
    } finally {
      await client.stop()
    }
  })
  return cmd
}
