import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { parse } from 'yaml'
import { DEFAULT_HTTP_PORT, DEFAULT_TCP_PORT, DEFAULT_WS_PORT } from '../../../src/config/defaults.js'
import { loadConfig } from '../../../src/config/load.js'
import { startNode, testConfig } from '../../helpers/nodes.js'
import { makeTempDir, removeTempDir } from '../../helpers/tmp.js'

/**
 * Docker is not installed where this project is developed, so the container
 * files are checked statically: they parse, every path they name exists, the
 * ports agree with the node's own config loader, and every metric the Grafana
 * dashboard queries is either registered by a running node today or listed
 * below as pending wiring.
 */

/**
 * Metrics the dashboard already charts whose modules are not wired into the
 * node yet. When a name gets registered the test fails until it is removed
 * from this list, so the list cannot quietly go stale.
 */
const PENDING_METRICS: string[] = []

/** Series Prometheus makes itself, not the node. */
const PROMETHEUS_SERIES = new Set(['up'])

/** npm scripts a compose service runs that package.json does not define yet (same rule as above). */
const PENDING_SCRIPTS: string[] = []

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url))
const DOCKER = join(ROOT, 'docker')
const read = (path: string): string => readFileSync(path, 'utf8')

interface Instruction { cmd: string, args: string, stage: string }

/** Dockerfile instructions with continuation lines joined and comments dropped, each tagged with its stage. */
function parseDockerfile (text: string): Instruction[] {
  const out: Instruction[] = []
  let stage = ''
  const logical = text.replace(/\\\n/g, ' ').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
  for (const line of logical) {
    const [, cmd, args] = /^(\S+)\s+(.*)$/.exec(line) ?? []
    if (cmd == null) throw new Error(`cannot parse Dockerfile line: ${line}`)
    if (cmd.toUpperCase() === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? args
    out.push({ cmd: cmd.toUpperCase(), args, stage })
  }
  return out
}

/** A small .dockerignore matcher: globs with * and **, later patterns and ! exceptions win. */
function dockerIgnored (patterns: string[], path: string): boolean {
  let ignored = false
  for (const raw of patterns) {
    const negate = raw.startsWith('!')
    const glob = negate ? raw.slice(1) : raw
    const source = glob.split('/').map(seg => seg === '**' ? '.*' : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/')
    // a pattern matching a directory also covers everything under it
    if (new RegExp(`^${source.replace(/^\.\*\//, '(.*/)?')}(/.*)?$`).test(path)) ignored = !negate
  }
  return ignored
}

/** Metric names a PromQL expression (or a Grafana label_values() query) refers to. */
function metricNames (expr: string): string[] {
  const labelValues = /^label_values\(\s*([a-zA-Z_:][\w:]*)/.exec(expr.trim())
  if (labelValues != null) return [labelValues[1]]
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+\S+/g, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, ' ')
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan'])
  return [...stripped.matchAll(/([a-zA-Z_:][\w:]*)\s*(\()?/g)].filter(m => m[2] == null && !keywords.has(m[1].toLowerCase())).map(m => m[1])
}

/** Every query string of a dashboard: panel targets (rows nest panels) and templating queries. */
function dashboardQueries (dashboard: any): string[] {
  const queries: string[] = []
  const walk = (panels: any[] = []): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') queries.push(t.expr)
      walk(p.panels)
    }
  }
  walk(dashboard.panels)
  for (const v of dashboard.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query?.query
    if (typeof q === 'string') queries.push(q)
  }
  return queries
}

function datasourceUids (value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) datasourceUids(v, out)
  else if (value != null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'datasource' && v != null && typeof v === 'object' && typeof (v as any).uid === 'string') out.add((v as any).uid)
      else datasourceUids(v, out)
    }
  }
  return out
}

