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
    const addrs = (config.announce.length > 0 ? config.announce : config.listen).map(a => `${a}/p2p/${peerId}`)
    if (opts.json === true) {
      out.line(JSON.stringify({ peerId, addrs }))
      return
    }
    out.line(`peer id: ${peerId}`)
    for (const addr of addrs) out.line(`${config.announce.length > 0 ? 'announces' : 'listens'}: ${addr}`)
  })
  return cmd
}
