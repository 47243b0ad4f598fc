import { join } from 'node:path'
import { loopbackConfig, type ConfigOverrides } from '../../harness/lib/loopback-config.js'
import type { GhostnodeConfig } from '../../src/config/defaults.js'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createGhostnode } from '../../src/compose.js'
import { loadOrCreateIdentity } from '../../src/identity/key-file.js'
import type { Ghostnode, GhostnodeOptions } from '../../src/node.js'

export type { ConfigOverrides }

/**
 * Creates the identity key of each named node under `baseDir` (as its first
 * start would) and returns their peer ids, so a network's authorities can be
 * configured before any node starts.
 */
export async function prepareIdentities (baseDir: string, names: string[]): Promise<string[]> {
  return Promise.all(names.map(async name => peerIdFromPrivateKey((await loadOrCreateIdentity(join(baseDir, name))).privateKey).toString()))
}

/** `network.authorities` naming these peers (their addresses come from bootstrap and the membership document). */
export function authoritiesOf (peerIds: string[]): string[] {
  return peerIds.map(id => `/p2p/${id}`)
}

/** A config for a node on loopback with ephemeral ports and its own data dir. */
export function testConfig (baseDir: string, name: string, overrides: ConfigOverrides = {}): GhostnodeConfig {
  return loopbackConfig(baseDir, name, overrides)
}

/** Creates and starts a node; the caller stops it (see stopAll). */
export async function startNode (config: GhostnodeConfig, options: GhostnodeOptions = {}): Promise<Ghostnode> {
  const node = await createGhostnode(config, { libp2pMetrics: false, ...options })
  await node.start()
  return node
}

export async function stopAll (nodes: Array<Ghostnode | undefined>): Promise<void> {
  await Promise.all(nodes.map(async n => n?.stop()))
}

/** Resolves when `predicate` turns true, re-checking on every libp2p connection event of the nodes. */
export async function waitFor (nodes: Ghostnode[], predicate: () => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  if (predicate()) return
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (!predicate()) return
      cleanup()
      resolve()
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`))
    }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      for (const n of nodes) {
        n.libp2p.removeEventListener('peer:connect', check)
        n.libp2p.removeEventListener('peer:identify', check)
      }
    }
    for (const n of nodes) {
      n.libp2p.addEventListener('peer:connect', check)
      n.libp2p.addEventListener('peer:identify', check)
    }
  })
}

/** Current value of one sample on a node's /metrics registry (0 when absent). */
export async function metric (node: Ghostnode, name: string, labels = ''): Promise<number> {
  const text = await node.registry.metrics()
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `))
  return line == null ? 0 : Number(line.split(' ')[1])
}
