/**
 * Admission benchmark on a 3-node process testnet (its three nodes are its
 * authorities, k = 2; testnet periods 2 s, probation 5 s):
 *
 * 1. a fourth relay process joins: time from its start to admission, to the
 *    first circuit through it (as the middle hop) and to the first swarm data it holds;
 * 2. an outsider floods node1 with a directory of `--flood-records` fake relays
 *    (its own process): node1's directory size, members, and the CPU node1
 *    spent during the flood, against the same span of idle CPU measured first.
 *
 *   node dist/bench/admission.js [--flood-records n] [--flood-seconds s] [--json file]
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { runOutsider } from '../harness/attacks/outsider-process.js'
import { intFlag, parseFlags } from '../harness/lib/args.js'
import { startGhostnode, stopGhostnode, type GhostnodeProcess } from '../harness/lib/ghostnode-process.js'
import { freePorts } from '../harness/testnet/ports.js'
import { getJson } from '../harness/testnet/ready.js'
import { startTestnet, type TestnetNode } from '../harness/testnet/testnet.js'
import { GhostClient } from '../src/client/mailbox-client.js'
import { MailboxKey } from '../src/swarm/auth.js'

const POLL_MS = 50

function tcpAddr (node: TestnetNode): string {
  return node.multiaddrs.find(a => a.includes('/tcp/') && !a.includes('/ws'))!
}

/** CPU time (user + system) of a process, ms, from /proc. */
async function cpuMs (pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function health (url: string): Promise<any> {
  return (await getJson(`${url}/health`)).body
}

async function pollUntil (what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(POLL_MS)
  }
}

async function main (): Promise<void> {
  const flags = parseFlags(process.argv.slice(2), { 'flood-records': { type: 'string' }, 'flood-seconds': { type: 'string' }, json: { type: 'string' } })
  const floodRecords = intFlag('flood-records', flags['flood-records'], 5_000, 1, 100_000)
  const floodSeconds = intFlag('flood-seconds', flags['flood-seconds'], 10, 1, 600)
  // the bench client re-asks node1 for the directory every 50 ms while it waits for the newcomer
  const net = await startTestnet({ nodes: 3, basePort: 0, extraArgs: ['--set', 'directory.fetchIntervalMs=1000', '--set', 'directory.minServeIntervalMs=0'] })
  let newcomer: GhostnodeProcess | undefined
  let client: GhostClient | undefined
  try {
    const [node1] = net.nodes
    client = await GhostClient.create({ bootstrap: [tcpAddr(node1)] })
    // mailboxes stored before the join: the newcomer takes over a share of them once it is a swarm member
    for (let i = 0; i < 30; i++) await client.store(MailboxKey.generate().publicKey, new TextEncoder().encode(`m${i}`), { raw: true, ttlMs: 600_000 })

    const [tcp, http] = await freePorts(2)
    const dataDir = join(net.baseDir, 'newcomer')
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    const url = `http://127.0.0.1:${http}`
    const started = Date.now()
    newcomer = await startGhostnode({
      name: 'newcomer',
      dataDir,
      logPath: join(dataDir, 'node.log'),
      waitForAddresses: false, // polled through its HTTP endpoint below, with its own deadline
      args: ['--listen', `/ip4/127.0.0.1/tcp/${tcp}`, '--http-host', '127.0.0.1', '--http-port', String(http),
        '--bootstrap', tcpAddr(node1), ...net.networkArgs,
        '--set', 'directory.fetchIntervalMs=1000']
    })
    await pollUntil('the newcomer to answer', 30_000, async () => (await health(url))?.peerId != null)
    const newcomerId: string = (await health(url)).peerId
    await pollUntil('the newcomer to be admitted', 60_000, async () => (await health(url)).membership.admitted === true)
    const admittedMs = Date.now() - started
    const c = client
    await pollUntil('a circuit through the newcomer', 60_000, async () => {
      await c.refreshDirectory()
      const records = c.records()
      const middle = records.find(r => r.peerId.toString() === newcomerId)
      const guard = records.find(r => r.peerId.toString() === node1.peerId)
      const exit = records.find(r => r.peerId.toString() === net.nodes[1].peerId)
      if (middle == null || guard == null || exit == null) return false
      const circuit = await c.buildCircuit({ path: [guard, middle, exit] })
      const ok = (await circuit.request(Uint8Array.of(1, 1))).status === 0
      circuit.close()
      return ok
    })
    const circuitMs = Date.now() - started
    await pollUntil('the newcomer to hold swarm data', 120_000, async () => (await health(url)).swarmRecords > 0)
    const swarmDataMs = Date.now() - started
    const flagsAfter = (await health(url)).membership.flags

    // idle CPU of node1 over the same span, then the flood
    const node1Pid = node1.pid
    const idleBefore = await cpuMs(node1Pid)
    await sleep(floodSeconds * 1000)
    const idleCpuMs = await cpuMs(node1Pid) - idleBefore
    const before = await health(node1.httpUrl)
    const floodBefore = await cpuMs(node1Pid)
    const flood = await runOutsider(['--mode', 'dir-flood', '--target', tcpAddr(node1), '--records', String(floodRecords), '--seconds', String(floodSeconds)], 300_000)
    const floodCpuMs = await cpuMs(node1Pid) - floodBefore
    const after = await health(node1.httpUrl)
    const echoStarted = performance.now()
    const fresh = await GhostClient.create({ bootstrap: [tcpAddr(node1)] })
    await fresh.echo(new TextEncoder().encode('after the flood'))
    const freshClientMs = performance.now() - echoStarted
    await fresh.stop()

    const report = {
      join: { admitted_ms: admittedMs, first_circuit_ms: circuitMs, first_swarm_data_ms: swarmDataMs, flags: flagsAfter, probation_ms: 5_000, period_ms: 2_000 },
      flood: {
        records: floodRecords,
        seconds: floodSeconds,
        directory_gets: flood.gets,
        node1_directory_before: before.directoryRecords,
        node1_directory_after: after.directoryRecords,
        node1_members_after: after.membership.members,
        node1_cpu_ms_during_flood: floodCpuMs,
        node1_cpu_ms_idle_same_span: idleCpuMs,
        node1_rss_mib_after: Math.round(after.memory.rssBytes / 1048576),
        new_client_ready_and_echo_ms: Math.round(freshClientMs)
      }
    }
    console.log(JSON.stringify(report, null, 2))
    if (flags.json != null) await writeFile(flags.json, JSON.stringify(report, null, 2) + '\n')
  } finally {
    await client?.stop()
    if (newcomer != null) await stopGhostnode(newcomer)
    await net.stop()
  }
}

main().catch((err: Error) => {
  console.error(`bench:admission: ${err.stack ?? err.message}`)
  process.exit(1)
})