/** "127.0.0.1:7410:7400" -> parts; a mapping without a host address has ip ''. */
function portMapping (spec: string): { ip: string, host: number, container: number } {
  const parts = spec.replace(/\/tcp$/, '').split(':')
  const container = Number(parts.at(-1))
  const host = Number(parts.at(-2) ?? container)
  return { ip: parts.length === 3 ? parts[0] : '', host, container }
}

describe('docker/ files (static checks)', () => {
  const dockerfileText = read(join(DOCKER, 'Dockerfile'))
  const dockerfile = parseDockerfile(dockerfileText)
  const compose = parse(read(join(DOCKER, 'docker-compose.yml')), { merge: true })
  const services = compose.services as Record<string, any>
  const runtimeStage = dockerfile.filter(i => i.cmd === 'FROM').at(-1)?.stage ?? ''
  const inRuntime = dockerfile.filter(i => i.stage === runtimeStage)
  const relays = Object.entries(services).filter(([name, s]) => s.build?.target === runtimeStage && name !== 'init')

  it('builds on node:24 in stages, with a non-root user, tini as PID 1 and a HEALTHCHECK on /health/live', () => {
    const stages = new Set<string>()
    for (const from of dockerfile.filter(i => i.cmd === 'FROM')) {
      const image = from.args.split(/\s+/)[0]
      expect(stages.has(image) || /^node:24-[\w.-]+$/.test(image), `FROM ${image}`).to.equal(true)
      stages.add(from.stage)
    }
    expect(runtimeStage).to.equal('runtime')
    expect(inRuntime.filter(i => i.cmd === 'USER').at(-1)?.args).to.match(/^(?!root$|0$)\w+$/)
    expect(inRuntime.some(i => i.cmd === 'RUN' && /apt-get install[^&]*\btini\b/.test(i.args))).to.equal(true)
    expect(JSON.parse(inRuntime.find(i => i.cmd === 'ENTRYPOINT')?.args ?? '[]').slice(0, 2)).to.deep.equal(['/usr/bin/tini', '--'])
    const health = inRuntime.find(i => i.cmd === 'HEALTHCHECK')?.args ?? ''
    expect(health).to.contain('/health/live').and.not.match(/\b(curl|wget)\b/)
    expect(/\|\| (\d+)\)/.exec(health)?.[1], 'HEALTHCHECK default port').to.equal(String(DEFAULT_HTTP_PORT))
    expect(inRuntime.find(i => i.cmd === 'VOLUME')?.args).to.equal('/data')
    const env = inRuntime.filter(i => i.cmd === 'ENV').map(i => i.args).join(' ')
    expect(env).to.contain('GHOSTNODE_DATA_DIR=/data').and.contain('GHOSTNODE_HTTP_HOST=0.0.0.0')
    const exposed = inRuntime.filter(i => i.cmd === 'EXPOSE').flatMap(i => i.args.split(/\s+/)).map(p => Number(p.replace(/\/tcp$/, '')))
    expect(exposed).to.have.members([DEFAULT_TCP_PORT, DEFAULT_WS_PORT, DEFAULT_HTTP_PORT])
    expect(dockerfileText + read(join(DOCKER, 'docker-compose.yml'))).to.not.match(/--inspect/)
  })

  it('installs production dependencies only in the runtime image and follows the usual lint rules', () => {
    const modules = inRuntime.find(i => i.cmd === 'COPY' && /\bnode_modules\b/.test(i.args))
    const from = /--from=(\S+)/.exec(modules?.args ?? '')?.[1] ?? ''
    expect(dockerfile.some(i => i.stage === from && i.cmd === 'RUN' && /npm ci\b.*--omit=dev/.test(i.args)), 'node_modules from an `npm ci --omit=dev` stage').to.equal(true)
    for (const i of dockerfile) {
      expect(i.cmd, 'ADD (use COPY)').to.not.equal('ADD')
      if (i.cmd === 'RUN') expect(i.args, 'npm install (use npm ci)').to.not.match(/npm (install|i)\b/)
      if (i.cmd === 'RUN' && /apt-get install/.test(i.args)) {
        expect(i.args).to.match(/install -y --no-install-recommends/)
        expect(i.args).to.contain('rm -rf /var/lib/apt/lists/*')
      }
      if (i.cmd === 'FROM') expect(i.args).to.not.match(/:latest\b/)
    }
  })

  it('copies only paths that exist and that .dockerignore lets into the build context', () => {
    const ignore = read(join(ROOT, '.dockerignore')).split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
    const copies = dockerfile.filter(i => i.cmd === 'COPY' && !i.args.includes('--from='))
    expect(copies).to.not.have.length(0)
    for (const copy of copies) {
      for (const src of copy.args.split(/\s+/).slice(0, -1)) {
        expect(existsSync(join(ROOT, src)), `COPY ${src}`).to.equal(true)
        expect(dockerIgnored(ignore, posix.normalize(src)), `COPY ${src} is excluded by .dockerignore`).to.equal(false)
      }
    }
    expect(dockerIgnored(ignore, 'test/x/identity.key')).to.equal(true)
    expect(dockerIgnored(ignore, 'node_modules/yaml/package.json')).to.equal(true)
  })

  it('names build contexts, Dockerfiles, stages, bind mounts and volumes that exist', () => {
    const stages = new Set(dockerfile.filter(i => i.cmd === 'FROM').map(i => i.stage))
    for (const [name, s] of Object.entries(services)) {
      if (s.build != null) {
        const context = join(DOCKER, s.build.context)
        expect(statSync(context).isDirectory(), `${name} build context`).to.equal(true)
        expect(existsSync(join(context, s.build.dockerfile)), `${name} dockerfile`).to.equal(true)
        expect(stages.has(s.build.target), `${name} target ${String(s.build.target)}`).to.equal(true)
      }
      expect(s.image, `${name} image tag`).to.match(/^[\w./-]+:[\w.-]+$/).and.not.match(/:latest$/)
      expect(s.privileged ?? false, `${name} privileged`).to.equal(false)
      for (const volume of s.volumes ?? []) {
        const source = String(volume).split(':')[0]
        if (source.startsWith('.') || source.startsWith('/')) {
          expect(existsSync(join(DOCKER, source)), `${name} bind mount ${source}`).to.equal(true)
        } else {
          expect(compose.volumes, `${name} volume ${source}`).to.have.property(source)
        }
      }
      for (const dep of Object.keys(Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((d: string) => [d, {}])) : s.depends_on ?? {})) {
        expect(services, `${name} depends on ${dep}`).to.have.property(dep)
      }
    }
    for (const [name] of relays) {
      expect(services[name].depends_on.init.condition).to.equal('service_completed_successfully')
    }
    expect(relays.map(([n]) => n)).to.have.members(['node1', 'node2', 'node3'])
    expect(services.bench.profiles).to.deep.equal(['bench'])
  })

  it('publishes ports that match each relay\'s configured ports, HTTP on the host\'s 127.0.0.1 only', () => {
    const imageEnv = Object.fromEntries(inRuntime.filter(i => i.cmd === 'ENV').flatMap(i => [...i.args.matchAll(/(\w+)=(\S+)/g)].map(m => [m[1], m[2]])))
    const hostPorts = new Set<number>()
    for (const [name, s] of relays) {
      // the node's own loader decides what these variables mean; the data dir is swapped so no file is read
      const env = { ...imageEnv, ...s.environment, GHOSTNODE_DATA_DIR: join(ROOT, 'nonexistent-data-dir') }
      const { config } = loadConfig({ env, flags: {} })
      expect(config.http.host, `${name}: Prometheus must reach HTTP`).to.equal('0.0.0.0')
      const tcp = config.listen.map(a => Number(/\/tcp\/(\d+)/.exec(a)?.[1]))
      const published = (s.ports as string[]).map(portMapping)
      for (const p of published) {
        expect([...tcp, config.http.port], `${name} publishes container port ${p.container}`).to.include(p.container)
        expect(p.ip, `${name} port ${p.host} must bind 127.0.0.1`).to.equal('127.0.0.1')
        expect(hostPorts.has(p.host), `host port ${p.host} published twice`).to.equal(false)
        hostPorts.add(p.host)
      }
      expect(published.map(p => p.container)).to.include.members([...tcp, config.http.port])
      // testnet-init.mjs writes bootstrap addresses /dns4/<service>/tcp/<port>
      const init = read(join(DOCKER, 'testnet-init.mjs'))
      expect(tcp).to.include(Number(/TESTNET_TCP_PORT \?\? '(\d+)'/.exec(init)?.[1]))
      expect(/TESTNET_NODES \?\? '([^']+)'/.exec(init)?.[1].split(',')).to.include(name)
    }
    for (const s of Object.values(services)) {
      for (const p of (s.ports ?? []) as string[]) expect(portMapping(p).ip, `${p} must bind 127.0.0.1`).to.equal('127.0.0.1')
    }
  })

  it('has Prometheus scrape every relay by service name on its HTTP port', () => {
    const prom = parse(read(join(DOCKER, 'prometheus/prometheus.yml')))
    const targets: string[] = prom.scrape_configs.flatMap((c: any) => c.static_configs.flatMap((sc: any) => sc.targets))
    const expected = relays.map(([name, s]) => `${name}:${String(s.environment.GHOSTNODE_HTTP_PORT ?? DEFAULT_HTTP_PORT)}`)
    expect(targets).to.have.members(expected)
    expect(services.prometheus.volumes).to.include('./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro')
  })

  it('provisions Grafana with the compose Prometheus and the mounted dashboards', () => {
    const datasources = parse(read(join(DOCKER, 'grafana/provisioning/datasources/prometheus.yml'))).datasources
    const providers = parse(read(join(DOCKER, 'grafana/provisioning/dashboards/ghostnode.yml'))).providers
    expect(datasources).to.have.length(1)
    expect(new URL(datasources[0].url).hostname).to.equal('prometheus')
    expect(services).to.have.property('prometheus')
    const mount = (services.grafana.volumes as string[]).find(v => v.startsWith('./grafana/dashboards:'))
    expect(mount?.split(':')[1]).to.equal(providers[0].options.path)
    const dashboard = JSON.parse(read(join(DOCKER, 'grafana/dashboards/ghostnode.json')))
    expect([...datasourceUids(dashboard)]).to.deep.equal([datasources[0].uid])
  })

  it('runs only npm scripts that exist, or are listed as pending', () => {
    const scripts = Object.keys(JSON.parse(read(join(ROOT, 'package.json'))).scripts)
    for (const pending of PENDING_SCRIPTS) expect(scripts, `${pending} now exists: remove it from PENDING_SCRIPTS`).to.not.include(pending)
    for (const [name, s] of Object.entries(services)) {
      const command = [s.command ?? []].flat().join(' ')
      for (const m of command.matchAll(/npm run (\S+)/g)) expect([...scripts, ...PENDING_SCRIPTS], `${name} runs ${m[1]}`).to.include(m[1])
    }
  })

  describe('the Grafana dashboard', function () {
    this.timeout(30_000)
    const dashboard = JSON.parse(read(join(DOCKER, 'grafana/dashboards/ghostnode.json')))
    const referenced = new Set(dashboardQueries(dashboard).flatMap(metricNames))
    const registered = new Set<string>()

    // Scrape a started node's /metrics (libp2p metrics included) for the names it exports; the node lives only inside this hook.
    before(async () => {
      const dir = await makeTempDir()
      try {
        const node = await startNode(testConfig(dir, 'metrics', { http: { enabled: true, host: '127.0.0.1', port: 0 } }), { libp2pMetrics: true })
        try {
          const http = node.httpAddress()
          if (http == null) throw new Error('the node serves no HTTP endpoint')
          const text = await (await fetch(`http://${http.host}:${http.port}/metrics`)).text()
          for (const line of text.split('\n')) {
            // exposition samples: `name{labels} value` or `name value`; histograms list _bucket/_sum/_count themselves
            const name = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)?.[1]
            if (name != null) registered.add(name)
            // a metric with no sample yet (a labelled counter nothing has counted) still has its TYPE line
            const typed = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)/.exec(line)
            if (typed != null) {
              const suffixes = typed[2] === 'histogram' ? ['_bucket', '_sum', '_count'] : typed[2] === 'summary' ? ['', '_sum', '_count'] : ['']
              for (const s of suffixes) registered.add(typed[1] + s)
            }
          }
        } finally {
          await node.stop()
        }
      } finally {
        await removeTempDir(dir)
      }
    })

    it('queries only metrics a running node registers, or that are listed as pending wiring', () => {
      expect(referenced.size).to.be.greaterThan(10)
      const pending = new Set(PENDING_METRICS.flatMap(n => [n, `${n}_bucket`, `${n}_sum`, `${n}_count`]))
      const unknown = [...referenced].filter(n => !registered.has(n) && !pending.has(n))
      expect(unknown, 'metric names neither registered nor pending').to.deep.equal([])
    })

    it('lists as pending only metrics that are not registered yet and that it charts', () => {
      const nowRegistered = PENDING_METRICS.filter(n => registered.has(n) || registered.has(`${n}_bucket`))
      expect(nowRegistered, 'registered now: move them out of PENDING_METRICS').to.deep.equal([])
      const unused = PENDING_METRICS.filter(n => !referenced.has(n) && !referenced.has(`${n}_bucket`))
      expect(unused, 'pending but not charted').to.deep.equal([])
    })

    it('has alert rules (not ready, memory pressure, replication lag, ban spikes) whose every metric a node registers', () => {
      const prom = parse(read(join(DOCKER, 'prometheus/prometheus.yml')))
      expect(prom.rule_files).to.deep.equal(['/etc/prometheus/alerts.yml'])
      const services = parse(read(join(DOCKER, 'docker-compose.yml'))).services
      expect(services.prometheus.volumes).to.include('./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro')
      const rules = parse(read(join(DOCKER, 'prometheus/alerts.yml'))).groups.flatMap((g: any) => g.rules) as Array<{ alert: string, expr: string }>
      expect(rules.map(r => r.alert)).to.include.members(['GhostnodeNotReady', 'GhostnodeUnreachable', 'GhostnodeMemoryPressure', 'GhostnodeReplicationLag', 'GhostnodeBanSpike'])
      const unknown = rules.flatMap(r => metricNames(r.expr).filter(n => !registered.has(n) && !PROMETHEUS_SERIES.has(n)).map(n => `${r.alert}: ${n}`))
      expect(unknown, 'alert expressions naming metrics no node registers').to.deep.equal([])
    })

    it('charts what operators.md tells operators to watch: memory pressure, queued bytes, link closes, replication lag', () => {
      for (const name of ['ghostnode_node_reachable', 'ghostnode_memory_pressure', 'ghostnode_onion_queued_bytes', 'ghostnode_onion_links_closed_total', 'ghostnode_swarm_replication_lag_seconds_bucket', 'ghostnode_node_connected_peers_by_tier']) {
        expect(referenced, name).to.include(name)
      }
    })

    it('charts the node, libp2p traffic and readiness, and has a panel title for every section', () => {
      for (const name of ['ghostnode_node_connected_peers', 'ghostnode_node_ready', 'ghostnode_node_uptime_seconds', 'libp2p_data_transfer_bytes_total']) {
        expect(referenced, name).to.include(name)
      }
      const rows = (dashboard.panels as any[]).filter(p => p.type === 'row').map(p => p.title)
      expect(rows).to.include.members(['Node', 'Onion circuits', 'Swarm storage', 'Rate limiting and reputation'])
    })
  })
})
