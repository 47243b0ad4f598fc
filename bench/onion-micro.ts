import { createCipheriv, createPublicKey, createSecretKey, generateKeyPairSync, randomBytes as nodeRandomBytes, randomFillSync } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { parseArgs } from 'node:util'
import { GCProfiler } from 'node:v8'
import { aeadSealInPlace } from '../src/crypto/aead.js'
import { buildCreate } from '../src/crypto/create-header.js'
import { processCreateLayer } from '../src/crypto/create-peel.js'
import { ClientCircuitCrypto, HopCrypto } from '../src/crypto/layer.js'
import { randomFill } from '../src/crypto/random.js'
import { generateOnionKey, x25519, x25519PublicKeyFromRaw } from '../src/crypto/x25519.js'
import { CellDecoder, encodeCells } from '../src/onion/cell.js'
import { CELL_PAYLOAD_BYTES, CELL_SIZE, CellCommand, RELAY_BODY_BYTES } from '../src/wire/onion-format.js'
import type { CreateKeys } from '../src/crypto/labels.js'

/**
 * Onion micro benchmarks: CREATE processing and data-cell crypto per hop, with
 * baselines (the layer AEAD alone, node:crypto AES-256-GCM as version 1 used it,
 * memcpy) measured in the same run so figures read as ratios, and the heap
 * bytes a relay's forward and backward steps allocate per cell. `node dist/bench/onion-micro.js [--json file] [--quick]`. Field names of
 * the JSON report are documented in bench/README.md.
 */

const { values } = parseArgs({
  options: {
    json: { type: 'string' },
    quick: { type: 'boolean', default: false }
  }
})
const SCALE = values.quick === true ? 0.2 : 1
const n = (count: number): number => Math.max(50, Math.round(count * SCALE))

function nowNs (): bigint { return process.hrtime.bigint() }

/** Median and p99 of per-call latency, in µs. */
function latency (iterations: number, fn: () => void): { median: number, p99: number } {
  for (let i = 0; i < Math.min(iterations, 200); i++) fn()
  const samples = new Float64Array(iterations)
  for (let i = 0; i < iterations; i++) {
    const t = nowNs()
    fn()
    samples[i] = Number(nowNs() - t) / 1000
  }
  samples.sort()
  return { median: samples[Math.floor(iterations / 2)], p99: samples[Math.floor(iterations * 0.99)] }
}

/** Operations per second over `rounds` timed batches (median batch), after a warm-up batch. */
function throughput (batch: number, rounds: number, fn: (i: number) => void): number {
  for (let i = 0; i < batch; i++) fn(i)
  const rates: number[] = []
  for (let r = 0; r < rounds; r++) {
    const t = nowNs()
    for (let i = 0; i < batch; i++) fn(i)
    rates.push(batch / (Number(nowNs() - t) / 1e9))
  }
  rates.sort((a, b) => a - b)
  return rates[Math.floor(rates.length / 2)]
}

/** Per-op time in ns of a throughput measurement. */
const nsPerOp = (opsPerS: number): number => 1e9 / opsPerS

function circuit (hops: number): { client: ClientCircuitCrypto, hops: HopCrypto[], keys: CreateKeys[] } {
  const onion = Array.from({ length: hops }, () => generateOnionKey(1))
  const built = buildCreate(onion.map((k, i) => ({ peerId: new Uint8Array(38).fill(i), onionKey: k.publicKey })))
  const keys: CreateKeys[] = []
  let payload = built.payload
  onion.forEach(k => {
    const r = processCreateLayer([k], payload)
    keys.push(r.keys)
    if (!r.exit) payload = r.nextPayload
  })
  return { client: new ClientCircuitCrypto(built.hops), hops: keys.map(k => new HopCrypto(k)), keys }
}

// ---- baselines -------------------------------------------------------------
const src = nodeRandomBytes(CELL_SIZE)
const dst = Buffer.alloc(CELL_SIZE)
const memcpy = throughput(n(200_000), 5, () => { dst.set(src) })
const gcmKeyBytes = nodeRandomBytes(32)
const gcmKey = createSecretKey(gcmKeyBytes)
const iv = nodeRandomBytes(12)
const body = nodeRandomBytes(RELAY_BODY_BYTES)
const gcmSeal = (key: typeof gcmKey | Buffer): () => void => () => {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  c.update(body)
  c.final()
  c.getAuthTag()
}
const gcm = throughput(n(30_000), 5, gcmSeal(gcmKey))
const chachaTag = new Uint8Array(16)
const chachaBody = new Uint8Array(body)
const chacha = throughput(n(100_000), 5, () => { aeadSealInPlace(gcmKeyBytes, iv, chachaBody, chachaTag, null) })
const gcmBufferKey = throughput(n(10_000), 3, gcmSeal(gcmKeyBytes))
const pad = new Uint8Array(CELL_PAYLOAD_BYTES)
const randomSyncNs = nsPerOp(throughput(n(50_000), 3, () => { randomFillSync(pad) }))
const randomPooledNs = nsPerOp(throughput(n(50_000), 3, () => { randomFill(pad) }))

