import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { DEFAULT_CONFIG } from '../../src/config/defaults.js'
import { stripJsonComments } from '../../src/config/jsonc.js'
import { buildConfig, parseConfigText } from '../../src/config/load.js'
import { renderConfigFile } from '../../src/config/render.js'
import { configKeys } from '../../src/config/schema.js'
import type { Prng } from '../mutate.js'
import type { FuzzTarget } from '../harness.js'

/** Names the input in error messages; nothing is read from or written to it. */
const FILE = '/fuzz/ghostnode.json'
const CWD = '/fuzz'
/** Large enough for nesting far deeper than any stack, small enough to stay fast. */
const MAX_CONFIG_INPUT_BYTES = 64 * 1024
const DEEP_NESTING = 20_000

const EXAMPLE_FILE = fileURLToPath(new URL('../../../config/ghostnode.example.json', import.meta.url))

const encode = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'))
/** What readFileSync(path, 'utf8') makes of the bytes: invalid UTF-8 becomes U+FFFD. */
const decode = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')

/** A number literal kept verbatim (JSON.stringify would turn 1e400 into null). */
class Raw {
  readonly text: string
  constructor (text: string) { this.text = text }
}

const deep = (depth: number, open: string, close: string, inner = ''): Raw => new Raw(open.repeat(depth) + inner + close.repeat(depth))

const NUMBERS = ['0', '-0', '-1', '1', '1.5', '1e400', '-1e400', '1e-400', '9007199254740993', '65535', '65536', '2147483648',
  '4294967296', '1E3', '0.0000001', '100000000000000000000000000000']
const STRINGS = ['', ' ', '\u0000', '/ip4/127.0.0.1/tcp/0', '/ip4/10.0.0.1/tcp/7400/p2p/12D3KooWGRUVh6KcuvpPdgwgSXwn58VcqNBUK5EJAaRXFu2i3ZEE',
  '/ip6/::1/tcp/1/ws', '/dns4/relay.example/tcp/443/wss', '/garbage', '~', '~/x', '/tmp/a,}', 'x,]', '// not a comment', '/* nor this */',
  '\\', '"', 'x'.repeat(300), '\u2028', '\ud800', 'localhost', '::1', '0.0.0.0', '/ghostnode', 'true', '12']
const KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', 'colour', 'http.port', 'onion.', '.']

/** A value near the key's default (so the document often still loads), or none for an unknown key. */
function nearDefault (rng: Prng, path: string): unknown {
  let value: unknown = DEFAULT_CONFIG
  for (const part of path.split('.')) {
    value = typeof value === 'object' && value != null && Object.hasOwn(value, part) ? (value as Record<string, unknown>)[part] : undefined
  }
  if (typeof value === 'number') return rng.pick([value, value + 1, value - 1, value * 2, Math.floor(value / 2), 0, 1])
  if (typeof value === 'boolean') return !value
  if (Array.isArray(value)) return rng.pick([value, [], [...value, rng.pick(STRINGS)]])
  return value
}

function interestingValue (rng: Prng, path: string): unknown {
  // half the edits stay near the defaults so documents often still load and reach the later checks
  if (rng.int(2) === 0) return nearDefault(rng, path) ?? null
  switch (rng.int(8)) {
    case 0: return new Raw(rng.pick(NUMBERS))
    case 1: return rng.pick(STRINGS)
    case 2: return rng.pick([true, false, null])
    case 3: return rng.pick([[], [rng.pick(STRINGS)], [1], [[]], [rng.pick(STRINGS), rng.pick(STRINGS)]])
    case 4: return deep(1 + rng.int(DEEP_NESTING), '[', ']')
    case 5: return deep(1 + rng.int(DEEP_NESTING), '{"a":', '}', '1')
    case 6: return { [rng.pick(KEYS)]: { polluted: true } }
    default: return {}
  }
}

