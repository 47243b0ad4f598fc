/**
 * The browser client and live delivery, measured on a 4-node testnet of
 * `ghostnode start` processes listening on TCP and WebSockets:
 *
 * 1. the browser bundle (dist/browser/ghostnode.js): minified and gzipped size;
 * 2. circuit builds in Chromium: the example page's first build (new WebSocket
 *    links included) and `--builds` more from the same page (links reused);
 * 3. browser to browser: `--messages` texts from one example page to another
 *    (each in its own browser context), sealed and signed, sent one after the
 *    other through the page's form; latency from the click's send to the
 *    recipient page's live delivery, both stamped by the pages' clocks;
 * 4. live delivery against polling, in Node: one client subscribes to a mailbox,
 *    another fetches it every `--poll-ms` (the baseline), a third stores
 *    `--live-messages` messages at random intervals; latency from the store's
 *    acknowledgement to each reader's receipt (negative when the push arrived
 *    before the sender's acknowledgement did).
 *
 * Per-mailbox deposit and subscribe limits are raised (printed) so that the
 * figures are the network's, not the rate limiter's.
 *
 *   npm run build && npm run build:browser
 *   node dist/bench/browser.js [--messages 200] [--builds 20] [--live-messages 200] [--poll-ms 5000] [--json FILE]
 */
import { readFile, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { CHROMIUM_MISSING, findChromium, launchChromium, openUser, sendFromPage, type PageUser } from '../harness/web/browser.js'
import { serveExample } from '../harness/web/server.js'
import { LatencyRecorder, type LatencySummary } from '../harness/lib/stats.js'
import { waitForSwarmRings, waitUntil } from '../harness/testnet/ready.js'
import { startTestnet, type TestnetNode } from '../harness/testnet/testnet.js'
import { GhostClient } from '../src/client/mailbox-client.js'
import { MailboxKey } from '../src/swarm/auth.js'
import { bytesToHex } from '../src/wire/bytes.js'

const BUNDLE = 'dist/browser/ghostnode.js'
const OVERRIDES = [
  'directory.fetchIntervalMs=1000',
  'rateLimit.limits.deposit.ratePerSecond=100000', 'rateLimit.limits.deposit.burst=100000',
  'rateLimit.limits.subscribe.ratePerSecond=100000', 'rateLimit.limits.subscribe.burst=100000'
]

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '200' },
    builds: { type: 'string', default: '20' },
    'live-messages': { type: 'string', default: '200' },
    'poll-ms': { type: 'string', default: '5000' },
    json: { type: 'string' }
  }
})
const MESSAGES = Number(values.messages)
const BUILDS = Number(values.builds)
const LIVE = Number(values['live-messages'])
const POLL_MS = Number(values['poll-ms'])
for (const [name, v, min] of [['messages', MESSAGES, 1], ['builds', BUILDS, 0], ['live-messages', LIVE, 1], ['poll-ms', POLL_MS, 100]] as const) {
  if (!Number.isInteger(v) || v < min) {
    process.stderr.write(`--${name} must be an integer >= ${min}\n`)
    process.exit(2)
  }
}

const log = (s: string): void => { process.stdout.write(s + '\n') }
const fmt = (n: number): string => Number.isFinite(n) ? n.toFixed(1) : 'n/a'
const line = (label: string, s: LatencySummary): string =>
  `${label.padEnd(44)} n=${String(s.count).padStart(3)}  p50 ${fmt(s.p50_ms).padStart(7)} ms  p95 ${fmt(s.p95_ms).padStart(7)} ms  p99 ${fmt(s.p99_ms).padStart(7)} ms  max ${fmt(s.max_ms).padStart(7)} ms`

function addrOf (node: TestnetNode, ws: boolean): string {
  const addr = node.multiaddrs.find(a => a.includes('/tcp/') && a.includes('/ws/') === ws)
  if (addr == null) throw new Error(`${node.name} reports no ${ws ? 'WebSocket' : 'TCP'} address`)
  return addr
}

async function bundleSize (): Promise<{ minified_bytes: number, gzipped_bytes: number }> {
  const raw = await readFile(BUNDLE).catch(() => {
    throw new Error(`${BUNDLE} is missing: run npm run build:browser first`)
  })
  return { minified_bytes: raw.byteLength, gzipped_bytes: gzipSync(raw, { level: 9 }).byteLength }
}