// ---- X25519 and key import/export ------------------------------------------
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const pair = generateKeyPairSync('x25519')
const rawPub = generateOnionKey(0).publicKey
const x = {
  keygen: latency(n(3000), () => { generateKeyPairSync('x25519') }).median,
  dh: latency(n(3000), () => { x25519(pair.privateKey, pair.publicKey) }).median,
  importJwk: latency(n(5000), () => { x25519PublicKeyFromRaw(rawPub) }).median,
  importDer: latency(n(5000), () => { createPublicKey({ key: Buffer.concat([SPKI_PREFIX, rawPub]), format: 'der', type: 'spki' }) }).median,
  exportJwk: latency(n(5000), () => { pair.publicKey.export({ format: 'jwk' }) }).median,
  exportDer: latency(n(5000), () => { pair.publicKey.export({ type: 'spki', format: 'der' }) }).median
}

// ---- CREATE ------------------------------------------------------------------
const onion = Array.from({ length: 3 }, () => generateOnionKey(2))
const previous = generateOnionKey(1)
const path3 = onion.map((k, i) => ({ peerId: new Uint8Array(38).fill(i), onionKey: k.publicKey }))
const path5 = [...path3, ...path3.slice(0, 2)]
const createIters = n(2000)
const creates = Array.from({ length: createIters + 200 }, () => buildCreate(path3).payload)
let ci = 0
const createHop = latency(createIters, () => { processCreateLayer([onion[0]], creates[ci++ % creates.length]) })
const oldCreate = buildCreate([{ peerId: new Uint8Array(38), onionKey: previous.publicKey }]).payload
const createPrevious = latency(n(1000), () => { processCreateLayer([onion[0], previous], oldCreate) })
const build3 = latency(n(500), () => { buildCreate(path3) })
const build5 = latency(n(300), () => { buildCreate(path5) })

// ---- data cells ----------------------------------------------------------------
const CELLS = n(20_000)
const ROUNDS = 3
// Forward at one hop: pre-seal cells with a 1-hop client so each cell is valid once.
const one = circuit(1)
const sealed = Array.from({ length: CELLS * (ROUNDS + 1) }, () => {
  const p = new Uint8Array(CELL_PAYLOAD_BYTES)
  one.client.sealForward(p)
  return p
})
// Cells must be opened in sealing order (the nonce counter is implicit).
let forwardIndex = 0
const forward = throughput(CELLS, ROUNDS, () => { one.hops[0].forward(sealed[forwardIndex++]) })
const payload = new Uint8Array(CELL_PAYLOAD_BYTES)
const three = circuit(3)
const backward = throughput(CELLS, ROUNDS, () => { three.hops[1].backward(payload) })
const originate = throughput(CELLS, ROUNDS, () => { three.hops[2].originate(payload) })
const clientSeal3 = throughput(n(10_000), ROUNDS, () => { three.client.sealForward(payload) })
// Client open: a fresh circuit's hops produce valid backward cells ahead of time
// (the circuit above has advanced its hops' counters past the client's).
const fresh = circuit(3)
const backCells = Array.from({ length: n(10_000) * (ROUNDS + 1) }, () => {
  const p = new Uint8Array(CELL_PAYLOAD_BYTES)
  fresh.hops[2].originate(p)
  fresh.hops[1].backward(p)
  fresh.hops[0].backward(p)
  return p
})
let openIndex = 0
const clientOpen3 = throughput(n(10_000), ROUNDS, () => { fresh.client.openBackward(backCells[openIndex++]) })

/**
 * Heap bytes `work` allocates per call: used-heap growth over batches in which
 * no garbage collection ran (a GC can only be started by an allocation, so a
 * step that allocates nothing never sees one). `prepare` runs between batches,
 * outside the measurement.
 */
