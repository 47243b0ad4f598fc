/**
 * A misbehaving neighbour, run as its own process by the flood test and the
 * flood benchmark: it opens one link (`/ghostnode/link/2.0.0`) to a relay and
 * sends cells far above the relay's per-peer allowance.
 *
 *   node dist/harness/flood/flooder.js --target <multiaddr/p2p/id> [--kind create|padding]
 *        [--rate <cells/s>] [--seconds <n>] [--report-ms <n>] [--push-record]
 *
 * `--push-record` first pushes a node record the flooder signed itself (relay,
 * exit and swarm capabilities): a record costs nothing to make, so it must buy
 * the flooder nothing (no relay budget) unless the network admitted it.
 *
 * `create` (the default) sends CREATE cells with random layers, each on a fresh
 * circuit id: every one is charged to the relay's per-peer `circuits` bucket
 * before any crypto. `padding` sends link PADDING cells.
 *
 * stdout is one JSON object per line: `{"event":"ready","peerId":...}` once
 * the link is open, then `{"event":"stats",...}` every report interval and a
 * last one with `"final":true` when it stops (SIGTERM/SIGINT, --seconds
 * elapsed, or the relay closed the link, e.g. after banning it).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { destroyReasonName, encodeCell, setCellCircId } from '../../src/onion/cell.js'
import { CellCommand } from '../../src/wire/onion-format.js'
import { linkManager } from '../../src/onion/link-manager.js'
import { DIRECTORY_PROTOCOL, pushRecord } from '../../src/directory/protocol.js'
import { ALL_CAPABILITIES, createNodeRecord } from '../../src/directory/node-record.js'
import { generateX25519 } from '../../src/crypto/x25519.js'
import type { Link } from '../../src/onion/link.js'
import type { Libp2p } from 'libp2p'
import type { PeerId, PrivateKey } from '@libp2p/interface'

export type FloodKind = 'create' | 'padding'

export interface FlooderStats {
  event: 'stats'
  final: boolean
  elapsedMs: number
  /** Cells handed to the link. */
  sent: number
  /** Cells the local link queue refused (the relay or the network was not reading fast enough). */
  queueFull: number
  /** DESTROY cells received, by reason name (RESOURCE_LIMIT = refused by the relay's limiter). */
  destroyed: Record<string, number>
  linkOpen: boolean
  /** CPU time this process has used (user + system), ms. */
  cpuMs: number
}

/** Most cells sent in one loop turn, so a stall is not followed by an unbounded burst. */
const MAX_CELLS_PER_TURN = 256
const TURN_MS = 5

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      kind: { type: 'string', default: 'create' },
      rate: { type: 'string', default: '2000' },
      seconds: { type: 'string', default: '0' },
      'report-ms': { type: 'string', default: '250' },
      'push-record': { type: 'boolean', default: false }
    }
  })
  const target = values.target
  const kind = values.kind as FloodKind
  const rate = Number(values.rate)
  const seconds = Number(values.seconds)
  const reportMs = Number(values['report-ms'])
  if (target == null || !target.includes('/p2p/')) throw new Error('--target <multiaddr ending in /p2p/<peer id>> is required')
  if (kind !== 'create' && kind !== 'padding') throw new Error('--kind must be create or padding')
  if (!(rate > 0) || !(seconds >= 0) || !(reportMs > 0)) throw new Error('--rate and --report-ms must be > 0, --seconds >= 0')

  const privateKey = await generateKeyPair('Ed25519')
  const libp2p = await createLibp2p({
    privateKey,
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { links: linkManager({ acceptInbound: false }) }
  })
  const stats: FlooderStats = { event: 'stats', final: false, elapsedMs: 0, sent: 0, queueFull: 0, destroyed: {}, linkOpen: false, cpuMs: 0 }
  let stopping = false
  const stopped = Promise.withResolvers<void>()
  const stop = (): void => {
    stopping = true
    stopped.resolve()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)

  libp2p.services.links.setHandler({
    onCell: (link, cell) => {
      if (cell.cmd !== CellCommand.DESTROY) return
      const reason = destroyReasonName(cell.payload[0])
      stats.destroyed[reason] = (stats.destroyed[reason] ?? 0) + 1
      link.releaseCircId(cell.circId)
    },
    onLinkClose: () => {
      stats.linkOpen = false
      stop()
    }
  })

  const relay = peerIdFromString(target.slice(target.lastIndexOf('/p2p/') + 5))
  await libp2p.dial(multiaddr(target))
  if (values['push-record']) await pushOwnRecord(libp2p, relay, privateKey)
  const link = await libp2p.services.links.getLink(relay)
  stats.linkOpen = link.isOpen
  print({ event: 'ready', peerId: libp2p.peerId.toString(), kind, rate })

  const started = performance.now()
  const report = (final: boolean): void => {
    stats.elapsedMs = Math.round(performance.now() - started)
    const cpu = process.cpuUsage()
    stats.cpuMs = Math.round((cpu.user + cpu.system) / 1000)
    stats.final = final
    print(stats)
  }
  const timer = setInterval(() => { report(false) }, reportMs)
  const template = kind === 'create'
    ? encodeCell({ circId: 1, cmd: CellCommand.CREATE })
    : encodeCell({ circId: 0, cmd: CellCommand.PADDING })

  const flood = async (): Promise<void> => {
    while (!stopping && link.isOpen) {
      const elapsedMs = performance.now() - started
      if (seconds > 0 && elapsedMs >= seconds * 1000) break
      const due = Math.min(MAX_CELLS_PER_TURN, Math.floor(rate * elapsedMs / 1000) - stats.sent)
      for (let i = 0; i < due; i++) {
        if (!sendOne(link, template, kind)) {
          stats.queueFull++
          await link.waitForRoom()
          break
        }
        stats.sent++
      }
      await sleep(TURN_MS)
    }
  }
  await Promise.race([flood(), stopped.promise])
  clearInterval(timer)
  stats.linkOpen = link.isOpen
  report(true)
  await libp2p.stop()
}

/** Queues one copy of the template (CREATEs on a fresh circuit id). False when the link queue is full. */
function sendOne (link: Link, template: Uint8Array, kind: FloodKind): boolean {
  const cell = template.slice()
  if (kind === 'padding') return link.send(cell)
  const circId = link.allocateCircId()
  setCellCircId(cell, circId)
  if (link.send(cell)) return true
  link.releaseCircId(circId)
  return false
}

function print (value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

main().then(() => { process.exit(0) }, (err: Error) => {
  process.stderr.write(`flooder: ${err.stack ?? err.message}\n`)
  process.exit(1)
})

/** Pushes a record the flooder signed itself (docs/protocol.md §8 PUSH). */
async function pushOwnRecord (libp2p: Libp2p<any>, relay: PeerId, key: PrivateKey): Promise<void> {
  const now = Date.now()
  const record = await createNodeRecord(key, {
    addrs: [], onionKey: generateX25519().publicKey, epoch: Math.floor(now / 86_400_000), validUntil: now + 3_600_000, version: BigInt(now), capabilities: ALL_CAPABILITIES
  })
  const signal = AbortSignal.timeout(10_000)
  const stream = await libp2p.dialProtocol(relay, DIRECTORY_PROTOCOL, { signal })
  print({ event: 'pushed', status: await pushRecord(stream, record.bytes, { signal }) })
}
