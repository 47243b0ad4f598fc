import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { CHROMIUM_MISSING, findChromium, inboxOf, launchChromium, openUser, sendFromPage, type PageUser } from '../../harness/web/browser.js'
import { serveExample, type ExampleServer } from '../../harness/web/server.js'
import { parseMailbox } from '../../src/swarm/auth.js'
import { stopAll } from '../helpers/nodes.js'
import { startNetwork, until } from '../helpers/network.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'
import type { Browser } from 'puppeteer-core'
import type { Ghostnode } from '../../src/node.js'

const WS_LISTEN = ['/ip4/127.0.0.1/tcp/0', '/ip4/127.0.0.1/tcp/0/ws']

async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
  const out: string[] = []
  for (const e of entries) {
    const path = join(dir, e.name)
    if (e.isDirectory()) out.push(...await filesUnder(path))
    else out.push(path)
  }
  return out
}

/**
 * The example messenger in Debian's Chromium, two users in separate browser
 * contexts, against a 4-relay network listening on WebSockets: every text
 * arrives once, through 3-hop circuits and live delivery, and no replica's
 * LevelDB ever holds it in clear. Needs `npm run build:browser` (pretest does it).
 */
describe('the example web page in a real browser (Chromium, puppeteer-core)', function () {
  this.timeout(180_000)
  let dir: string
  let nodes: Ghostnode[] = []
  let server: ExampleServer | undefined
  let browser: Browser | undefined

  before(async function () {
    const chromium = findChromium()
    if (chromium == null) {
      // CI installs the package (.ci/run): there a missing browser is a failure, not a skip
      if (process.env.CI === 'true') throw new Error(CHROMIUM_MISSING)
      console.log(`      skipped: ${CHROMIUM_MISSING}`)
      this.skip()
    }
    dir = await makeTempDir()
    nodes = await startNetwork(dir, 4, () => ({ listen: WS_LISTEN }))
    await until(() => nodes.every(n => n.swarm.membership.ring.size === 4 && n.swarm.sync.ready), 15_000, 'every ring to hold 4 ready members')
    const ws = nodes[0].getMultiaddrs().map(String).find(a => a.includes('/ws/'))
    expect(ws, 'the relay listens on WebSockets').to.be.a('string')
    server = await serveExample({ bootstrap: [ws!] })
    browser = await launchChromium(chromium!)
  })
  after(async () => {
    await browser?.close()
    await server?.close()
    await stopAll(nodes)
    if (dir != null) await removeTempDir(dir)
  })

  it('two pages exchange sealed messages through 3-hop circuits, each arriving once, never stored in clear', async () => {
    const alice: PageUser = await openUser(browser!, server!.url)
    const bob: PageUser = await openUser(browser!, server!.url)
    expect(alice.key).to.match(/^[0-9a-f]{64}$/)
    expect(bob.key).to.not.equal(alice.key)

    const toBob = ['hello bob', 'are you there?', 'same text twice', 'same text twice']
    const toAlice = ['hi alice', 'yes, live']
    for (const t of toBob) await sendFromPage(alice, bob.key, t)
    for (const t of toAlice) await sendFromPage(bob, alice.key, t)
    await until(async () => (await inboxOf(bob)).length >= toBob.length, 30_000, 'bob to receive every message')
    await until(async () => (await inboxOf(alice)).length >= toAlice.length, 30_000, 'alice to receive every message')
    // one more after both are live: delivered by the subscription, not by a first fetch
    await sendFromPage(alice, bob.key, 'one more, live')
    await until(async () => (await inboxOf(bob)).length >= toBob.length + 1, 30_000, 'the live message')
    await new Promise(resolve => setTimeout(resolve, 500))
    expect((await inboxOf(bob)).sort()).to.deep.equal([...toBob, 'one more, live'].sort())
    expect((await inboxOf(alice)).sort()).to.deep.equal([...toAlice].sort())

    // each page saw who wrote (signed inside the envelope) and built its circuits itself
    const bobEvents = await bob.page.evaluate(() => (globalThis as any).ghostnodeExample.events) as Array<{ type: string, sender?: string, buildMs?: number, relays?: number }>
    expect(bobEvents.filter(e => e.type === 'received').every(e => e.sender === alice.key)).to.equal(true)
    const connected = bobEvents.find(e => e.type === 'connected')!
    expect(connected.relays).to.equal(4)
    expect(alice.errors, alice.errors.join('\n')).to.deep.equal([])
    expect(bob.errors, bob.errors.join('\n')).to.deep.equal([])

    // no replica holds a text in clear: not in its records, not anywhere in its LevelDB files
    const texts = [...toBob, ...toAlice, 'one more, live'].map(t => Buffer.from(t))
    let copies = 0
    for (const n of nodes) {
      for (const mailbox of [parseMailbox(alice.key), parseMailbox(bob.key)]) {
        const page = await n.swarm.store.retrieve(mailbox, 0, { maxBytes: 1024 * 1024 })
        copies += page.records.length
        for (const r of page.records) for (const t of texts) expect(Buffer.from(r.data).includes(t)).to.equal(false)
      }
    }
    expect(copies).to.be.at.least(2 * (toBob.length + toAlice.length + 1))
    await stopAll(nodes)
    const dbFiles = (await filesUnder(dir)).filter(f => /\/(store|swarm)[^/]*\//.test(f) || /\.(ldb|log|sst)$/.test(f))
    expect(dbFiles.length).to.be.greaterThan(0)
    for (const f of dbFiles) {
      const bytes = await readFile(f)
      for (const t of texts) expect(bytes.includes(t), `${f} holds "${t.toString()}"`).to.equal(false)
    }
  })
})
