import { spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { startGhostnode, stopGhostnode, type GhostnodeProcess } from '../../harness/lib/ghostnode-process.js'
import { getJson, waitForReady, waitUntil } from '../../harness/testnet/ready.js'
import { startTestnet, type Testnet, type TestnetNode } from '../../harness/testnet/testnet.js'
import { runCli } from '../../src/cli/program.js'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { MailboxKey, formatMailbox } from '../../src/swarm/auth.js'
import { readMailboxKeyFile, writeMailboxKeyFile } from '../../src/swarm/key-file.js'
import { fileURLToPath } from 'node:url'
import { MessageStore } from '../../src/swarm/store/store.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Output } from '../../src/cli/output.js'
import { Registry } from 'prom-client'

const decoder = new TextDecoder()
const BIN = fileURLToPath(new URL('../../../bin/ghostnode.js', import.meta.url))

function tcpAddr (node: TestnetNode): string {
  const addr = node.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))
  if (addr == null) throw new Error(`${node.name} reports no TCP address`)
  return addr
}

/** Every node's ring holds all the nodes and has pulled from them (from /health). */
async function swarmFormed (net: Testnet): Promise<void> {
  await waitUntil('every swarm ring to hold every node', async (state) => {
    const health = await Promise.all(net.nodes.map(async n => (await getJson(`${n.httpUrl}/health`)).body))
    const members = health.map(h => h?.swarmMembers)
    state.last = `swarm members ${members.join(', ')}; directory records ${health.map(h => h?.directoryRecords).join(', ')}`
    return members.every(m => m === net.nodes.length) ? true : undefined
  }, { timeoutMs: 15_000 })
}

function capture (): Output & { out: string[], err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, line: (t) => out.push(t), error: (t) => err.push(t) }
}

