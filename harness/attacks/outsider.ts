/**
 * An outsider attacking a ghostnode network from its own process, written
 * from docs/protocol.md: a fresh identity that signs its own node record (a
 * record costs nothing to make) and speaks the wire protocols directly. The
 * admission tests and the flood benchmark run it; nothing here is trusted by
 * the nodes it talks to.
 *
 *   node dist/harness/attacks/outsider.js --mode swarm --target <ma/p2p/id> --mailbox <hex> [--puts n] [--addr <ma>]...
 *   node dist/harness/attacks/outsider.js --mode dir-flood --target <ma/p2p/id>[,<ma>...] --records n [--seconds s]
 *   node dist/harness/attacks/outsider.js --mode forge-document --target <ma/p2p/id> --authority-dir <data dir>
 *   node dist/harness/attacks/outsider.js --mode idle --target <ma/p2p/id> --connections n [--seconds s]
 *   node dist/harness/attacks/outsider.js --mode negotiate --target <ma/p2p/id> --streams n
 *
 * `swarm`: pushes its own record (RELAY|EXIT|SWARM, the addresses given) over
 * /ghostnode/dir/1.0.0, then asks /ghostnode/swarm/2.0.0 to read the mailbox,
 * delete everything in it and store `puts` records into it; prints the status
 * of each. `dir-flood`: signs `records` node records of fresh identities and
 * answers every directory GET with all of them (and with its own record
 * first), dials each target so it fetches on identify, and pushes each fake
 * record as if it were the pusher's; prints what it served. `forge-document`:
 * holds ONE authority's identity key (read from its data dir: a compromised
 * authority), fetches the target's membership document, and pushes the next
 * period's document admitting the outsider with every flag, signed by that one
 * authority only; prints the push status. `idle`: `connections` fresh
 * identities each open one connection and do nothing with it for `seconds`;
 * prints how many connected and how many the target closed. `negotiate`: one
 * connection opens `streams` streams asking for a protocol nobody speaks;
 * prints how they ended and whether the connection survived.
 *
 * stdout: one JSON object per line, the last with "final": true.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { type Libp2p } from 'libp2p'
import { attackerNode } from './attacker-node.js'
import { generateX25519 } from '../../src/crypto/x25519.js'
import { DIRECTORY_PROTOCOL, DirectoryRequestKind, DirectoryStatus, decodeRequest, encodeChangesHeader, encodeGetHeader, encodeRequest, decodeStatus } from '../../src/directory/protocol.js'
import { ALL_CAPABILITIES, createNodeRecord } from '../../src/directory/node-record.js'
import { SwarmOp } from '../../src/swarm/peer/protocol.js'
import { swarmCall } from './swarm-wire.js'
import { createRecord } from '../../src/swarm/record-codec.js'
import { loadIdentity } from '../../src/identity/key-file.js'
import { ALL_MEMBER_FLAGS, DocumentKind, MEMBERSHIP_PROTOCOL } from '../../src/membership/constants.js'
import { assembleDocument, decodeDocument, encodeDocumentBody, signDocumentBody, type MemberEntry } from '../../src/membership/document.js'
import { MembershipRequestKind, MembershipStatus, membershipExchange } from '../../src/membership/protocol.js'
import type { PrivateKey } from '@libp2p/interface'

export type OutsiderMode = 'swarm' | 'dir-flood' | 'forge-document' | 'idle' | 'negotiate'

const HOUR_MS = 3_600_000

function print (value: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

async function ownRecord (key: PrivateKey, addrs: Multiaddr[]): Promise<Uint8Array> {
  const now = Date.now()
  return (await createNodeRecord(key, {
    addrs,
    onionKey: generateX25519().publicKey,
    epoch: Math.floor(now / 86_400_000),
    validUntil: now + HOUR_MS,
    version: BigInt(now),
    capabilities: ALL_CAPABILITIES
  })).bytes
}

/** Pushes `record` over the directory protocol; the responder's status. */
async function push (node: Libp2p, target: Multiaddr, record: Uint8Array): Promise<string> {
  try {
    const stream = await node.dialProtocol(target, DIRECTORY_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
    const lp = lpStream(stream)
    await lp.write(encodeRequest({ kind: DirectoryRequestKind.PUSH, record }))
    const status = decodeStatus((await lp.read({ signal: AbortSignal.timeout(10_000) })).subarray())
    await stream.close()
    return Object.entries(DirectoryStatus).find(([, v]) => v === status)?.[0] ?? String(status)
  } catch (err) {
    return `error: ${(err as Error).message}`
  }
}

async function swarmAttack (node: Libp2p, key: PrivateKey, target: Multiaddr, mailbox: Uint8Array, puts: number, addrs: Multiaddr[]): Promise<void> {
  const pushed = await push(node, target, await ownRecord(key, addrs))
  // without the owner's key the best an attacker can send is a fresh timestamp and a signature of its own making
  const forged = { timestamp: Date.now(), signature: new Uint8Array(64).fill(7) }
  const get = await swarmCall(node, target, { op: SwarmOp.GET, mailbox, namespace: 0, maxBytes: 1 << 20, auth: forged })
  const deleteAll = await swarmCall(node, target, { op: SwarmOp.DELETE_ALL, mailbox, auth: forged })
  const putStatuses: Record<string, number> = {}
  const now = Date.now()
  for (let i = 0; i < puts; i++) {
    const record = createRecord({ mailbox, namespace: 0, timestamp: now, ttlMs: HOUR_MS, data: new TextEncoder().encode(`injected ${i} ${now}`) })
    const status = String(await swarmCall(node, target, { op: SwarmOp.PUT, record }))
    putStatuses[status] = (putStatuses[status] ?? 0) + 1
  }
  print({ event: 'swarm', final: true, peerId: node.peerId.toString(), pushed, get, deleteAll, puts: putStatuses })
}

async function dirFlood (node: Libp2p, key: PrivateKey, targets: Multiaddr[], count: number, seconds: number): Promise<void> {
  const loopback = [multiaddr('/ip4/127.0.0.1/tcp/9')]
  const fakes: Uint8Array[] = []
  for (let i = 0; i < count; i++) fakes.push(await ownRecord(await generateKeyPair('Ed25519'), loopback))
  const own = await ownRecord(key, node.getMultiaddrs().map(a => a.decapsulateCode(421)))
  let served = 0
  let gets = 0
  await node.handle(DIRECTORY_PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    try {
      const request = decodeRequest((await lp.read()).subarray())
      if (request.kind !== DirectoryRequestKind.GET && request.kind !== DirectoryRequestKind.CHANGES) {
        await lp.write(Uint8Array.of(1, DirectoryStatus.OK))
        return
      }
      // a full reply or a CHANGES reply "since the beginning": the flood either way
      gets++
      const records = [own, ...fakes]
      await lp.write(request.kind === DirectoryRequestKind.GET
        ? encodeGetHeader(DirectoryStatus.OK, records.length)
        : encodeChangesHeader(DirectoryStatus.OK, records.length, { epoch: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), seq: records.length }))
      for (const r of records) {
        await lp.write(r)
        served++
      }
      await stream.close()
    } catch {
      // the victim hung up: that is what a bounded reader does
    }
  })
  for (const t of targets) await node.dial(t, { signal: AbortSignal.timeout(10_000) }).catch(() => {})
  const pushes: Record<string, number> = {}
  for (const t of targets) {
    for (const r of fakes.slice(0, 50)) {
      const status = await push(node, t, r)
      pushes[status] = (pushes[status] ?? 0) + 1
    }
  }
  await sleep(seconds * 1000)
  print({ event: 'dir-flood', final: true, peerId: node.peerId.toString(), records: count, gets, served, pushes })
}

