import { PerformanceObserver } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { startPlainRelay } from './plain-node.js'

/**
 * Entry point of one plain baseline relay process (spawned by plain-chain.ts):
 * `node dist/harness/baseline/plain-relay.js --listen MA [--next MA] [--frames-per-write N]`. Prints one
 * JSON line `{"peerId", "addrs"}` once listening; answers each `gc` line on
 * stdin with `{"gc_seconds"}` (its GC time so far); stops on SIGTERM/SIGINT or
 * when its stdin closes (the bench that spawned it is gone).
 */
const { values } = parseArgs({ options: { listen: { type: 'string' }, next: { type: 'string' }, 'frames-per-write': { type: 'string' } } })
if (values.listen == null) {
  process.stderr.write('usage: plain-relay --listen MULTIADDR [--next MULTIADDR]\n')
  process.exit(2)
}
const framesPerWrite = values['frames-per-write'] != null ? Number(values['frames-per-write']) : undefined
const relay = await startPlainRelay({
  listen: values.listen,
  ...(values.next != null ? { next: values.next } : {}),
  ...(framesPerWrite != null && Number.isInteger(framesPerWrite) && framesPerWrite > 0 ? { framesPerWrite } : {})
})
process.stdout.write(JSON.stringify({ peerId: relay.peerId, addrs: relay.addrs }) + '\n')

// the same measure a ghostnode relay exports as nodejs_gc_duration_seconds
let gcMs = 0
new PerformanceObserver((list) => { for (const entry of list.getEntries()) gcMs += entry.duration }).observe({ entryTypes: ['gc'] })
let input = ''
process.stdin.setEncoding('utf8').on('data', (chunk: string) => {
  input += chunk
  const lines = input.split('\n')
  input = lines.pop() ?? ''
  for (const line of lines) if (line.trim() === 'gc') process.stdout.write(JSON.stringify({ gc_seconds: gcMs / 1000 }) + '\n')
})

let stopping = false
const stop = (): void => {
  if (stopping) return
  stopping = true
  relay.stop().then(() => process.exit(0), () => process.exit(1))
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()