type PageEvent = { type: string, at?: number, text?: string, buildMs?: number, directoryMs?: number }
const eventsOf = async (user: PageUser): Promise<PageEvent[]> =>
  await user.page.evaluate(() => (globalThis as any).ghostnodeExample.events) as PageEvent[]

/** `count` more circuit builds from a connected page (its links to the relays already open). */
async function buildsInPage (user: PageUser, count: number): Promise<number[]> {
  return await user.page.evaluate(async (n) => {
    const client = (globalThis as any).ghostnodeExample.client
    const out: number[] = []
    for (let i = 0; i < n; i++) {
      const t0 = performance.now()
      const circuit = await client.buildCircuit()
      out.push(performance.now() - t0)
      circuit.close()
    }
    return out
  }, count)
}

interface LiveFigures {
  /** From the sender's acknowledgement to the reader's receipt. */
  subscribe: LatencySummary
  polling: LatencySummary
  /** From the start of the sender's store to the reader's receipt. */
  subscribe_from_send: LatencySummary
  polling_from_send: LatencySummary
  lost: { subscribe: number, polling: number }
}

async function liveAgainstPolling (bootstrap: string): Promise<LiveFigures> {
  const [sender, subscriber, poller] = await Promise.all([0, 1, 2].map(async () => await GhostClient.create({ bootstrap: [bootstrap], requestTimeoutMs: 30_000 })))
  const key = MailboxKey.generate()
  const ackAt = new Map<string, number>()
  const sendAt = new Map<string, number>()
  const subscribeAt = new Map<string, number>()
  const pollAt = new Map<string, number>()
  const stop = new AbortController()
  try {
    await Promise.all([sender.circuit(), subscriber.circuit(), poller.circuit()])
    const subscribing = (async () => {
      for await (const m of subscriber.subscribe(key, { signal: stop.signal })) {
        const h = bytesToHex(m.hash)
        if (!subscribeAt.has(h)) subscribeAt.set(h, performance.now())
      }
    })()
    const polling = (async () => {
      while (!stop.signal.aborted) {
        const page = await poller.fetch(key, { maxBytes: 1024 * 1024 }).catch(() => undefined)
        const now = performance.now()
        for (const m of page?.messages ?? []) {
          const h = bytesToHex(m.hash)
          if (!pollAt.has(h)) pollAt.set(h, now)
        }
        await new Promise(resolve => setTimeout(resolve, POLL_MS))
      }
    })()
    // let the first subscription reach the exit and its WATCHes the members
    await new Promise(resolve => setTimeout(resolve, 1_000))
    for (let i = 0; i < LIVE; i++) {
      await new Promise(resolve => setTimeout(resolve, Math.random() * 200))
      const t0 = performance.now()
      const receipt = await sender.store(key.publicKey, new TextEncoder().encode(`live ${i}`))
      ackAt.set(bytesToHex(receipt.hash), performance.now())
      sendAt.set(bytesToHex(receipt.hash), t0)
    }
    await waitUntil('both readers to see every message', async () =>
      [...ackAt.keys()].every(h => subscribeAt.has(h) && pollAt.has(h)) ? true : undefined, { timeoutMs: POLL_MS * 3 + 30_000 }).catch(() => undefined)
    stop.abort()
    await Promise.race([Promise.all([subscribing, polling]), new Promise(resolve => setTimeout(resolve, POLL_MS + 1_000))])
  } finally {
    stop.abort()
    await Promise.all([sender.stop(), subscriber.stop(), poller.stop()])
  }
  const summarize = (seen: Map<string, number>, from = ackAt): LatencySummary => {
    const r = new LatencyRecorder()
    for (const [h, at] of from) {
      const t = seen.get(h)
      if (t != null) r.add(t - at)
    }
    return r.summary()
  }
  const lost = (seen: Map<string, number>): number => [...ackAt.keys()].filter(h => !seen.has(h)).length
  return {
    subscribe: summarize(subscribeAt),
    polling: summarize(pollAt),
    subscribe_from_send: summarize(subscribeAt, sendAt),
    polling_from_send: summarize(pollAt, sendAt),
    lost: { subscribe: lost(subscribeAt), polling: lost(pollAt) } }
}

