import { networkInterfaces } from 'node:os'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Command } from 'commander'
import { GhostnodeError } from '../../errors.js'
import { loadIdentity } from '../../identity/key-file.js'
import { addNodeOptions, configFromOptions, type NodeOptions } from '../options.js'
import type { Output } from '../output.js'

export class NoIdentityError extends GhostnodeError {
  constructor (dataDir: string) {
    super(`no identity key in ${dataDir}; run "ghostnode init" or "ghostnode start" first`, 'ERR_NO_IDENTITY')
  }
}

export function idCommand (out: Output): Command {
  const cmd = new Command('id')
    .description('print the node\'s peer id and the addresses it listens on / announces')
    .option('--json', 'print JSON')
  addNodeOptions(cmd).action(async (opts: NodeOptions & { json?: boolean }) => {
    const { config } = configFromOptions(opts)
    const identity = await loadIdentity(config.dataDir)
    if (identity == null) throw new NoIdentityError(config.dataDir)
    const peerId = peerIdFromPrivateKey(identity.privateKey).toString()
    const announced = config.announce.length > 0
    // a wildcard listen address (0.0.0.0, ::) is not something a peer can dial: name this host's addresses instead
    const addrs = (announced ? config.announce : config.listen.flatMap(a => expandWildcard(a))).map(a => `${a}/p2p/${peerId}`)
    if (opts.json === true) {
      out.line(JSON.stringify({ peerId, addrs }))
      return
    }
    out.line(`peer id: ${peerId}`)
    for (const addr of addrs) out.line(`${announced ? 'announces' : 'dial at'}: ${addr}`)
    if (!announced && config.listen.some(isWildcard)) out.line('(from this host\'s interfaces; behind NAT set announce to the public address)')
  })
  return cmd
}

const WILDCARD = /^\/(ip4\/0\.0\.0\.0|ip6\/::)(\/.*)$/

function isWildcard (listen: string): boolean {
  return WILDCARD.test(listen)
}

/** `/ip4/0.0.0.0/tcp/7400` → one address per IPv4 interface of this host (non-loopback first); others as they are. */
export function expandWildcard (listen: string, interfaces = networkInterfaces()): string[] {
  const m = WILDCARD.exec(listen)
  if (m == null) return [listen]
  const family = m[1].startsWith('ip4') ? 'IPv4' : 'IPv6'
  const found = Object.values(interfaces).flatMap(list => list ?? [])
    .filter(i => i.family === family && !(family === 'IPv6' && i.address.toLowerCase().startsWith('fe80')))
    .sort((a, b) => Number(a.internal) - Number(b.internal))
    .map(i => `/${family === 'IPv4' ? 'ip4' : 'ip6'}/${i.address}${m[2]}`)
  return found.length > 0 ? found : [listen]
}
