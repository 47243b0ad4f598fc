/**
 * Ring balance and churn simulation.
 *
 * For each (nodes, vnodes) it reports, over a fixed set of pseudo-random
 * mailboxes: max/mean keys per node counted by primary owner and by swarm
 * membership (R = 3), the same ratios computed exactly from arc lengths
 * (no sampling noise), and the fraction of keys whose owner / swarm changes
 * when one node joins or leaves, against the ideal 1/N (R/N for swarms).
 * A uniform-random assignment of the same keys gives the sampling noise floor.
 *
 * With --multi-probe it also measures multi-probe consistent hashing (each key
 * probes K points and takes the one closest to its successor vnode; the swarm
 * is the R distinct members from there), the main alternative to more vnodes.
 *
 *   node dist/bench/ring.js [--keys 1000000] [--multi-probe] [--json report.json]
 */
import { hash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { DEFAULT_VNODES_PER_NODE } from '../src/swarm/constants.js'
import { HashRing, positionOf } from '../src/swarm/ring.js'

const R = 3

const { values } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    'multi-probe': { type: 'boolean', default: false },
    json: { type: 'string' }
  }
})
const KEYS = Number(values.keys)

interface Balance { maxOverMean: number, minOverMean: number }
interface Churn { fraction: number, ideal: number, ratio: number, exactFraction: number, exactRatio: number }
interface ConfigReport {
  nodes: number
  vnodes: number
  buildMs: number
  primary: Balance & { exactMaxOverMean: number }
  swarm: Balance & { exactMaxOverMean: number }
  join?: { primary: Churn, swarm: Churn }
  leave?: { primary: Churn, swarm: Churn }
  lookupUs?: number
  addMs?: number
  removeMs?: number
}

/** Deterministic ids and mailboxes so runs compare across machines and commits. */
function nodeId (seed: string, i: number): string {
  return '12D3KooW' + hash('sha256', `${seed}/${i}`, 'base64url').slice(0, 44)
}

function makePositions (n: number): BigUint64Array {
  const out = new BigUint64Array(n)
  const buf = Buffer.alloc(4)
  for (let i = 0; i < n; i++) {
    buf.writeUInt32BE(i)
    out[i] = positionOf(hash('sha256', buf, 'buffer'))
  }
  return out
}

function balance (counts: Iterable<number>, members: number): Balance {
  let max = 0
  let min = Infinity
  let sum = 0
  for (const c of counts) {
    max = Math.max(max, c)
    min = Math.min(min, c)
    sum += c
  }
  const mean = sum / members
  return { maxOverMean: max / mean, minOverMean: (members > 0 && min !== Infinity ? min : 0) / mean }
}

function exactMax (shares: Map<string, number>): number {
  const s = [...shares.values()]
  const mean = s.reduce((a, b) => a + b, 0) / s.length
  return Math.max(...s) / mean
}

/** Primary owner and swarm of every key, by index into the ring's members. */
function assign (ring: HashRing, positions: BigUint64Array): { primary: string[], swarms: string[][] } {
  const primary = new Array<string>(positions.length)
  const swarms = new Array<string[]>(positions.length)
  for (let i = 0; i < positions.length; i++) {
    const s = ring.swarmAt(positions[i], R)
    swarms[i] = s
    primary[i] = s[0]
  }
  return { primary, swarms }
}

function count (ring: HashRing, a: { primary: string[], swarms: string[][] }): { p: number[], s: number[] } {
  const p = new Map<string, number>(ring.nodes().map(id => [id, 0]))
  const s = new Map<string, number>(ring.nodes().map(id => [id, 0]))
  for (let i = 0; i < a.primary.length; i++) {
    p.set(a.primary[i], (p.get(a.primary[i]) ?? 0) + 1)
    for (const id of a.swarms[i]) s.set(id, (s.get(id) ?? 0) + 1)
  }
  return { p: [...p.values()], s: [...s.values()] }
}

function churn (before: { primary: string[], swarms: string[][] }, after: HashRing, positions: BigUint64Array, nodes: number, exact: { primary: number, swarm: number }): { primary: Churn, swarm: Churn } {
  const next = assign(after, positions)
  let p = 0
  let s = 0
  for (let i = 0; i < positions.length; i++) {
    if (next.primary[i] !== before.primary[i]) p++
    const a = before.swarms[i]
    const b = next.swarms[i]
    if (a.length !== b.length || a.some(id => !b.includes(id))) s++
  }
  const idealP = 1 / nodes
  const idealS = Math.min(R, nodes) / nodes
  const mk = (moved: number, ideal: number, ex: number): Churn => ({
    fraction: moved / positions.length, ideal, ratio: moved / positions.length / ideal, exactFraction: ex, exactRatio: ex / ideal
  })
  return { primary: mk(p, idealP, exact.primary), swarm: mk(s, idealS, exact.swarm) }
}

