import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { expect } from 'chai'
import { getJson, waitUntil } from '../../harness/testnet/ready.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey } from '../../src/swarm/auth.js'
import { startGhostnode, stopGhostnode, type GhostnodeProcess } from '../../harness/lib/ghostnode-process.js'
import { until } from '../helpers/network.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

/** A debug line of the Kademlia DHT (namespace libp2p:kad-dht or below). */
const DHT_LINE = /^\S+ libp2p:kad-dht[:\s]/
const encoder = new TextEncoder()
const decoder = new TextDecoder()

const NODE_ARGS = [
  '--listen', '/ip4/127.0.0.1/tcp/0',
  '--http-host', '127.0.0.1',
  '--http-port', '0',
  '--set', 'directory.fetchIntervalMs=1000',
  // the test client asks for the directory until it holds every record
  '--set', 'directory.minServeIntervalMs=0',
  '--set', 'discovery.bootstrapRetryMinMs=250',
  '--set', 'discovery.bootstrapRetryMaxMs=2000',
  // a loopback network whose first node is its authority (the others name it), admitting at once
  '--set', 'network.allowPrivateAddresses=true',
  '--set', 'network.documentIntervalMs=1000',
  '--set', 'network.admission.probationMs=0',
  '--set', 'network.admission.maxPer24=100',
  '--set', 'network.admission.maxPer16=100'
]

/**
 * Text forms a byte string can take in a log: hex, and base64/base64url at
 * each of the three alignments it can have inside a longer encoded buffer
 * (whole 3-byte groups only, so the needle is a substring of any such encoding).
 */
function encodedForms (bytes: Uint8Array): string[] {
  const buf = Buffer.from(bytes)
  const forms = [buf.toString('hex')]
  for (let skip = 0; skip < 3; skip++) {
    const part = buf.subarray(skip, skip + Math.floor((buf.length - skip) / 3) * 3)
    if (part.length < 12) continue
    forms.push(part.toString('base64'), part.toString('base64url'))
  }
  return [...new Set(forms)]
}

interface Secret { what: string, needle: string }

async function nodeSecrets (node: GhostnodeProcess, name: string): Promise<Secret[]> {
  const secrets: Secret[] = []
  const identityFile = await readFile(join(node.dataDir, 'identity.key'))
  const identity = privateKeyFromProtobuf(identityFile)
  for (const needle of encodedForms(identityFile)) secrets.push({ what: `${name} identity.key contents`, needle })
  for (const needle of encodedForms(identity.raw)) secrets.push({ what: `${name} identity private key`, needle })
  for (const needle of encodedForms(identity.raw.subarray(0, 32))) secrets.push({ what: `${name} identity private seed`, needle })

  const onionFile = await readFile(join(node.dataDir, 'onion-keys.json'), 'utf8')
  secrets.push({ what: `${name} onion-keys.json contents`, needle: onionFile.trim() })
  const parsed = JSON.parse(onionFile) as { keys: Array<{ epoch: number, privateKey: string }> }
  expect(parsed.keys.length, `${name} onion keys`).to.be.greaterThan(0)
  for (const key of parsed.keys) {
    secrets.push({ what: `${name} onion key epoch ${key.epoch} (as stored)`, needle: key.privateKey })
    for (const needle of encodedForms(Buffer.from(key.privateKey, 'base64url'))) secrets.push({ what: `${name} onion key epoch ${key.epoch}`, needle })
  }
  return secrets
}

function linesWithBoth (text: string, a: string, b: string): string[] {
  return text.split('\n').filter(line => line.includes(a) && line.includes(b))
}