function heapBytesPerCall (calls: number, batch: number, prepare: () => void, work: () => void): { bytes_per_call: number, batches_with_gc: number, calls_measured: number } {
  let bytes = 0
  let measured = 0
  let withGc = 0
  for (let done = 0; done < calls; done += batch) {
    prepare()
    const profiler = new GCProfiler()
    profiler.start()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < batch; i++) work()
    const after = process.memoryUsage().heapUsed
    const gcs = profiler.stop()?.statistics.length ?? 0
    if (gcs > 0) {
      withGc++
      continue
    }
    bytes += after - before
    measured += batch
  }
  return { bytes_per_call: measured > 0 ? bytes / measured : Number.NaN, batches_with_gc: withGc, calls_measured: measured }
}
const ALLOC_BATCH = 20_000
const allocCells = n(1_000_000)
const allocHop = circuit(1)
const allocSealed = Array.from({ length: ALLOC_BATCH }, () => new Uint8Array(CELL_PAYLOAD_BYTES))
let allocIndex = 0
const forwardAlloc = heapBytesPerCall(allocCells, ALLOC_BATCH, () => {
  for (const p of allocSealed) allocHop.client.sealForward(p)
  allocIndex = 0
}, () => { allocHop.hops[0].forward(allocSealed[allocIndex++]) })
const backwardAlloc = heapBytesPerCall(allocCells, ALLOC_BATCH, () => {}, () => { three.hops[1].backward(payload) })

const packed = encodeCells(Array.from({ length: 64 }, (_, i) => ({ circId: i + 1, cmd: CellCommand.RELAY })))
const decoder = new CellDecoder()
const decode64 = throughput(n(5000), ROUNDS, () => { for (const cell of decoder.push(packed)) void cell })

const report = {
  meta: {
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    quick: values.quick === true,
    date: new Date().toISOString()
  },
  baseline: {
    memcpy_1024_ops_per_s: memcpy,
    chacha20poly1305_seal_939_in_place_ops_per_s: chacha,
    gcm_seal_939_ops_per_s: gcm,
    gcm_seal_939_buffer_key_ops_per_s: gcmBufferKey,
    random_fill_sync_1019_ns: randomSyncNs,
    random_pooled_1019_ns: randomPooledNs
  },
  x25519: {
    keygen_us: x.keygen,
    dh_us: x.dh,
    import_jwk_us: x.importJwk,
    import_der_us: x.importDer,
    export_jwk_us: x.exportJwk,
    export_der_us: x.exportDer
  },
  create: {
    process_hop_median_us: createHop.median,
    process_hop_p99_us: createHop.p99,
    process_previous_key_median_us: createPrevious.median,
    build_3_hops_median_us: build3.median,
    build_5_hops_median_us: build5.median
  },
  cells: {
    forward_hop_cells_per_s: forward,
    backward_hop_cells_per_s: backward,
    originate_exit_cells_per_s: originate,
    client_seal_3_hops_cells_per_s: clientSeal3,
    client_open_3_hops_cells_per_s: clientOpen3,
    decode_cells_per_s: decode64 * 64,
    forward_hop_heap_bytes_per_cell: forwardAlloc.bytes_per_call,
    forward_hop_alloc_batches_with_gc: forwardAlloc.batches_with_gc,
    forward_hop_alloc_cells_measured: forwardAlloc.calls_measured,
    backward_hop_heap_bytes_per_cell: backwardAlloc.bytes_per_call,
    backward_hop_alloc_batches_with_gc: backwardAlloc.batches_with_gc,
    backward_hop_alloc_cells_measured: backwardAlloc.calls_measured
  },
  ratios: {
    forward_hop_vs_aead_seal: forward / chacha,
    backward_hop_vs_aead_seal: backward / chacha,
    aead_seal_vs_gcm_seal: chacha / gcm,
    gcm_keyobject_vs_buffer_key: gcm / gcmBufferKey,
    random_sync_vs_pooled: randomSyncNs / randomPooledNs
  }
}

const fmt = (v: number): string => v >= 1000 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2)
console.log(`ghostnode onion micro bench (${report.meta.node}, ${report.meta.cpu}, ${report.meta.cores} cores${report.meta.quick ? ', quick' : ''})`)
for (const [section, figures] of Object.entries(report)) {
  if (section === 'meta') continue
  console.log(`\n${section}`)
  for (const [name, value] of Object.entries(figures as Record<string, number>)) console.log(`  ${name.padEnd(40)} ${fmt(value)}`)
}
if (values.json != null) {
  await writeFile(values.json, JSON.stringify(report, null, 2) + '\n')
  console.log(`\nwrote ${values.json}`)
}