function runConfig (nodes: number, vnodes: number, positions: BigUint64Array, withChurn: boolean): ConfigReport {
  const ids = Array.from({ length: nodes }, (_, i) => nodeId('member', i))
  const t0 = performance.now()
  const ring = new HashRing({ vnodesPerNode: vnodes, nodes: ids })
  const buildMs = performance.now() - t0
  const a = assign(ring, positions)
  const c = count(ring, a)
  const report: ConfigReport = {
    nodes,
    vnodes,
    buildMs,
    primary: { ...balance(c.p, nodes), exactMaxOverMean: exactMax(ring.keyspaceShares(1)) },
    swarm: { ...balance(c.s, nodes), exactMaxOverMean: exactMax(ring.keyspaceShares(R)) }
  }
  if (!withChurn) return report

  // Join: the keys that move are exactly the newcomer's share of the new ring.
  const joiner = nodeId('joiner', nodes)
  const joined = ring.clone()
  const tAdd = performance.now()
  joined.add(joiner)
  report.addMs = performance.now() - tAdd
  report.join = churn(a, joined, positions, nodes + 1, {
    primary: joined.keyspaceShares(1).get(joiner) ?? 0,
    swarm: joined.keyspaceShares(R).get(joiner) ?? 0
  })
  // Leave: the leaver's share of the old ring moves.
  const leaver = ids[Math.floor(nodes / 2)]
  const left = ring.clone()
  const tRemove = performance.now()
  left.remove(leaver)
  report.removeMs = performance.now() - tRemove
  report.leave = churn(a, left, positions, nodes, {
    primary: ring.keyspaceShares(1).get(leaver) ?? 0,
    swarm: ring.keyspaceShares(R).get(leaver) ?? 0
  })

  const probes = 200_000
  const mailbox = Buffer.alloc(32)
  const t1 = performance.now()
  for (let i = 0; i < probes; i++) {
    mailbox.writeUInt32BE(i)
    ring.swarmFor(mailbox, R)
  }
  report.lookupUs = (performance.now() - t1) * 1000 / probes
  return report
}

/** Uniform random assignment of the same number of keys: the noise floor of the sampled ratios. */
function uniformBaseline (nodes: number, keys: number): { primary: number, swarm: number } {
  const p = new Uint32Array(nodes)
  const s = new Uint32Array(nodes)
  let x = 0x2545f491
  const next = (): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % nodes
  }
  for (let i = 0; i < keys; i++) {
    const picked: number[] = []
    while (picked.length < Math.min(R, nodes)) {
      const o = next()
      if (!picked.includes(o)) picked.push(o)
    }
    p[picked[0]]++
    for (const o of picked) s[o]++
  }
  return { primary: balance(p, nodes).maxOverMean, swarm: balance(s, nodes).maxOverMean }
}

/** Multi-probe placement over the same vnode positions the ring uses; sampled ratios only. */
function multiProbe (nodes: number, vnodes: number, probes: number, keys: number): { primary: number, swarm: number, lookupUs: number } {
  const points: Array<[bigint, number]> = []
  for (let n = 0; n < nodes; n++) {
    const id = Buffer.from(nodeId('member', n), 'utf8')
    const input = Buffer.alloc(id.length + 2)
    id.copy(input)
    for (let v = 0; v < vnodes; v++) {
      input.writeUInt16BE(v, id.length)
      points.push([hash('sha256', input, 'buffer').readBigUInt64BE(0), n])
    }
  }
  points.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  const pos = BigUint64Array.from(points.map(p => p[0]))
  const owner = Uint32Array.from(points.map(p => p[1]))
  const successor = (k: bigint): number => {
    let a = 0
    let b = pos.length
    while (a < b) {
      const m = (a + b) >>> 1
      if (pos[m] < k) a = m + 1
      else b = m
    }
    return a === pos.length ? 0 : a
  }
  const p = new Uint32Array(nodes)
  const s = new Uint32Array(nodes)
  const input = Buffer.alloc(6)
  const t0 = performance.now()
  for (let i = 0; i < keys; i++) {
    input.writeUInt32BE(i)
    let best = 0
    let bestDistance = -1n
    for (let j = 0; j < probes; j++) {
      input.writeUInt16BE(j, 4)
      const q = hash('sha256', input, 'buffer').readBigUInt64BE(0)
      const at = successor(q)
      const distance = (pos[at] - q) & 0xffffffffffffffffn
      if (bestDistance < 0n || distance < bestDistance) {
        best = at
        bestDistance = distance
      }
    }
    const picked: number[] = []
    for (let at = best; picked.length < Math.min(R, nodes); at = (at + 1) % pos.length) {
      if (!picked.includes(owner[at])) picked.push(owner[at])
    }
    p[picked[0]]++
    for (const o of picked) s[o]++
  }
  const lookupUs = (performance.now() - t0) * 1000 / keys
  return { primary: balance(p, nodes).maxOverMean, swarm: balance(s, nodes).maxOverMean, lookupUs }
}

