// Bundles the browser client (dist/src/browser.js, built by `npm run build`) into
// one ES module for web pages, prints its size and fails past the budget.
// The package's `browser` field swaps the Node-only modules for their browser twins.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

const BUDGET_GZIP_BYTES = 400 * 1024
const entry = 'dist/src/browser.js'
const outfile = 'dist/browser/ghostnode.js'

mkdirSync('dist/browser', { recursive: true })
const result = await build({
  entryPoints: [entry],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  minify: true,
  sourcemap: 'linked',
  metafile: true,
  legalComments: 'linked',
  outfile,
  logLevel: 'warning'
})
writeFileSync('dist/browser/meta.json', JSON.stringify(result.metafile))

const forbidden = Object.keys(result.metafile.inputs).filter(f =>
  /^node:|sodium-native|prom-client|@libp2p\/tcp|crypto\/platform\/node\.js|client\/metrics\.js|libp2p-parts\.js/.test(f))
if (forbidden.length > 0) {
  console.error(`the browser bundle pulled in Node-only modules:\n  ${forbidden.join('\n  ')}`)
  process.exit(1)
}
const raw = readFileSync(outfile)
const gz = gzipSync(raw, { level: 9 }).byteLength
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`
console.log(`${outfile}: ${kib(raw.byteLength)} minified, ${kib(gz)} gzipped (budget ${kib(BUDGET_GZIP_BYTES)} gzipped)`)
if (gz > BUDGET_GZIP_BYTES) {
  console.error(`over budget by ${kib(gz - BUDGET_GZIP_BYTES)}`)
  process.exit(1)
}