describe('swarm on ghostnode processes (3-node testnet)', function () {
  this.timeout(30_000)
  let net: Testnet | undefined
  let restarted: GhostnodeProcess | undefined
  let client: GhostClient | undefined
  let dir: string

  beforeEach(async () => {
    dir = await makeTempDir()
    // a node can miss a peer's record until its next directory fetch (a publish/identify race in the
    // directory); fetching every second keeps the wait for a complete ring short
    net = await startTestnet({ nodes: 3, basePort: 0, extraArgs: ['--set', 'swarm.reconcileIntervalMs=86400000', '--set', 'directory.fetchIntervalMs=1000'] })
    await swarmFormed(net)
  })
  afterEach(async () => {
    await client?.stop()
    client = undefined
    if (restarted != null) await stopGhostnode(restarted)
    restarted = undefined
    await net?.stop()
    net = undefined
    await removeTempDir(dir)
  })

  it('keeps an acknowledged message on a member SIGKILLed right after the ack, and serves it after restart', async () => {
    if (net == null) throw new Error('no testnet')
    client = await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[0])] })
    const key = MailboxKey.generate()
    const receipt = await client.store(key.publicKey, new TextEncoder().encode('survives SIGKILL'), { raw: true, ttlMs: 600_000 })
    const victim = net.nodes.find(n => receipt.members.includes(n.peerId))
    if (victim == null) throw new Error('no testnet node acknowledged')
    process.kill(victim.pid, 'SIGKILL')
    const exit = await victim.process.exited
    expect(exit.signal).to.equal('SIGKILL')

    // the victim's own database, reopened as its restart would: the message is there
    const store = new MessageStore({ path: join(victim.dataDir, 'swarm'), registry: new Registry() })
    await store.open()
    try {
      expect(await store.has(key.publicKey, receipt.hash)).to.equal(true)
    } finally {
      await store.close()
    }

    const other = net.nodes.find(n => n !== victim) as TestnetNode
    restarted = await startGhostnode({ name: `${victim.name}-restarted`, dataDir: victim.dataDir, args: ['--bootstrap', tcpAddr(other), ...net.networkArgs] })
    await waitForReady(victim.httpUrl, { timeoutMs: 15_000 })
    const health = await getJson(`${victim.httpUrl}/health`)
    expect(health.body.peerId).to.equal(victim.peerId)
    expect(health.body.swarmRecords).to.equal(1)
    // a new client: the old one avoids the killed hop for a minute, and three hops need all three nodes
    await client.stop()
    client = await GhostClient.create({ bootstrap: [tcpAddr(other)] })
    const page = await client.retrieve(key)
    expect(page.messages.map(m => decoder.decode(m.data))).to.deep.equal(['survives SIGKILL'])
  })

  it('ghostnode keygen, send and fetch round-trip through 3-hop circuits', async () => {
    if (net == null) throw new Error('no testnet')
    const keyFile = join(dir, 'me.key')
    const common = ['--data-dir', join(dir, 'cli-home')]
    const boot = ['--bootstrap', tcpAddr(net.nodes[1])]

    const keygen = capture()
    expect(await runCli(['keygen', '--out', keyFile, ...common], keygen)).to.equal(0)
    const publicKey = /^public key: ([0-9a-f]{64})$/m.exec(keygen.out.join('\n'))?.[1]
    expect(publicKey, keygen.out.join('\n')).to.be.a('string')

    const send = capture()
    expect(await runCli(['send', '--to', publicKey as string, '--ttl', '600', ...boot, ...common, 'hello from the CLI'], send), send.err.join('\n')).to.equal(0)
    expect(send.out.join('\n')).to.match(/^stored \(sealed to the recipient\): [0-9a-f]{64}$/m)
    const file = join(dir, 'note.txt')
    await writeFile(file, 'a file\'s bytes')
    const sendFile = capture()
    expect(await runCli(['send', '--to', publicKey as string, ...boot, ...common, `@${file}`], sendFile), sendFile.err.join('\n')).to.equal(0)
    // signed inside the envelope by the sender's own mailbox key
    const senderKey = join(dir, 'sender.key')
    expect(await runCli(['keygen', '--out', senderKey, ...common], capture())).to.equal(0)
    const senderPublic = MailboxKey.fromSeed((await readMailboxKeyFile(senderKey)).exportSeed()).publicKey
    const signed = capture()
    expect(await runCli(['send', '--to', publicKey as string, '--from', senderKey, ...boot, ...common, 'signed by me'], signed), signed.err.join('\n')).to.equal(0)

    // no --bootstrap: the client asks the local node (here: one testnet node's HTTP endpoint) for its addresses
    const fetch = capture()
    expect(await runCli(['fetch', '--key', keyFile, '--delete', '--url', net.nodes[2].httpUrl, ...common], fetch), fetch.err.join('\n')).to.equal(0)
    const text = fetch.out.join('\n')
    expect(text).to.contain('hello from the CLI')
    expect(text).to.contain('a file\'s bytes')
    expect(text).to.match(new RegExp(`\\[from ${formatMailbox(senderPublic)}\\] signed by me`))
    expect(text).to.contain('3 message(s)')
    expect(text).to.contain('deleted 3 message(s)')

    const again = capture()
    expect(await runCli(['fetch', '--key', keyFile, ...boot, ...common], again)).to.equal(0)
    expect(again.out.join('\n')).to.contain('0 message(s)')

    // a TTL the swarm would refuse is refused before anything is sent, in the flag's unit
    const short = capture()
    expect(await runCli(['send', '--to', publicKey as string, '--ttl', '1', ...boot, ...common, 'too short-lived'], short)).to.equal(2)
    expect(short.err.join('\n')).to.match(/"--ttl" has invalid value "1".*between 10 and 1209600/)

    // a bad recipient is refused before anything is sent
    const bad = capture()
    expect(await runCli(['send', '--to', 'not-a-key', ...boot, ...common, 'x'], bad)).to.not.equal(0)
    expect(bad.err.join('\n')).to.match(/64 characters/)
  })

  it('ghostnode fetch --follow prints messages as they arrive, until SIGINT', async () => {
    if (net == null) throw new Error('no testnet')
    const key = MailboxKey.generate()
    const keyFile = join(dir, 'follow.key')
    await writeMailboxKeyFile(keyFile, key)
    const child = spawn(process.execPath, [BIN, 'fetch', '--follow', '--key', keyFile, '--bootstrap', tcpAddr(net.nodes[0]), '--data-dir', join(dir, 'follow-home')], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (b: Buffer) => { out += b.toString() })
    child.stderr.on('data', (b: Buffer) => { err += b.toString() })
    const exited = new Promise<number | null>(resolve => child.once('exit', (code) => { resolve(code) }))
    try {
      const sender = await GhostClient.create({ bootstrap: [tcpAddr(net.nodes[1])] })
      try {
        await sender.store(key.publicKey, new TextEncoder().encode('first, while following'))
        await waitUntil('the followed message', async () => out.includes('first, while following') ? true : undefined, { timeoutMs: 30_000 }).catch((e: Error) => { throw new Error(`${e.message} (stderr: ${err})`) })
        await sender.store(key.publicKey, new TextEncoder().encode('second, while following'))
        await waitUntil('the second followed message', async () => out.includes('second, while following') ? true : undefined, { timeoutMs: 30_000 })
      } finally {
        await sender.stop()
      }
    } finally {
      child.kill('SIGINT')
    }
    expect(await exited).to.equal(0)
    expect(out.split('\n').filter(l => l.includes('while following'))).to.have.length(2)
  })
})
