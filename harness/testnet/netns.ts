import { execFile } from 'node:child_process'
import { trackLink, trackNamespace, untrackLink, untrackNamespace } from '../lib/cleanup.js'
import { CommandFailedError } from '../lib/errors.js'
import { NetemUnavailableError, NetnsUnavailableError } from './errors.js'

/**
 * Separate "hosts" for the testnet: one network namespace per node, each with
 * a veth pair whose outer end joins a bridge in the root namespace. Addresses
 * come from 10.74.N.0/24 (N = the first third octet no interface or route on
 * this machine uses yet, normally 0): node i gets 10.74.N.i, the bridge
 * 10.74.N.254, which is how the launcher (in the root namespace) reaches each
 * node's HTTP endpoint. Nothing routes beyond the /24, so nodes can reach only
 * each other and the root namespace's bridge address.
 */
export const SUBNET_PREFIX = '10.74'
export const BRIDGE_HOST_OCTET = 254
const IP_TIMEOUT_MS = 10_000
/** Linux limits interface names to 15 bytes: gnbr-<6 hex> and gnv-<6 hex>-<i> fit. */
export const RUN_ID_LENGTH = 6

export interface NetnsHost {
  index: number
  namespace: string
  address: string
  /** The veth end left in the root namespace, enslaved to the bridge. */
  hostVeth: string
}

export interface NetnsNetwork {
  runId: string
  bridge: string
  /** e.g. 10.74.0.0/24 */
  subnet: string
  /** The bridge's address: the root namespace's side of the testnet. */
  hostAddress: string
  hosts: NetnsHost[]
  latencyMs?: number
  /** Command prefix that runs a program inside host `index`'s namespace. */
  wrap: (index: number) => string[]
  /** Deletes the namespaces (their veth pairs go with them) and the bridge; idempotent. */
  teardown: () => Promise<void>
}

async function run (cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: IP_TIMEOUT_MS }, (err, stdout, stderr) => {
      if (err == null) {
        resolve(stdout)
        return
      }
      const detail = stderr.trim() !== '' ? stderr.trim() : err.message
      reject(new CommandFailedError(`${cmd} ${args.join(' ')}`, detail, { cause: err }))
    })
  })
}

export const ip = async (...args: string[]): Promise<string> => run('ip', args)

/** Linux, root, and an `ip` that can list namespaces; otherwise a clear error. */
export async function assertNetnsAvailable (): Promise<void> {
  if (process.platform !== 'linux') throw new NetnsUnavailableError(`network namespaces are Linux only (this is ${process.platform})`)
  if (process.getuid?.() !== 0) throw new NetnsUnavailableError('creating namespaces, veth pairs and bridges needs root')
  try {
    await ip('netns', 'list')
  } catch (err) {
    throw new NetnsUnavailableError(`\`ip netns list\` failed (install iproute2): ${(err as Error).message}`, { cause: err })
  }
}

/** The first 10.74.N.0/24 that no address or route on this machine overlaps. */
async function pickThirdOctet (): Promise<number> {
  const text = (await ip('-o', '-4', 'addr', 'show')) + (await ip('-4', 'route', 'show', 'table', 'all'))
  const used = new Set<number>()
  for (const m of text.matchAll(/\b10\.74\.(\d{1,3})\./g)) used.add(Number(m[1]))
  for (let n = 0; n < 255; n++) if (!used.has(n)) return n
  throw new NetnsUnavailableError(`every ${SUBNET_PREFIX}.N.0/24 is already in use`)
}

export interface NetnsNetworkInit {
  runId: string
  count: number
  /** One-way delay added to every packet a node sends (tc netem on its link). */
  latencyMs?: number
}