/** Sets `path` (dotted) in `root`, creating objects on the way; own properties only. */
function setPath (root: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.')
  let node = root
  for (const part of parts.slice(0, -1)) {
    const child = Object.hasOwn(node, part) ? node[part] : undefined
    if (typeof child !== 'object' || child == null || Array.isArray(child)) {
      Object.defineProperty(node, part, { value: {}, enumerable: true, writable: true, configurable: true })
    }
    node = node[part] as Record<string, unknown>
  }
  Object.defineProperty(node, parts[parts.length - 1], { value, enumerable: true, writable: true, configurable: true })
}

/** Parsed documents nested deeper than this are cut off while rewriting (deep nesting comes from Raw). */
const MAX_REWRITE_DEPTH = 64

/** JSON with comments, trailing commas and escapes sprinkled in, as an operator might write it. */
function writeJsonc (value: unknown, rng: Prng, indent: string): string {
  if (value instanceof Raw) return value.text
  if (indent.length > 2 * MAX_REWRITE_DEPTH) return 'null'
  if (typeof value === 'string') {
    const text = JSON.stringify(value)
    // an escaped bracket must survive comment stripping as a bracket inside the string
    return rng.int(4) === 0 ? text.replace(/[}\]]/g, ch => `\\u00${ch.charCodeAt(0).toString(16)}`) : text
  }
  if (typeof value !== 'object' || value == null) return JSON.stringify(value)
  const inner = indent + '  '
  const comment = (): string => rng.int(6) === 0 ? rng.pick([`${inner}// note\n`, `${inner}/* a "quoted" // note */\n`]) : ''
  const items = Array.isArray(value)
    ? value.map(v => comment() + inner + writeJsonc(v, rng, inner))
    : Object.entries(value).map(([k, v]) => `${comment()}${inner}${JSON.stringify(k)}: ${writeJsonc(v, rng, inner)}`)
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}']
  if (items.length === 0) return open + close
  const trailing = rng.int(5) === 0 ? ',' : ''
  return `${open}\n${items.join(',\n')}${trailing}\n${indent}${close}`
}

/** Structure-aware edits: change or add one key of the parsed document, or splice in a JSON token. */
function mutateConfig (rng: Prng, input: Uint8Array): Uint8Array {
  const text = decode(input)
  if (rng.int(3) === 0) {
    const token = rng.pick(['//', '/*', '*/', '"', '\\', ',', ',}', ',]', '{', '}', '[', ']', ':', '"__proto__": ', '"constructor": {', 'null',
      '1e400', '\n', '\ufeff', '\u2028'])
    const at = rng.int(text.length + 1)
    return encode(text.slice(0, at) + token + text.slice(at))
  }
  let doc: unknown
  try {
    doc = JSON.parse(stripJsonComments(text))
  } catch {
    doc = {}
  }
  const root: Record<string, unknown> = typeof doc === 'object' && doc != null && !Array.isArray(doc) ? doc as Record<string, unknown> : {}
  const keys = configKeys()
  const edits = 1 + rng.int(3)
  for (let i = 0; i < edits; i++) {
    const path = rng.int(4) === 0 ? rng.pick(KEYS) : rng.int(5) === 0 ? `${rng.pick(keys)}.${rng.pick(KEYS)}` : rng.pick(keys)
    setPath(root, path, interestingValue(rng, path))
  }
  return encode(writeJsonc(root, rng, ''))
}

/** Deep equality of two parsed JSON values without recursion (documents may nest 20,000 deep). */
function sameJson (a: unknown, b: unknown): boolean {
  const pending: Array<[unknown, unknown]> = [[a, b]]
  while (pending.length > 0) {
    const [x, y] = pending.pop() as [unknown, unknown]
    if (typeof x !== 'object' || x == null || typeof y !== 'object' || y == null) {
      if (!Object.is(x, y)) return false
      continue
    }
    if (Array.isArray(x) !== Array.isArray(y)) return false
    const xs = Object.keys(x)
    const ys = Object.keys(y)
    if (xs.length !== ys.length) return false
    for (let i = 0; i < xs.length; i++) {
      if (xs[i] !== ys[i]) return false
      pending.push([(x as Record<string, unknown>)[xs[i]], (y as Record<string, unknown>)[ys[i]]])
    }
  }
  return true
}

