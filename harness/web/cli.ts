import { parseArgs } from 'node:util'
import { serveExample } from './server.js'

const USAGE = `usage: npm run example:web -- [--port 8080] [--node http://127.0.0.1:PORT | --bootstrap MULTIADDR]

Serves the example messenger (examples/web) on http://127.0.0.1:PORT. --node names a running
relay's HTTP endpoint (npm run testnet prints them): its WebSocket address becomes the page's
default relay. --bootstrap gives that address directly (/ws or /wss, ending in /p2p/<id>).`

async function wsAddrsOf (node: string): Promise<string[]> {
  const res = await fetch(new URL('/health', node))
  const body = await res.json() as { addrs?: string[] }
  return (body.addrs ?? []).filter(a => /\/wss?\//.test(a) || /\/wss?$/.test(a.split('/p2p/')[0]))
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, node: { type: 'string' }, bootstrap: { type: 'string', multiple: true }, help: { type: 'boolean' } } })
  if (values.help === true) {
    process.stdout.write(USAGE + '\n')
    return
  }
  let bootstrap = values.bootstrap ?? []
  if (bootstrap.length === 0 && values.node != null) {
    bootstrap = await wsAddrsOf(values.node)
    if (bootstrap.length === 0) throw new Error(`${values.node} reports no WebSocket address (is it listening on /ws?)`)
  }
  const server = await serveExample({ port: Number(values.port), bootstrap })
  process.stdout.write(`example messenger on ${server.url}${bootstrap.length > 0 ? ` (relay ${bootstrap[0]})` : ' (enter a relay address on the page)'}\n` +
    'open it in two browser profiles (or one normal and one private window) to write from one to the other; Ctrl-C stops\n')
  const stop = (): void => { void server.close().then(() => process.exit(0)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n${USAGE}\n`)
  process.exit(1)
})
