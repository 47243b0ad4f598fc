import type { Ghostnode, GhostnodeOptions } from '../../src/node.js'
import { startNode, stopAll, testConfig, waitFor, type ConfigOverrides } from './nodes.js'

/** Polls `predicate` every 20 ms until true; for state that emits no event. */
export async function until (predicate: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/**
 * Starts `n` relays on loopback, all bootstrapped from the first, and waits
 * until every directory holds every record.
 */
export async function startNetwork (dir: string, n: number, overrides: (i: number) => ConfigOverrides = () => ({}), now?: () => number,
  options: (i: number) => GhostnodeOptions = () => ({})): Promise<Ghostnode[]> {
  const nodes: Ghostnode[] = []
  try {
    const withFetch = (i: number): ConfigOverrides => ({ directory: { fetchIntervalMs: 1_000 } as any, ...overrides(i) })
    nodes.push(await startNode(testConfig(dir, 'n0', withFetch(0)), { ...options(0), ...(now != null ? { now } : {}) }))
    const boot = nodes[0].getMultiaddrs()[0].toString()
    for (let i = 1; i < n; i++) {
      nodes.push(await startNode(testConfig(dir, `n${i}`, { bootstrap: [boot], ...withFetch(i) }), { ...options(i), ...(now != null ? { now } : {}) }))
    }
    await waitFor(nodes, () => nodes.slice(1).every(x => x.libp2p.getConnections(nodes[0].peerId).length > 0), 15_000, 'bootstrap connections')
    // every relay holds every record with its addresses (the first one, signed before listening, has none)
    await until(() => nodes.every(x => x.libp2p.services.directory.records().filter(r => r.addrs.length > 0).length >= n), 20_000, 'every directory to hold every record')
    return nodes
  } catch (err) {
    await stopAll(nodes)
    throw err
  }
}