const fmt = (x: number): string => x.toFixed(3)

const started = performance.now()
const positions = makePositions(KEYS)
console.log(`ring balance over ${KEYS.toLocaleString('en-US')} mailboxes, R=${R}, default V=${DEFAULT_VNODES_PER_NODE}`)
console.log('max/mean: sampled (exact, from arc lengths). churn: fraction of keys whose owner/swarm changed over the ideal')
console.log('(join 1/(N+1), leave 1/N; swarms R/(N+1), R/N), sampled (exact, from the joiner\'s or leaver\'s share)')

const configs: ConfigReport[] = []
const vnodeSet = [...new Set([64, DEFAULT_VNODES_PER_NODE])]
for (const nodes of [10, 100, 1000]) {
  for (const vnodes of vnodeSet) {
    const r = runConfig(nodes, vnodes, positions, true)
    configs.push(r)
    console.log(
      `N=${String(nodes).padStart(4)} V=${String(vnodes).padStart(4)}` +
      ` | primary max/mean ${fmt(r.primary.maxOverMean)} (${fmt(r.primary.exactMaxOverMean)})` +
      ` | swarm max/mean ${fmt(r.swarm.maxOverMean)} (${fmt(r.swarm.exactMaxOverMean)})` +
      ` | join moves primary ${fmt(r.join?.primary.ratio ?? 0)}x ideal (${fmt(r.join?.primary.exactRatio ?? 0)})` +
      ` swarm ${fmt(r.join?.swarm.ratio ?? 0)}x` +
      ` | leave primary ${fmt(r.leave?.primary.ratio ?? 0)}x swarm ${fmt(r.leave?.swarm.ratio ?? 0)}x` +
      ` | lookup ${(r.lookupUs ?? 0).toFixed(2)} µs, build ${r.buildMs.toFixed(0)} ms,` +
      ` add ${(r.addMs ?? 0).toFixed(1)} ms, remove ${(r.removeMs ?? 0).toFixed(1)} ms`
    )
  }
}

console.log('vnode sweep at N=1000 (max/mean sampled (exact))')
const sweep: ConfigReport[] = []
for (const vnodes of [16, 64, 128, 256, 512, 1024, 2048]) {
  const r = runConfig(1000, vnodes, positions, false)
  sweep.push(r)
  console.log(
    `V=${String(vnodes).padStart(4)} | primary ${fmt(r.primary.maxOverMean)} (${fmt(r.primary.exactMaxOverMean)})` +
    ` | swarm ${fmt(r.swarm.maxOverMean)} (${fmt(r.swarm.exactMaxOverMean)}) | build ${r.buildMs.toFixed(0)} ms, ${(1000 * vnodes * 12 / 1048576).toFixed(1)} MiB`
  )
}

const baseline = [10, 100, 1000].map(nodes => ({ nodes, ...uniformBaseline(nodes, KEYS) }))
for (const b of baseline) {
  console.log(`uniform-random noise floor N=${b.nodes}: primary max/mean ${fmt(b.primary)}, swarm ${fmt(b.swarm)}`)
}
const alternatives: Array<{ scheme: string, nodes: number, vnodes: number, probes: number, primary: number, swarm: number, lookupUs: number }> = []
if (values['multi-probe'] === true) {
  for (const [vnodes, probes] of [[1, 21], [64, 8], [256, 4]]) {
    const r = multiProbe(1000, vnodes, probes, KEYS)
    alternatives.push({ scheme: 'multi-probe', nodes: 1000, vnodes, probes, ...r })
    console.log(`multi-probe N=1000 V=${vnodes} K=${probes}: primary max/mean ${fmt(r.primary)}, swarm ${fmt(r.swarm)}, ~${r.lookupUs.toFixed(1)} µs per key`)
  }
}
const elapsedS = (performance.now() - started) / 1000
console.log(`done in ${elapsedS.toFixed(1)} s`)

if (values.json != null) {
  writeFileSync(values.json, JSON.stringify({
    bench: 'ring', keys: KEYS, replication: R, defaultVnodes: DEFAULT_VNODES_PER_NODE, configs, vnodeSweep: sweep, uniformBaseline: baseline, alternatives, elapsedS
  }, null, 2))
}
