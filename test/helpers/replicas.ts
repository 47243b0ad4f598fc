import { join } from 'node:path'
import { Registry } from 'prom-client'
import { LocalReplica } from '../../src/swarm/replica.js'
import { MessageStore } from '../../src/swarm/store/store.js'
import { Tombstones } from '../../src/swarm/sync/tombstones.js'

/** One open LevelDB store and a ready replica over it per name, under `dir`, on a fixed clock. */
export async function openReplicas (dir: string, names: string[], now: number, maxTtlMs: number): Promise<{ stores: MessageStore[], replicas: LocalReplica[] }> {
  const stores: MessageStore[] = []
  const replicas: LocalReplica[] = []
  for (const name of names) {
    const store = new MessageStore({ path: join(dir, name), now: () => now, registry: new Registry() })
    await store.open()
    stores.push(store)
    replicas.push(new LocalReplica({ store, tombstones: new Tombstones({ now: () => now }), isReady: () => true, maxTtlMs }))
  }
  return { stores, replicas }
}
