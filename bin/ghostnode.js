#!/usr/bin/env -S node --max-semi-space-size=4
// Checked before anything loads: on an older Node the CLI would fail later, deep inside libp2p.
import process from 'node:process'
const MIN_NODE_MAJOR = 22
const EXIT_UNSUPPORTED_NODE = 4
if (Number(process.versions.node.split('.')[0]) < MIN_NODE_MAJOR) {
  process.stderr.write(`ghostnode: Node.js ${process.versions.node} is too old; ghostnode needs Node.js ${MIN_NODE_MAJOR} or newer. ` +
    'In a checkout, run it through npm (npm start, npx ghostnode ...), which uses the pinned Node 24; elsewhere install Node.js 22 or newer.\n')
  process.exit(EXIT_UNSUPPORTED_NODE)
}
await import('../dist/src/cli/index.js')