async function forgeDocument (node: Libp2p, target: Multiaddr, stolen: PrivateKey, outsider: PrivateKey): Promise<void> {
  const signal = AbortSignal.timeout(10_000)
  const got = await membershipExchange(await node.dialProtocol(target, MEMBERSHIP_PROTOCOL, { signal }), { kind: MembershipRequestKind.GET, havePeriod: 0 }, { signal })
  if (got.status !== MembershipStatus.OK) throw new Error(`the target served no document (status ${got.status})`)
  const current = decodeDocument(got.body)
  const self: MemberEntry = { peerId: peerIdFromPrivateKey(outsider).toString(), key: outsider.publicKey.raw, recordHash: new Uint8Array(32), flags: ALL_MEMBER_FLAGS, addrs: [] }
  const body = encodeDocumentBody({ ...current, kind: DocumentKind.CONSENSUS, period: current.period + 1, validUntil: current.validUntil + 60_000, members: [...current.members, self] })
  const index = current.authorities.findIndex(k => Buffer.from(k).equals(Buffer.from(stolen.publicKey.raw)))
  const forged = assembleDocument(body, [{ index, signature: await signDocumentBody(body, stolen) }])
  const pushed = await membershipExchange(await node.dialProtocol(target, MEMBERSHIP_PROTOCOL, { signal }), { kind: MembershipRequestKind.PUSH, document: forged }, { signal })
  print({ event: 'forge-document', final: true, peerId: self.peerId, period: current.period + 1, signers: 1, status: MembershipStatus[pushed.status] })
}

