import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { CONFIG_SPEC, DEFAULT_CONFIG } from '../../../src/config/defaults.js'
import { ConfigFileError, InvalidConfigTypeError, InvalidConfigValueError, UnknownConfigKeyError } from '../../../src/config/errors.js'
import { stripJsonComments } from '../../../src/config/jsonc.js'
import { loadConfig } from '../../../src/config/load.js'
import { renderConfigFile } from '../../../src/config/render.js'
import { configKeys, envNameForKey } from '../../../src/config/schema.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

function leafKeys (obj: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(obj).flatMap(([k, v]) => {
    const key = prefix === '' ? k : `${prefix}.${k}`
    return typeof v === 'object' && v != null && !Array.isArray(v) ? leafKeys(v as Record<string, unknown>, key) : [key]
  })
}

describe('config loading', () => {
  let dir: string
  let file: string

  beforeEach(async () => {
    dir = await makeTempDir()
    file = join(dir, 'ghostnode.json')
  })
  afterEach(async () => { await removeTempDir(dir) })

  it('describes every default key in the spec and nothing else', () => {
    expect(leafKeys(DEFAULT_CONFIG as unknown as Record<string, unknown>).sort()).to.deep.equal(Object.keys(CONFIG_SPEC).sort())
  })

  it('returns the defaults when nothing overrides them', () => {
    const { config, configFile } = loadConfig({ env: {}, flags: { dataDir: dir } })
    expect(configFile).to.equal(undefined)
    expect(config.http).to.deep.equal(DEFAULT_CONFIG.http)
    expect(config.listen).to.deep.equal(DEFAULT_CONFIG.listen)
    expect(config.dataDir).to.equal(dir)
  })

  it('layers file < environment < flags', async () => {
    await writeFile(file, JSON.stringify({ http: { port: 1111, host: '127.0.0.2' }, connections: { max: 10, targetPeers: 3 }, shutdownTimeoutMs: 1234 }))
    const { config } = loadConfig({
      configFile: file,
      env: { GHOSTNODE_HTTP_PORT: '2222', GHOSTNODE_CONNECTIONS_MAX: '20' },
      flags: { 'http.port': '3333' }
    })
    expect(config.http.port).to.equal(3333) // flag beats env and file
    expect(config.connections.max).to.equal(20) // env beats file
    expect(config.http.host).to.equal('127.0.0.2') // file beats default
    expect(config.connections.targetPeers).to.equal(3)
    expect(config.shutdownTimeoutMs).to.equal(1234)
    expect(config.connections.dialTimeoutMs).to.equal(DEFAULT_CONFIG.connections.dialTimeoutMs)
  })

  it('reads the config file named by GHOSTNODE_CONFIG', async () => {
    await writeFile(file, '{ "http": { "port": 4444 } }')
    const { config, configFile } = loadConfig({ env: { GHOSTNODE_CONFIG: file } })
    expect(configFile).to.equal(file)
    expect(config.http.port).to.equal(4444)
  })

  it('reads config.json from the data dir by default', async () => {
    await writeFile(join(dir, 'config.json'), '{ "connections": { "max": 77 } }')
    const { config } = loadConfig({ env: { GHOSTNODE_DATA_DIR: dir } })
    expect(config.connections.max).to.equal(77)
  })

  it('accepts comments and trailing commas in the file', async () => {
    await writeFile(file, '// top\n{\n  /* block */ "http": { "port": 5555, }, // after\n  "listen": ["/ip4/127.0.0.1/tcp/1//x"],\n}\n'.replace('1//x', '1'))
    const { config } = loadConfig({ configFile: file, env: {} })
    expect(config.http.port).to.equal(5555)
    expect(config.listen).to.deep.equal(['/ip4/127.0.0.1/tcp/1'])
  })

  it('keeps comment markers inside strings', () => {
    expect(JSON.parse(stripJsonComments('{"a": "x // y /* z */"}'))).to.deep.equal({ a: 'x // y /* z */' })
  })

  it('parses lists and booleans from the environment', () => {
    const { config } = loadConfig({ env: { GHOSTNODE_LISTEN: '/ip4/127.0.0.1/tcp/1, /ip4/127.0.0.1/tcp/2/ws', GHOSTNODE_HTTP_ENABLED: 'false' } })
    expect(config.listen).to.deep.equal(['/ip4/127.0.0.1/tcp/1', '/ip4/127.0.0.1/tcp/2/ws'])
    expect(config.http.enabled).to.equal(false)
  })

  it('maps every key to a GHOSTNODE_ variable', () => {
    expect(envNameForKey('connections.dialTimeoutMs')).to.equal('GHOSTNODE_CONNECTIONS_DIAL_TIMEOUT_MS')
    expect(envNameForKey('dataDir')).to.equal('GHOSTNODE_DATA_DIR')
    expect(new Set(configKeys().map(envNameForKey)).size).to.equal(configKeys().length)
  })

  it('rejects an unknown key in the file and names it', async () => {
    await writeFile(file, JSON.stringify({ http: { prot: 1 } }))
    expect(() => loadConfig({ configFile: file, env: {} })).to.throw(UnknownConfigKeyError, '"http.prot"')
  })

  it('rejects an unknown top-level key', async () => {
    await writeFile(file, JSON.stringify({ colour: 'blue' }))
    expect(() => loadConfig({ configFile: file, env: {} })).to.throw(UnknownConfigKeyError, '"colour"')
  })

  it('rejects an unknown GHOSTNODE_ variable and names it', () => {
    expect(() => loadConfig({ env: { GHOSTNODE_HTTP_PROT: '1' } })).to.throw(UnknownConfigKeyError, 'GHOSTNODE_HTTP_PROT')
  })

  it('rejects an unknown flag key', () => {
    expect(() => loadConfig({ env: {}, flags: { 'http.nope': '1' } })).to.throw(UnknownConfigKeyError, 'http.nope')
  })

  it('rejects a wrong type and names key and value', async () => {
    await writeFile(file, JSON.stringify({ http: { port: 'eighty' } }))
    expect(() => loadConfig({ configFile: file, env: {} })).to.throw(InvalidConfigTypeError, /"http\.port".*"eighty"/)
  })

  it('rejects a non-integer number', async () => {
    await writeFile(file, JSON.stringify({ connections: { max: 1.5 } }))
    expect(() => loadConfig({ configFile: file, env: {} })).to.throw(InvalidConfigTypeError, 'connections.max')
  })

  it('rejects a section given as a scalar', async () => {
    await writeFile(file, JSON.stringify({ http: 8080 }))
    expect(() => loadConfig({ configFile: file, env: {} })).to.throw(InvalidConfigTypeError, '"http"')
  })

  it('rejects a string where a list is expected', async () => {
    await writeFile(file, JSON.stringify({ listen: '/ip4/127.0.0.1/tcp/1' }))
    expect(() => loadConfig({ configFile: file, env: {} })).to.throw(InvalidConfigTypeError, '"listen"')
  })

  it('rejects a non-boolean for a boolean key', () => {
    expect(() => loadConfig({ env: { GHOSTNODE_HTTP_ENABLED: 'maybe' } })).to.throw(InvalidConfigTypeError, /http\.enabled.*maybe/)
  })

  it('rejects a non-integer from the environment', () => {
    expect(() => loadConfig({ env: { GHOSTNODE_HTTP_PORT: '80x' } })).to.throw(InvalidConfigTypeError, /http\.port.*80x/)
  })

  it('rejects an out-of-range port', () => {
    expect(() => loadConfig({ env: {}, flags: { 'http.port': '70000' } })).to.throw(InvalidConfigValueError, /http\.port.*70000.*between 0 and 65535/)
  })

  it('rejects an address that is not a multiaddr', () => {
    expect(() => loadConfig({ env: {}, flags: { listen: 'tcp://0.0.0.0:1' } })).to.throw(InvalidConfigValueError, /"listen".*tcp:\/\/0\.0\.0\.0:1/)
  })

  it('rejects an empty listen list', () => {
    expect(() => loadConfig({ env: {}, flags: { listen: [] } })).to.throw(InvalidConfigValueError, '"listen"')
  })

  it('rejects a bootstrap address without a peer id', () => {
    expect(() => loadConfig({ env: {}, flags: { bootstrap: '/ip4/127.0.0.1/tcp/1' } })).to.throw(InvalidConfigValueError, /bootstrap.*\/p2p\//)
  })

  it('rejects a bad host and a bad protocol prefix', () => {
    expect(() => loadConfig({ env: {}, flags: { 'http.host': 'not a host!' } })).to.throw(InvalidConfigValueError, 'http.host')
    expect(() => loadConfig({ env: {}, flags: { 'discovery.dhtProtocolPrefix': 'ghost' } })).to.throw(InvalidConfigValueError, 'discovery.dhtProtocolPrefix')
  })

  it('rejects an empty data dir', () => {
    expect(() => loadConfig({ env: {}, flags: { dataDir: ' ' } })).to.throw(InvalidConfigValueError, 'dataDir')
  })

  it('rejects a retry minimum above the maximum', () => {
    expect(() => loadConfig({ env: {}, flags: { 'discovery.bootstrapRetryMinMs': '5000', 'discovery.bootstrapRetryMaxMs': '1000' } }))
      .to.throw(InvalidConfigValueError, 'discovery.bootstrapRetryMinMs')
  })

  it('rejects a queue budget above a quarter of the RSS bound, naming onion.maxQueuedBytes', () => {
    expect(() => loadConfig({ env: {}, flags: { 'memory.maxRssBytes': String(256 * 1024 * 1024), 'onion.maxQueuedBytes': String(64 * 1024 * 1024 + 1) } }))
      .to.throw(InvalidConfigValueError, 'onion.maxQueuedBytes')
    // exactly a quarter is allowed
    const { config } = loadConfig({ env: {}, flags: { 'memory.maxRssBytes': String(256 * 1024 * 1024), 'onion.maxQueuedBytes': String(64 * 1024 * 1024) } })
    expect(config.onion.maxQueuedBytes).to.equal(64 * 1024 * 1024)
  })

  it('rejects a low memory watermark at or above the high one, and an RSS bound below an idle node', () => {
    expect(() => loadConfig({ env: {}, flags: { 'memory.lowWatermark': '0.9', 'memory.highWatermark': '0.9' } }))
      .to.throw(InvalidConfigValueError, 'memory.lowWatermark')
    expect(() => loadConfig({ env: { GHOSTNODE_MEMORY_MAX_RSS_BYTES: String(100 * 1024 * 1024) } }))
      .to.throw(InvalidConfigValueError, 'memory.maxRssBytes')
  })

  it('reports a file that is not JSON', async () => {
    await writeFile(file, '{ "http": ')
    expect(() => loadConfig({ configFile: file, env: {} })).to.throw(ConfigFileError, file)
  })

  it('reports a missing config file', () => {
    expect(() => loadConfig({ configFile: join(dir, 'missing.json'), env: {} })).to.throw(ConfigFileError, 'ENOENT')
  })

  it('renders a commented file that loads back to the same config', async () => {
    const { config } = loadConfig({ env: {}, flags: { dataDir: dir, 'http.port': '9' } })
    await writeFile(file, renderConfigFile(config, ['header']))
    expect(loadConfig({ configFile: file, env: {} }).config).to.deep.equal(config)
  })
})