async function main (): Promise<void> {
  const chromium = findChromium()
  if (chromium == null) throw new Error(CHROMIUM_MISSING)
  const bundle = await bundleSize()
  log(`browser bundle ${BUNDLE}: ${(bundle.minified_bytes / 1024).toFixed(1)} KiB minified, ${(bundle.gzipped_bytes / 1024).toFixed(1)} KiB gzipped (budget 400 KiB gzipped)`)
  log(`4-node testnet (child processes, TCP + WebSockets); node overrides: ${OVERRIDES.map(o => `--set ${o}`).join(' ')}`)
  const net = await startTestnet({ nodes: 4, basePort: 0, extraArgs: OVERRIDES.flatMap(o => ['--set', o]) })
  const report: Record<string, unknown> = {
    meta: { node: process.version, cpu: cpus()[0]?.model, cores: cpus().length, date: new Date().toISOString(), messages: MESSAGES, builds: BUILDS, live_messages: LIVE, poll_ms: POLL_MS },
    bundle
  }
  try {
    await waitForSwarmRings(net.nodes.map(n => n.httpUrl), 4, { timeoutMs: 30_000 })

    const server = await serveExample({ bootstrap: [addrOf(net.nodes[0], true)] })
    const browser = await launchChromium(chromium)
    try {
      const alice = await openUser(browser, server.url)
      const bob = await openUser(browser, server.url)
      const firsts = await Promise.all([alice, bob].map(async u => (await eventsOf(u)).find(e => e.type === 'connected')!))
      const more = new LatencyRecorder()
      for (const ms of await buildsInPage(alice, BUILDS)) more.add(ms)
      const builds = { first_ms: firsts.map(e => e.buildMs), directory_ms: firsts.map(e => e.directoryMs), more: more.summary() }
      log(`browser: membership document + directory ${firsts.map(e => fmt(e.directoryMs!)).join(', ')} ms; first circuit (dials the relays) ${firsts.map(e => fmt(e.buildMs!)).join(', ')} ms`)
      log(line('browser: circuit build, links open', builds.more))

      for (let i = 0; i < MESSAGES; i++) await sendFromPage(alice, bob.key, `bench ${i}`)
      await waitUntil('bob to receive every message', async () =>
        (await eventsOf(bob)).filter(e => e.type === 'received' && e.text?.startsWith('bench ') === true).length >= MESSAGES ? true : undefined, { timeoutMs: 60_000 })
        .catch(() => undefined)
      const sent = new Map((await eventsOf(alice)).filter(e => e.type === 'sent').map(e => [e.text!, e as PageEvent & { ackAt: number }]))
      const received = (await eventsOf(bob)).filter(e => e.type === 'received' && e.text?.startsWith('bench ') === true)
      const sendToReceive = new LatencyRecorder()
      const ackToReceive = new LatencyRecorder()
      const counts = new Map<string, number>()
      for (const r of received) {
        counts.set(r.text!, (counts.get(r.text!) ?? 0) + 1)
        const s = sent.get(r.text!)
        if (s == null || counts.get(r.text!)! > 1) continue
        sendToReceive.add(r.at! - s.at!)
        ackToReceive.add(r.at! - s.ackAt)
      }
      const duplicates = [...counts.values()].filter(c => c > 1).length
      const b2b = { send_to_receive: sendToReceive.summary(), ack_to_receive: ackToReceive.summary(), lost: MESSAGES - counts.size, duplicates }
      log(line('browser→browser: send → received', b2b.send_to_receive))
      log(line('browser→browser: sender ack → received', b2b.ack_to_receive))
      log(`browser→browser: ${b2b.lost} lost, ${duplicates} duplicated of ${MESSAGES}`)
      report.browser = { builds, browser_to_browser: b2b }
      const errors = [...alice.errors, ...bob.errors]
      if (errors.length > 0) log(`page errors:\n  ${errors.join('\n  ')}`)
    } finally {
      await browser.close()
      await server.close()
    }

    log(`node: ${LIVE} messages at random 0–200 ms intervals; one subscriber, one client fetching every ${POLL_MS} ms`)
    const live = await liveAgainstPolling(addrOf(net.nodes[1], false))
    log(line('node: ack → delivered, subscribe', live.subscribe))
    log(line(`node: ack → delivered, polling every ${POLL_MS} ms`, live.polling))
    log(line('node: store sent → delivered, subscribe', live.subscribe_from_send))
    log(line('node: store sent → delivered, polling', live.polling_from_send))
    log(`node: from the send, polling's p50 is ${fmt(live.polling_from_send.p50_ms / live.subscribe_from_send.p50_ms)}× subscribe's; lost: subscribe ${live.lost.subscribe}, polling ${live.lost.polling}`)
    report.live = live
  } finally {
    await net.stop()
  }
  if (values.json != null) await writeFile(values.json, JSON.stringify(report, null, 2))
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`)
  process.exit(1)
})
