/**
 * A rogue member attacking its own network from its own process, written from
 * docs/protocol.md: it holds the identity key of a relay the authorities
 * admitted with every flag (its operator turned attacker, or its key stolen)
 * and speaks `/ghostnode/swarm/2.0.0` directly to the other members. What it
 * may do is what any member may: nothing here is signed by a mailbox owner.
 *
 *   node dist/harness/attacks/member.js --identity-dir <member data dir> --target <ma/p2p/id>[,...] --mailbox <hex>
 *        [--puts n] [--replay-delete-all <timestamp>:<signature hex>]
 *   node dist/harness/attacks/member.js --identity-dir <dir> --target <ma/p2p/id> --pin-frames <connections> [--fresh] [--seconds s]
 *
 * Against each target in turn: a GET, a DELETE_ALL and a WATCH (live delivery)
 * of the mailbox with a fresh timestamp and a signature of its own making; a
 * PUSH of a record whose content does not match its hash; the owner's DELETE_ALL
 * replayed, when given (as an exit that carried it would hold it); then `puts`
 * records into the mailbox, pipelined on one stream as fast as the target
 * answers. Prints the statuses per target.
 *
 * `--pin-frames`: opens that many connections (each its own libp2p node with
 * the member's key, or with a fresh key each under `--fresh`), four swarm
 * streams on each, and on every stream announces a maximal frame and sends
 * all of it but its last byte, then holds for `seconds`; reports how many
 * streams the target closed and the bytes it took.
 *
 * stdout: one JSON object per line, the last with "final": true.
 */
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { type Libp2p } from 'libp2p'
import { attackerNode } from './attacker-node.js'
import { loadIdentity } from '../../src/identity/key-file.js'
import { MAX_SWARM_FRAME_BYTES, SWARM_PROTOCOL, SwarmOp, type OwnerAuth } from '../../src/swarm/peer/protocol.js'
import { createRecord } from '../../src/swarm/record-codec.js'
import { SwarmWire } from './swarm-wire.js'

const HOUR_MS = 3_600_000