/** Builds the namespaces, veth pairs and bridge; on any failure removes whatever it made and rethrows. */
export async function createNetnsNetwork (init: NetnsNetworkInit): Promise<NetnsNetwork> {
  await assertNetnsAvailable()
  const octet = await pickThirdOctet()
  const base = `${SUBNET_PREFIX}.${octet}`
  const bridge = `gnbr-${init.runId}`
  const namespaces: string[] = []
  const veths: string[] = []
  let bridgeMade = false
  let tornDown: Promise<void> | undefined

  const teardown = async (): Promise<void> => {
    tornDown ??= (async () => {
      const errors: string[] = []
      for (const ns of namespaces) {
        await ip('netns', 'del', ns).catch((err: Error) => { if (!/No such file/.test(err.message)) errors.push(err.message) })
        untrackNamespace(ns)
      }
      // A deleted namespace lives on (unnamed) while anything still references it, e.g. the
      // orphaned TCP sockets of a SIGKILLed node, and its veth pair with it; deleting the outer
      // end removes the pair now.
      for (const veth of veths) {
        await ip('link', 'del', veth).catch((err: Error) => { if (!/Cannot find device/.test(err.message)) errors.push(err.message) })
        untrackLink(veth)
      }
      if (bridgeMade) {
        await ip('link', 'del', bridge).catch((err: Error) => { if (!/Cannot find device/.test(err.message)) errors.push(err.message) })
        untrackLink(bridge)
      }
      if (errors.length > 0) throw new CommandFailedError('netns teardown', errors.join('; '))
    })()
    await tornDown
  }

  const hosts: NetnsHost[] = []
  try {
    trackLink(bridge)
    await ip('link', 'add', bridge, 'type', 'bridge')
    bridgeMade = true
    await ip('addr', 'add', `${base}.${BRIDGE_HOST_OCTET}/24`, 'dev', bridge)
    await ip('link', 'set', bridge, 'up')
    // hosts are independent of each other, so set them up concurrently (ip calls dominate start-up time)
    // allSettled, not all: teardown must not start while another host is still being built
    const settled = await Promise.allSettled(Array.from({ length: init.count }, async (_, k): Promise<NetnsHost> => {
      const i = k + 1
      const namespace = `gn-${init.runId}-${i}`
      const hostVeth = `gnv-${init.runId}-${i}`
      const inner = `gnp-${init.runId}-${i}`
      trackNamespace(namespace)
      await ip('netns', 'add', namespace)
      namespaces.push(namespace)
      trackLink(hostVeth)
      veths.push(hostVeth)
      await ip('link', 'add', hostVeth, 'type', 'veth', 'peer', 'name', inner, 'netns', namespace)
      await ip('-n', namespace, 'link', 'set', inner, 'name', 'eth0')
      await ip('-n', namespace, 'addr', 'add', `${base}.${i}/24`, 'dev', 'eth0')
      await ip('-n', namespace, 'link', 'set', 'eth0', 'up')
      await ip('-n', namespace, 'link', 'set', 'lo', 'up')
      await ip('link', 'set', hostVeth, 'master', bridge)
      await ip('link', 'set', hostVeth, 'up')
      if (init.latencyMs != null && init.latencyMs > 0) await addLatency(namespace, init.latencyMs)
      return { index: i, namespace, address: `${base}.${i}`, hostVeth }
    }))
    for (const s of settled) if (s.status === 'rejected') throw s.reason
    hosts.push(...settled.map(s => (s as PromiseFulfilledResult<NetnsHost>).value))
  } catch (err) {
    await teardown().catch(() => {})
    throw err
  }

  return {
    runId: init.runId,
    bridge,
    subnet: `${base}.0/24`,
    hostAddress: `${base}.${BRIDGE_HOST_OCTET}`,
    hosts,
    ...(init.latencyMs != null ? { latencyMs: init.latencyMs } : {}),
    wrap: (index) => ['ip', 'netns', 'exec', hosts[index].namespace],
    teardown
  }
}

/** Delays every packet leaving the node's eth0, so node-to-node RTT grows by 2 × ms. */
async function addLatency (namespace: string, ms: number): Promise<void> {
  try {
    await run('tc', ['-n', namespace, 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', `${ms}ms`])
  } catch (err) {
    const message = (err as Error).message
    if (/qdisc kind is unknown|Unknown qdisc/i.test(message)) {
      throw new NetemUnavailableError(message.split('failed: ').pop() ?? message, { cause: err })
    }
    throw err
  }
}

/** The namespaces that currently exist whose names start with `prefix`. */
export async function listNamespaces (prefix: string): Promise<string[]> {
  const text = await ip('netns', 'list')
  return text.split('\n').map(l => l.split(' ')[0]).filter(n => n.startsWith(prefix))
}

/** Whether this kernel accepts a netem qdisc (probed in a throwaway namespace). */
export async function netemAvailable (runId: string): Promise<boolean> {
  const ns = `gn-${runId}-probe`
  trackNamespace(ns)
  await ip('netns', 'add', ns)
  try {
    await run('tc', ['-n', ns, 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '1ms'])
    return true
  } catch {
    return false
  } finally {
    await ip('netns', 'del', ns)
    untrackNamespace(ns)
  }
}

export interface Partition {
  /** Host positions (0-based) cut off from the rest. */
  isolated: number[]
  /** Removes the partition's routes; idempotent. */
  heal: () => Promise<void>
}

/**
 * Cuts the hosts at `isolated` (0-based positions in `network.hosts`) off from
 * every other host, both ways, with /32 blackhole routes inside each namespace.
 * Nothing crosses between the two sides and nothing tells the far end (no RST,
 * no FIN, no ICMP), so established connections hang rather than close, as on
 * a real partition, and carry on after heal() unless an end gave up on them
 * meanwhile; locally, a new connect() to the other side fails at once with
 * EINVAL. The root namespace (the bridge address) still reaches every host,
 * so a test can watch both sides over HTTP. Needs neither netem nor iptables.
 */
export async function partitionHosts (network: NetnsNetwork, isolated: number[]): Promise<Partition> {
  const cut = new Set(isolated)
  for (const i of cut) {
    if (!Number.isInteger(i) || i < 0 || i >= network.hosts.length) throw new CommandFailedError('partition', `no host at position ${i}`)
  }
  const routes: Array<{ namespace: string, to: string }> = []
  for (const [i, a] of network.hosts.entries()) {
    for (const [j, b] of network.hosts.entries()) {
      if (cut.has(i) !== cut.has(j)) routes.push({ namespace: a.namespace, to: `${b.address}/32` })
    }
  }
  const added: typeof routes = []
  let healed: Promise<void> | undefined
  const heal = async (): Promise<void> => {
    healed ??= (async () => {
      const errors: string[] = []
      for (const r of added) {
        await ip('-n', r.namespace, 'route', 'del', 'blackhole', r.to).catch((err: Error) => { errors.push(err.message) })
      }
      if (errors.length > 0) throw new CommandFailedError('partition heal', errors.join('; '))
    })()
    await healed
  }
  try {
    for (const r of routes) {
      await ip('-n', r.namespace, 'route', 'add', 'blackhole', r.to)
      added.push(r)
    }
  } catch (err) {
    await heal().catch(() => {})
    throw err
  }
  return { isolated: [...cut], heal }
}
