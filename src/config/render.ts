import { CONFIG_SPEC, type GhostnodeConfig } from './defaults.js'

/**
 * Renders a config as JSON with a comment above every key (the docs from
 * CONFIG_SPEC), the format `ghostnode init` writes and config/ holds as an example.
 */
export function renderConfigFile (config: GhostnodeConfig, header: string[] = []): string {
  const lines = header.map(line => `// ${line}`)
  lines.push(...renderObject(config as unknown as Record<string, unknown>, '', 0))
  return lines.join('\n') + '\n'
}

function renderObject (obj: Record<string, unknown>, prefix: string, depth: number): string[] {
  const pad = '  '.repeat(depth)
  const out = [`${pad}{`]
  const entries = Object.entries(obj)
  entries.forEach(([name, value], index) => {
    const key = prefix === '' ? name : `${prefix}.${name}`
    const comma = index < entries.length - 1 ? ',' : ''
    const inner = '  '.repeat(depth + 1)
    const doc = CONFIG_SPEC[key]?.doc
    if (doc != null) out.push(`${inner}// ${doc}`)
    if (typeof value === 'object' && value != null && !Array.isArray(value)) {
      const nested = renderObject(value as Record<string, unknown>, key, depth + 1)
      nested[0] = `${inner}${JSON.stringify(name)}: {`
      nested[nested.length - 1] += comma
      out.push(...nested)
    } else {
      out.push(`${inner}${JSON.stringify(name)}: ${JSON.stringify(value)}${comma}`)
    }
  })
  out.push(`${pad}}`)
  return out
}