/** Dials at once from the idle attacker: under the target's cap on handshakes per prefix, so none is refused for that. */
const IDLE_DIAL_CONCURRENCY = 6

/** `connections` fresh identities, one idle connection each, held until `seconds` after the first. */
async function idleConnections (target: Multiaddr, connections: number, seconds: number): Promise<void> {
  const nodes: Libp2p[] = []
  const held: Array<Promise<void>> = []
  let opened = 0
  let refused = 0
  let closedByTarget = 0
  const until = performance.now() + seconds * 1000
  const hold = async (node: Libp2p, conn: Awaited<ReturnType<Libp2p['dial']>>): Promise<void> => {
    while (performance.now() < until) {
      if (conn.status !== 'open' || node.getConnections().length === 0) {
        closedByTarget++
        return
      }
      await sleep(100)
    }
  }
  try {
    let next = 0
    await Promise.all(Array.from({ length: IDLE_DIAL_CONCURRENCY }, async () => {
      while (next < connections) {
        next++
        const node = await attackerNode(await generateKeyPair('Ed25519'), { peer: false })
        nodes.push(node)
        try {
          const conn = await node.dial(target, { signal: AbortSignal.timeout(10_000) })
          opened++
          held.push(hold(node, conn))
        } catch {
          refused++
        }
      }
    }))
    await Promise.all(held)
  } finally {
    print({ event: 'idle', final: true, connections, opened, refused, closedByTarget })
    await Promise.all(nodes.map(async n => { try { await n.stop() } catch {} }))
  }
}

/** One connection, `streams` streams each asking for a protocol the target does not speak. */
async function negotiate (target: Multiaddr, streams: number): Promise<void> {
  const node = await attackerNode(await generateKeyPair('Ed25519'), { peer: false })
  const outcomes: Record<string, number> = {}
  const started = performance.now()
  try {
    const conn = await node.dial(target, { signal: AbortSignal.timeout(10_000) })
    for (let i = 0; i < streams && conn.status === 'open' && outcomes.ConnectionClosedError === undefined; i++) {
      let outcome: string
      try {
        const s = await conn.newStream(`/ghostnode/nothing/${i}`, { signal: AbortSignal.timeout(5_000) })
        s.abort(new Error('unexpected'))
        outcome = 'accepted'
      } catch (err) {
        outcome = (err as Error).name
      }
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1
    }
    await sleep(200)
    print({ event: 'negotiate', final: true, streams, outcomes, connectionOpen: conn.status === 'open' && node.getConnections().length > 0, seconds: Math.round(performance.now() - started) / 1000 })
  } finally {
    await node.stop()
  }
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      target: { type: 'string' },
      mailbox: { type: 'string' },
      puts: { type: 'string', default: '20' },
      records: { type: 'string', default: '1000' },
      seconds: { type: 'string', default: '3' },
      addr: { type: 'string', multiple: true, default: [] },
      'authority-dir': { type: 'string' },
      connections: { type: 'string', default: '300' },
      streams: { type: 'string', default: '5000' }
    }
  })
  const mode = values.mode as OutsiderMode
  const targets = (values.target ?? '').split(',').filter(t => t !== '').map(t => multiaddr(t))
  if (targets.length === 0) throw new Error('--target <multiaddr/p2p/id> is required')
  if (mode === 'idle') return idleConnections(targets[0], Number(values.connections), Number(values.seconds))
  if (mode === 'negotiate') return negotiate(targets[0], Number(values.streams))
  const key = await generateKeyPair('Ed25519')
  // forging a document, it speaks as the authority whose key it stole (a push from a stranger is never read)
  const stolen = mode === 'forge-document' ? (await loadIdentity(values['authority-dir'] ?? ''))?.privateKey : undefined
  if (mode === 'forge-document' && stolen == null) throw new Error('--authority-dir must hold an identity key')
  const node = await attackerNode(stolen ?? key, { peer: true })
  try {
    if (mode === 'swarm') {
      if (values.mailbox == null) throw new Error('--mailbox <64 hex> is required')
      await swarmAttack(node, key, targets[0], Buffer.from(values.mailbox, 'hex'), Number(values.puts), values.addr.map(a => multiaddr(a)))
    } else if (mode === 'dir-flood') {
      await dirFlood(node, key, targets, Number(values.records), Number(values.seconds))
    } else if (mode === 'forge-document') {
      await forgeDocument(node, targets[0], stolen!, key)
    } else {
      throw new Error('--mode must be swarm, dir-flood, forge-document, idle or negotiate')
    }
  } finally {
    await node.stop()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`outsider: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
