// One-shot setup of the compose testnet (service "init"): creates the identities of node1..3 in
// their data volumes and writes each node's config.json with a bootstrap list naming the other
// nodes by compose service name, and the network's authorities (all three nodes, k = 2). Identities are kept when they already exist, so the testnet keeps
// its peer ids across `docker compose down` / `up` (until `down -v` removes the volumes). No key
// ever leaves its node's volume; only peer ids are printed.
//
// Runs as root (fresh named volumes are root-owned) and hands every file to the image's `node`
// user, which the relays run as.
import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const NODES = (process.env.TESTNET_NODES ?? 'node1,node2,node3').split(',')
const ROOT = process.env.TESTNET_ROOT ?? '/testnet'
const TCP_PORT = process.env.TESTNET_TCP_PORT ?? '7400'
// uid/gid of `node` in the official node images
const OWNER_UID = Number(process.env.TESTNET_UID ?? 1000)
const OWNER_GID = Number(process.env.TESTNET_GID ?? 1000)

function ghostnode (args) {
  return execFileSync('ghostnode', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
}

function chownTree (path) {
  chownSync(path, OWNER_UID, OWNER_GID)
  if (statSync(path).isDirectory()) {
    for (const entry of readdirSync(path)) chownTree(join(path, entry))
  }
}

const peerIds = new Map()
for (const name of NODES) {
  const dir = join(ROOT, name)
  ghostnode(['init', '--data-dir', dir])
  peerIds.set(name, JSON.parse(ghostnode(['id', '--data-dir', dir, '--json'])).peerId)
}

// every node is one of the testnet's authorities (k = 2 of 3): the network admits its own relays.
// The compose network's addresses are private, so the testnet allows them; periods are short and
// probation brief so a fresh testnet carries circuits and swarm data within seconds.
const authorities = NODES.map(n => `/dns4/${n}/tcp/${TCP_PORT}/p2p/${peerIds.get(n)}`)
const network = {
  authorities,
  allowPrivateAddresses: true,
  documentIntervalMs: 5000,
  admission: { probationMs: 10000, maxPer24: 1000, maxPer16: 1000, maxNewPerHour: 1000 }
}

for (const name of NODES) {
  const dir = join(ROOT, name)
  const bootstrap = NODES.filter(n => n !== name).map(n => `/dns4/${n}/tcp/${TCP_PORT}/p2p/${peerIds.get(n)}`)
  // Only the bootstrap list and the network: everything else comes from the image's and compose's
  // GHOSTNODE_* environment, which wins over this file anyway. Paths in a file written here would
  // name this container's mount points, not the node's /data.
  writeFileSync(join(dir, 'config.json'), [
    '// written by docker/testnet-init.mjs (compose service "init"): the compose testnet\'s bootstrap list and network',
    JSON.stringify({ bootstrap, network }, null, 2),
    ''
  ].join('\n'), { mode: 0o644 })
  chownTree(dir)
  chmodSync(dir, 0o700)
  console.log(`${name} ${peerIds.get(name)} bootstrap ${bootstrap.join(' ')}`)
}
