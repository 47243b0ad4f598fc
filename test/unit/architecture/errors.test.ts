import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'

// compiled to dist/test/unit/architecture/: the sources are four levels up
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..')

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap(name => {
    const full = join(dir, name)
    if (statSync(full).isDirectory()) return sources(full)
    return name.endsWith('.ts') ? [full] : []
  })
}

/** name -> the files that declare it */
function owners (pattern: RegExp, dirs: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const file of dirs.flatMap(d => sources(join(ROOT, d)))) {
    for (const m of readFileSync(file, 'utf8').matchAll(pattern)) {
      const list = found.get(m[1]) ?? []
      list.push(relative(ROOT, file))
      found.set(m[1], list)
    }
  }
  return found
}

function shared (found: Map<string, string[]>): string[] {
  return [...found].filter(([, files]) => files.length > 1).map(([name, files]) => `${name}: ${files.join(', ')}`)
}

describe('architecture: one owner for each error', () => {
  const dirs = ['src', 'harness', 'bench', 'fuzz']

  it('no two error classes share a name', () => {
    const classes = owners(/\bclass (\w+Error)\b/g, dirs)
    expect(classes.size).to.be.greaterThan(50)
    expect(shared(classes)).to.deep.equal([])
  })

  it('no two error classes share a code', () => {
    // codes are passed to the GhostnodeError constructor as string literals
    const codes = owners(/super\([^;]*?'(ERR_[A-Z0-9_]+)'/g, dirs)
    expect(codes.size).to.be.greaterThan(50)
    expect(shared(codes)).to.deep.equal([])
  })
})