function print (value: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

interface TargetResult {
  target: string
  get: number | string
  deleteAll: number | string
  watch: number | string
  push: number | string
  replay?: number | string
  puts: Record<string, number>
  putSeconds: number
}

async function attack (node: Libp2p, target: Multiaddr, mailbox: Uint8Array, puts: number, replay?: OwnerAuth): Promise<TargetResult> {
  const wire = await SwarmWire.open(node, target)
  try {
    // without the owner's key the best a member can send is a fresh timestamp and a signature of its own making
    const forged = (): OwnerAuth => ({ timestamp: Date.now(), signature: Uint8Array.from({ length: 64 }, () => Math.floor(Math.random() * 256)) })
    const get = await wire.call({ op: SwarmOp.GET, mailbox, namespace: 0, maxBytes: 1 << 20, auth: forged() })
    const deleteAll = await wire.call({ op: SwarmOp.DELETE_ALL, mailbox, auth: forged() })
    const watch = await wire.call({ op: SwarmOp.WATCH, mailbox, namespace: 0, since: 0, waitMs: 60_000, maxBytes: 1 << 20, known: [], auth: forged() })
    // a record altered after its hash was taken: what a member would push to slip a message past a subscriber
    const altered = createRecord({ mailbox, namespace: 0, timestamp: Date.now(), ttlMs: HOUR_MS, data: new TextEncoder().encode('pushed, not stored') })
    altered.data[0] ^= 1
    const push = await wire.call({ op: SwarmOp.PUSH, record: altered })
    const result: TargetResult = { target: target.toString(), get, deleteAll, watch, push, puts: {}, putSeconds: 0 }
    if (replay != null) result.replay = await wire.call({ op: SwarmOp.DELETE_ALL, mailbox, auth: replay })
    const started = performance.now()
    const now = Date.now()
    const statuses = await Promise.all(Array.from({ length: puts }, async (_, i) => {
      const record = createRecord({ mailbox, namespace: 0, timestamp: now, ttlMs: HOUR_MS, data: new TextEncoder().encode(`injected ${i} ${now}`) })
      return wire.call({ op: SwarmOp.PUT, record }, 30_000)
    }))
    result.putSeconds = Math.round(performance.now() - started) / 1000
    for (const s of statuses) result.puts[String(s)] = (result.puts[String(s)] ?? 0) + 1
    return result
  } finally {
    wire.close()
  }
}

const STREAMS_PER_CONNECTION = 4
const PIN_CHUNK_BYTES = 64 * 1024

/** Announces a maximal frame on each stream and sends all but its last byte; holds; counts what the target closed. */
async function pinFrames (identity: Awaited<ReturnType<typeof generateKeyPair>>, fresh: boolean, target: Multiaddr, connections: number, seconds: number): Promise<void> {
  const nodes: Libp2p[] = []
  let opened = 0
  let refused = 0
  let closedByTarget = 0
  let sentBytes = 0
  const started = performance.now()
  const pins: Array<Promise<void>> = []
  try {
    for (let c = 0; c < connections; c++) {
      const node = await attackerNode(fresh ? await generateKeyPair('Ed25519') : identity, { peer: true })
      nodes.push(node)
      for (let s = 0; s < STREAMS_PER_CONNECTION; s++) {
        pins.push((async () => {
          let stream
          try {
            stream = await node.dialProtocol(target, SWARM_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
          } catch {
            refused++
            return
          }
          opened++
          let closed = false
          stream.addEventListener('close', () => { closed = true })
          const header = new Uint8Array(4)
          new DataView(header.buffer).setUint32(0, MAX_SWARM_FRAME_BYTES)
          // a request header that decodes (version 2, a request) so the frame is read as one
          const body = new Uint8Array(PIN_CHUNK_BYTES)
          body.set([2, 1, 0, 0, 0, 1, SwarmOp.PUT])
          try {
            stream.send(header)
            let left = MAX_SWARM_FRAME_BYTES - 1
            for (let first = true; left > 0 && !closed; first = false) {
              const n = Math.min(left, PIN_CHUNK_BYTES)
              const chunk = first ? body.subarray(0, n) : new Uint8Array(n)
              if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(10_000) }).catch(() => {})
              left -= n
              sentBytes += n
            }
          } catch {}
          const until = started + seconds * 1000
          while (!closed && performance.now() < until) await new Promise(resolve => setTimeout(resolve, 100))
          if (closed) closedByTarget++
        })())
      }
    }
    await Promise.all(pins)
  } finally {
    print({ event: 'pin-frames', final: true, connections, opened, refused, closedByTarget, sentBytes, seconds: Math.round(performance.now() - started) / 1000 })
    await Promise.all(nodes.map(async n => { try { await n.stop() } catch {} }))
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      'identity-dir': { type: 'string' },
      target: { type: 'string' },
      mailbox: { type: 'string' },
      puts: { type: 'string', default: '300' },
      'replay-delete-all': { type: 'string' },
      'pin-frames': { type: 'string' },
      fresh: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '15' }
    }
  })
  const identity = await loadIdentity(values['identity-dir'] ?? '')
  if (identity == null) throw new Error('--identity-dir must hold a member\'s identity key')
  const targets = (values.target ?? '').split(',').filter(t => t !== '').map(t => multiaddr(t))
  if (targets.length === 0) throw new Error('--target <multiaddr/p2p/id> is required')
  if (values['pin-frames'] != null) {
    await pinFrames(identity.privateKey, values.fresh, targets[0], Number(values['pin-frames']), Number(values.seconds))
    return
  }
  if (values.mailbox == null) throw new Error('--mailbox <64 hex> is required')
  const mailbox = Uint8Array.from(Buffer.from(values.mailbox, 'hex'))
  let replay: OwnerAuth | undefined
  if (values['replay-delete-all'] != null) {
    const [timestamp, signature] = values['replay-delete-all'].split(':')
    replay = { timestamp: Number(timestamp), signature: Uint8Array.from(Buffer.from(signature, 'hex')) }
  }
  const node = await attackerNode(identity.privateKey, { peer: true })
  try {
    const results: TargetResult[] = []
    for (const target of targets) {
      const result = await attack(node, target, mailbox, Number(values.puts), replay)
      print({ event: 'target', ...result })
      results.push(result)
    }
    print({ event: 'member', final: true, peerId: node.peerId.toString(), results })
  } finally {
    await node.stop()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`member: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
