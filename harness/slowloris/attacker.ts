/**
 * A slowloris attacker against one relay, run as its own process by the
 * slowloris test and benchmark (so the relay's RSS is measured alone):
 *
 *   node dist/harness/slowloris/attacker.js --target <multiaddr/p2p/id> [--identities n]
 *        [--links n] [--circuits n] [--body-bytes n] [--cells-per-second n]
 *        [--partials-per-second n] [--half-open n] [--report-ms n]
 *
 * `--identities` libp2p peers (SlowReader) each hold `--links` link streams with
 * `--circuits` 1-hop circuits on each (the relay is the exit), then stop reading
 * and keep sending ECHO requests of `--body-bytes` and first fragments of
 * requests that never complete, within the relay's per-peer cell budget.
 * `--half-open` raw TCP connections never start the libp2p handshake.
 *
 * stdout is one JSON object per line: `{"event":"ready",...}` once every
 * identity holds its links, then `{"event":"stats",...}` every report interval
 * and a last one with `"final":true` after SIGTERM/SIGINT.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { GhostClient } from '../../src/client/mailbox-client.js'
import { ATTACK_OPTIONS } from './defaults.js'
import { HalfOpenPool, type HalfOpenStats } from './half-open.js'
import { SlowReader, type SlowReaderStats } from './slow-reader.js'

export interface AttackerStats {
  event: 'stats'
  final: boolean
  elapsedMs: number
  identities: number
  /** Summed over every identity. */
  readers: SlowReaderStats
  halfOpen: HalfOpenStats
  cpuMs: number
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      ...ATTACK_OPTIONS,
      'partial-message-bytes': { type: 'string', default: '131000' },
      'report-ms': { type: 'string', default: '500' }
    }
  })
  const target = values.target
  if (target == null || !target.includes('/p2p/')) throw new Error('--target <multiaddr ending in /p2p/<peer id>> is required')
  const n = (name: keyof typeof values): number => {
    const v = Number(values[name])
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a number >= 0`)
    return v
  }
  const identities = n('identities')
  const reportMs = n('report-ms')

  // the relay's record (its onion key) is public: fetch it once, as any client does
  const scout = await GhostClient.create({ bootstrap: [target], hops: 1 })
  const exitId = target.slice(target.lastIndexOf('/p2p/') + 5)
  const exit = scout.records().find(r => r.peerId.toString() === exitId)
  await scout.stop()
  if (exit == null) throw new Error('the relay did not list its own record')

  const readers: SlowReader[] = []
  const READER_START_CONCURRENCY = 4
  for (let i = 0; i < identities; i++) {
    readers.push(await SlowReader.create({
      target,
      exit,
      links: n('links'),
      circuitsPerLink: n('circuits'),
      bodyBytes: n('body-bytes'),
      cellsPerSecond: n('cells-per-second'),
      partialsPerSecond: n('partials-per-second'),
      partialMessageBytes: n('partial-message-bytes'),
      buildTimeoutMs: 10_000
    }))
  }
  const halfOpen = new HalfOpenPool(target, n('half-open'))

  let stopping = false
  const stopped = Promise.withResolvers<void>()
  const stop = (): void => {
    if (stopping) return
    stopping = true
    stopped.resolve()
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)

  // a few at a time: on loopback every identity shares one /24, whose handshakes in progress the relay
  // caps (connections.maxIncomingPendingPerPrefix, 8); twenty at once lost the dials over the cap under load
  for (let i = 0; i < readers.length; i += READER_START_CONCURRENCY) {
    await Promise.all(readers.slice(i, i + READER_START_CONCURRENCY).map(async r => { await r.start() }))
  }
  // half-open sockets last: they hold the relay's pending-upgrade slots, which our own dials needed
  halfOpen.start()
  const started = performance.now()
  print({ event: 'ready', identities, peerIds: readers.map(r => r.peerId) })

  const report = (final: boolean): void => {
    const sum = readers.reduce<SlowReaderStats>((acc, r) => {
      for (const [k, v] of Object.entries(r.stats)) acc[k as keyof SlowReaderStats] += v
      return acc
    }, { linksOpened: 0, linksClosed: 0, linkOpenFailures: 0, circuitsBuilt: 0, buildsFailed: 0, cellsSent: 0, echoRequests: 0, partials: 0, queueFull: 0 })
    const cpu = process.cpuUsage()
    const stats: AttackerStats = {
      event: 'stats',
      final,
      elapsedMs: Math.round(performance.now() - started),
      identities,
      readers: sum,
      halfOpen: { ...halfOpen.stats },
      cpuMs: Math.round((cpu.user + cpu.system) / 1000)
    }
    print(stats)
  }
  const timer = setInterval(() => { report(false) }, reportMs)
  await stopped.promise
  clearInterval(timer)
  report(true)
  halfOpen.stop()
  // an attacker owes nobody a graceful close: paused streams can keep libp2p's
  // shutdown waiting, so give it a moment and then let the process exit
  await Promise.race([Promise.all(readers.map(async r => { await r.stop() })), sleep(STOP_GRACE_MS)])
}

const STOP_GRACE_MS = 1_000

function print (value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n')
}

main().then(() => { process.exit(0) }, (err: Error) => {
  process.stderr.write(`slowloris attacker: ${err.stack ?? err.message}\n`)
  process.exit(1)
})