describe('log privacy of ghostnode processes with DEBUG=*', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: GhostnodeProcess[] = []
  let client: GhostClient | undefined

  beforeEach(async () => {
    dir = await makeTempDir()
  })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    await Promise.all(nodes.map(async n => stopGhostnode(n, 'SIGKILL')))
    nodes = []
    await removeTempDir(dir)
  })

  for (const format of ['text', 'json'] as const) {
  it(`logs no payload, no key material and no line naming both neighbours of a circuit (log.format ${format}, log.level debug)`, async () => {
    const env = { DEBUG: '*' }
    const args = [...NODE_ARGS, '--log-level', 'debug', '--log-format', format, '--set', 'log.heartbeatMs=1000']
    const first = await startGhostnode({ dataDir: join(dir, 'n0'), args, env })
    nodes.push(first)
    for (let i = 1; i < 3; i++) {
      nodes.push(await startGhostnode({ dataDir: join(dir, `n${i}`), args: [...args, '--bootstrap', first.addr, '--set', `network.authorities=${first.addr}`], env }))
    }
    await waitUntil('every node to hold every directory record and swarm member', async (state) => {
      const health = await Promise.all(nodes.map(async n => (await getJson(`${n.httpUrl}/health`)).body))
      state.last = `records ${health.map(h => h?.directoryRecords).join(', ')}; members ${health.map(h => h?.swarmMembers).join(', ')}`
      return health.every(h => h?.directoryRecords === 3 && h?.swarmMembers === 3) ? true : undefined
    }, { timeoutMs: 20_000 })

    client = await GhostClient.create({ bootstrap: [first.addr] })
    const c = client
    await until(async () => {
      await c.refreshDirectory()
      return c.records().filter(r => r.addrs.length > 0).length === 3
    }, 15_000, 'the client directory to hold three records with addresses')

    const tag = randomBytes(12).toString('hex')
    const echoMarker = encoder.encode(`echo-marker-${tag}-payload`)
    const storeMarker = encoder.encode(`store-marker-${tag}-message`)
    const mailbox = MailboxKey.generate()

    const paths = new Set<string>()
    const notePath = async (): Promise<void> => { paths.add((await c.circuit()).path.map(String).join(' ')) }
    await notePath()
    expect(await c.echo(echoMarker)).to.deep.equal(echoMarker)
    await notePath()
    await c.store(mailbox.publicKey, storeMarker, { raw: true, ttlMs: 600_000 })
    await notePath()
    const page = await c.retrieve(mailbox)
    await notePath()
    expect(page.messages.map(m => decoder.decode(m.data))).to.deep.equal([decoder.decode(storeMarker)])
    const clientId = c.libp2p.peerId.toString()
    await c.stop()
    client = undefined

    for (const n of nodes) {
      const { exit } = await stopGhostnode(n, 'SIGTERM')
      expect(exit.code, `exit of ${n.peerId}`).to.equal(0)
    }
    const logs = new Map(await Promise.all(nodes.map(async (n) => {
      const { stdout, stderr } = await n.output()
      return [n.peerId, `${stdout}\n${stderr}`] as const
    })))
    const all = [...logs.values()].join('\n')
    // the capture works: debug output of both libp2p and ghostnode namespaces is there
    expect(all).to.match(/ libp2p:/)
    expect(all).to.match(/ ghostnode:/)
    // and so are the operator's log lines, at every level up to debug, in this format
    const lineOf = (level: string, text: string): RegExp => format === 'json' ? new RegExp(`"level":"${level}".*"msg":"${text}`) : new RegExp(`${level.toUpperCase()}: ${text}`)
    expect(all).to.match(lineOf('info', 'bootstrap: 1 of 1 bootstrap peers reached'))
    expect(all).to.match(lineOf('info', 'heartbeat: up'))
    expect(all).to.match(lineOf('debug', 'peer connected: '))
    expect(all).to.match(lineOf('warn', 'this node announces only private'))

    const leaks: string[] = []
    const findIn = (what: string, needle: string): void => {
      for (const [peer, text] of logs) {
        const line = text.split('\n').find(l => l.includes(needle))
        if (line != null) leaks.push(`${what} in the log of ${peer}: ${line}`)
      }
    }
    for (const [what, marker] of [['echo payload', echoMarker], ['stored message', storeMarker]] as const) {
      findIn(`${what} (UTF-8)`, decoder.decode(marker))
      for (const needle of encodedForms(marker)) findIn(`${what} (encoded ${needle})`, needle)
    }
    for (const [i, n] of nodes.entries()) {
      for (const s of await nodeSecrets(n, `n${i}`)) findIn(s.what, s.needle)
    }
    for (const needle of encodedForms(mailbox.exportSeed())) findIn('mailbox private seed', needle)

    expect(paths.size, 'circuits used').to.be.greaterThan(0)
    for (const joined of paths) {
      const path = joined.split(' ')
      expect(path).to.have.length(3)
      expect(new Set(path)).to.deep.equal(new Set(nodes.map(n => n.peerId)))
      for (const [i, hop] of path.entries()) {
        const text = logs.get(hop) as string
        const previous = i === 0 ? clientId : path[i - 1]
        if (i < path.length - 1) {
          // Kademlia routing lines (libp2p:kad-dht:*, e.g. query-path.js "skipping %p as they are not
          // closer to %b than %p") name pairs of relays as DHT peers, with or without any circuit; on a
          // three-relay network they always pair a middle hop's neighbours. They are counted and
          // printed, not failed; every other line is held to the rule. The client speaks no DHT, so
          // lines naming the client are checked without exception.
          const both = linesWithBoth(text, previous, path[i + 1])
          const routing = both.filter(line => DHT_LINE.test(line))
          if (routing.length > 0) console.log(`      hop ${i}: ${routing.length} kad-dht routing line(s) name both relays ${previous} and ${path[i + 1]}, e.g.: ${routing[0]}`)
          for (const line of both.filter(l => !DHT_LINE.test(l) || previous === clientId)) leaks.push(`hop ${i} (${hop}) names its previous hop ${previous} and next hop ${path[i + 1]}: ${line}`)
        }
        {
          for (const line of linesWithBoth(text, clientId, path[path.length - 1])) leaks.push(`hop ${i} (${hop}) names the client ${clientId} and the exit: ${line}`)
        }
      }
    }
    expect(leaks, leaks.join('\n')).to.deep.equal([])
  })
  }
})
