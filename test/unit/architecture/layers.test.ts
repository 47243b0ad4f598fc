import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

/**
 * The layers of src/, bottom to top (docs/architecture.md). A file may import
 * from its own layer and the layers below it, never from one above: this test
 * reads every import (type-only ones too) and names each that goes up.
 */
export const LAYERS: ReadonlyArray<{ name: string, paths: string[] }> = [
  { name: 'errors', paths: ['errors.ts', 'version.ts', 'background.ts', 'logging/'] },
  { name: 'wire formats and crypto', paths: ['wire/', 'crypto/'] },
  { name: 'storage, rate limiting, memory', paths: ['secret-file.ts', 'peer-datastore.ts', 'identity/', 'ratelimit/', 'memory/'] },
  { name: 'directory and membership', paths: ['membership/', 'directory/'] },
  { name: 'onion', paths: ['onion/'] },
  { name: 'swarm', paths: ['swarm/'] },
  { name: 'client', paths: ['client/'] },
  { name: 'node', paths: ['config/', 'discovery/', 'metrics/', 'compose.ts', 'node.ts', 'runtime-flags.ts', 'node-report.ts'] },
  { name: 'cli and public API', paths: ['cli/', 'index.ts', 'browser.ts'] }
]

// compiled to dist/test/unit/architecture/: the sources are four levels up
const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'src')

export function layerOf (path: string): number {
  const i = LAYERS.findIndex(l => l.paths.some(p => p.endsWith('/') ? path.startsWith(p) : path === p))
  if (i < 0) throw new Error(`src/${path} is in no layer: add it to LAYERS`)
  return i
}

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) return sources(full)
    return name.endsWith('.ts') ? [full] : []
  })
}

/** Every relative import of a file, as a src-relative .ts path. */
function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
    out.push(relative(SRC, normalize(join(dirname(file), m[1].replace(/\.js$/, '.ts')))))
  }
  return out
}

describe('architecture: imports only go down', () => {
  it('every file of src/ is in a layer, and none imports from a layer above its own', () => {
    const files = sources(SRC)
    expect(files.length).to.be.greaterThan(100)
    const upward: string[] = []
    for (const file of files) {
      const from = relative(SRC, file)
      const mine = layerOf(from)
      for (const target of importsOf(file)) {
        const theirs = layerOf(target)
        if (theirs > mine) upward.push(`${from} (${LAYERS[mine].name}) imports ${target} (${LAYERS[theirs].name})`)
      }
    }
    expect(upward, upward.join('\n')).to.deep.equal([])
  })

  it('the circuit client knows nothing of mailboxes: only the mailbox client (and its envelopes and subscriptions) imports swarm/', () => {
    const mailboxSide = ['mailbox-client.ts', 'envelope.ts', 'envelope-errors.ts', 'subscription-state.ts']
    const circuitSide = sources(join(SRC, 'client')).filter(f => !mailboxSide.some(m => f.endsWith(`/${m}`)))
    expect(circuitSide.map(f => relative(SRC, f))).to.include('client/circuit-client.ts')
    const swarmImports = circuitSide.flatMap(f => importsOf(f).filter(t => t.startsWith('swarm/')).map(t => `${relative(SRC, f)} imports ${t}`))
    expect(swarmImports, swarmImports.join('\n')).to.deep.equal([])
  })

  it('names an upward import (the check itself can fail)', () => {
    expect(layerOf('onion/relay.ts')).to.be.greaterThan(layerOf('crypto/layer.ts'))
    expect(() => layerOf('nowhere/file.ts')).to.throw(/no layer/)
  })
})