/** Own keys of the built-in prototypes, to notice a pollution. */
function prototypeShape (): string {
  return [Object.prototype, Array.prototype, Function.prototype].map(p => Reflect.ownKeys(p).map(String).join(',')).join('|')
}
const PROTOTYPES = prototypeShape()

function seeds (): Uint8Array[] {
  const texts = [
    renderConfigFile(DEFAULT_CONFIG, ['every key with its default']),
    '{}',
    '{ "http": { "port": 8080 } }',
    '// only what differs\n{\n  "listen": ["/ip4/0.0.0.0/tcp/7400", "/ip4/0.0.0.0/tcp/7401/ws"], /* both */\n  "onion": { "exit": false, },\n}\n',
    '{ "bootstrap": ["/ip4/10.0.0.1/tcp/7400/p2p/12D3KooWGRUVh6KcuvpPdgwgSXwn58VcqNBUK5EJAaRXFu2i3ZEE"], "dataDir": "~/relay // one" }',
    '{ "rateLimit": { "reputation": { "banThreshold": 5 } }, "swarm": { "replicas": 5, "writeQuorum": 3 } }',
    '{ "discovery": { "bootstrapRetryMinMs": 5000, "bootstrapRetryMaxMs": 1000 } }',
    '{ "__proto__": { "polluted": true }, "constructor": { "prototype": { "polluted": true } } }',
    '{ "http": { "__proto__": { "port": 1 } } }',
    '{ "connections": { "max": 1e400, "targetPeers": -0 }, "http": { "port": 9007199254740993 } }',
    `{ "listen": ${deep(DEEP_NESTING, '[', ']').text} }`,
    `{ "http": ${deep(DEEP_NESTING, '{"a":', '}', '1').text} }`,
    '\ufeff{ "onion": { "hops": 3 } }'
  ]
  const out = texts.map(encode)
  try {
    out.push(new Uint8Array(readFileSync(EXAMPLE_FILE)))
  } catch {
    // a checkout without config/ still has the rendered defaults above
  }
  // invalid UTF-8 inside a string and outside
  out.push(Uint8Array.from([...encode('{ "dataDir": "/tmp/'), 0xff, 0xfe, 0xc3, ...encode('" }'), 0x80]))
  return out
}

/**
 * The config file loader as `ghostnode start --config FILE` runs it, minus the
 * read: comment stripping, JSON parsing, flattening against the schema,
 * per-key and cross-key validation. Every rejection must be a ConfigError.
 * Invariants: a file that is plain JSON means the same after comment stripping;
 * a config that loads renders (as `ghostnode init` writes it) and reloads to the
 * same values; no built-in prototype gains a property.
 */
export const configFileTarget: FuzzTarget = {
  name: 'config-file',
  maxInputBytes: MAX_CONFIG_INPUT_BYTES,
  seeds,
  mutate: mutateConfig,

  run (input) {
    const text = decode(input)
    try {
      let strict: unknown
      try {
        strict = JSON.parse(text)
      } catch {
        strict = undefined
      }
      if (strict !== undefined && !sameJson(JSON.parse(stripJsonComments(text)), strict)) {
        throw new Error('comment stripping changed a plain JSON document')
      }
      const config = buildConfig([parseConfigText(text, FILE)], CWD)
      const again = buildConfig([parseConfigText(renderConfigFile(config), FILE)], CWD)
      if (JSON.stringify(again) !== JSON.stringify(config)) throw new Error('config changed through render and reload')
    } finally {
      // the invariant holds whatever the input did, so it is checked (and reported) even after a throw
      // eslint-disable-next-line no-unsafe-finally
      if (prototypeShape() !== PROTOTYPES) throw new Error('a built-in prototype was polluted')
    }
  }
}

export default configFileTarget
