import type { Ghostnode, GhostnodeOptions } from '../../src/node.js'
import { authoritiesOf, prepareIdentities, startNode, stopAll, testConfig, waitFor, type ConfigOverrides } from './nodes.js'

/** Polls `predicate` every 20 ms until true; for state that emits no event. */
export async function until (predicate: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

/** How many of a test network's first nodes are its authorities (k = majority). */
export const TEST_AUTHORITIES = 3

/**
 * Starts `n` relays on loopback, all bootstrapped from the first, with the
 * first min(n, 3) as the network's authorities, and waits until every node's
 * membership document admits every node and every directory holds every record.
 */
export async function startNetwork (dir: string, n: number, overrides: (i: number) => ConfigOverrides = () => ({}), now?: () => number,
  options: (i: number) => GhostnodeOptions = () => ({})): Promise<Ghostnode[]> {
  const nodes: Ghostnode[] = []
  try {
    const ids = await prepareIdentities(dir, Array.from({ length: n }, (_, i) => `n${i}`))
    const authorities = authoritiesOf(ids.slice(0, Math.min(n, TEST_AUTHORITIES)))
    const withFetch = (i: number): ConfigOverrides => {
      const o = overrides(i)
      return { directory: { fetchIntervalMs: 1_000 } as any, ...o, network: { authorities, ...o.network } as any }
    }
    nodes.push(await startNode(testConfig(dir, 'n0', withFetch(0)), { ...options(0), ...(now != null ? { now } : {}) }))
    const boot = nodes[0].getMultiaddrs()[0].toString()
    for (let i = 1; i < n; i++) {
      nodes.push(await startNode(testConfig(dir, `n${i}`, { bootstrap: [boot], ...withFetch(i) }), { ...options(i), ...(now != null ? { now } : {}) }))
    }
    await waitFor(nodes, () => nodes.slice(1).every(x => x.libp2p.getConnections(nodes[0].peerId).length > 0), 15_000, 'bootstrap connections')
    await waitForMembers(nodes, n)
    // every relay holds every record with its addresses (the first one, signed before listening, has none)
    await until(() => nodes.every(x => x.libp2p.services.directory.records().filter(r => r.addrs.length > 0).length >= n), 20_000, 'every directory to hold every record')
    return nodes
  } catch (err) {
    await stopAll(nodes)
    throw err
  }
}

/** Resolves once every node's membership document in force admits at least `count` members. */
export async function waitForMembers (nodes: Ghostnode[], count: number, timeoutMs = 30_000): Promise<void> {
  await until(() => nodes.every(x => x.libp2p.services.membership.view.size >= count), timeoutMs, `every node's membership document to admit ${count} members`)
}
