import { byLabel, scrape, total } from './prom.js'
import type { BenchNode } from './workload.js'

/** What each node's /metrics says happened during a workload's slices (deltas). */
export interface NodeCounters {
  relay_cells_forward: number
  relay_cells_backward: number
  exit_requests: number
  cells_shed: number
  destroys: Record<string, number>
  ratelimit_throttled: Record<string, number>
  reputation_violations: Record<string, number>
  bans: number
  /** Wall time the counters cover (the slices incl. warm-up), s. */
  wall_s: number
  /** (relay_cells_forward + relay_cells_backward) / wall_s: cells this hop relayed per second under load. */
  relay_cells_per_s: number
}

export async function nodeCounters (nodes: BenchNode[]): Promise<Record<string, NodeCounters | undefined>> {
  const out: Record<string, NodeCounters | undefined> = {}
  await Promise.all(nodes.map(async (n) => {
    try {
      const s = await scrape(n.httpUrl)
      const cells = byLabel(s, 'ghostnode_onion_cells_total', 'direction')
      out[n.name] = {
        relay_cells_forward: cells.forward ?? 0,
        relay_cells_backward: cells.backward ?? 0,
        exit_requests: total(s, 'ghostnode_onion_exit_requests_total') ?? 0,
        cells_shed: total(s, 'ghostnode_onion_cells_shed_total') ?? 0,
        destroys: byLabel(s, 'ghostnode_onion_destroys_total', 'reason'),
        ratelimit_throttled: byLabel(s, 'ghostnode_ratelimit_throttled_total', 'kind'),
        reputation_violations: byLabel(s, 'ghostnode_reputation_violations_total', 'violation'),
        bans: total(s, 'ghostnode_ratelimit_bans_total') ?? 0,
        wall_s: 0,
        relay_cells_per_s: 0
      }
    } catch {
      out[n.name] = undefined
    }
  }))
  return out
}

function diffRecord (after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(after)) {
    const d = v - (before[k] ?? 0)
    if (d !== 0) out[k] = d
  }
  return out
}

export function counterDelta (before: Record<string, NodeCounters | undefined>, after: Record<string, NodeCounters | undefined>, wallS: number): Record<string, NodeCounters> {
  const out: Record<string, NodeCounters> = {}
  for (const [name, a] of Object.entries(after)) {
    const b = before[name]
    if (a == null || b == null) continue
    out[name] = {
      relay_cells_forward: a.relay_cells_forward - b.relay_cells_forward,
      relay_cells_backward: a.relay_cells_backward - b.relay_cells_backward,
      exit_requests: a.exit_requests - b.exit_requests,
      cells_shed: a.cells_shed - b.cells_shed,
      destroys: diffRecord(a.destroys, b.destroys),
      ratelimit_throttled: diffRecord(a.ratelimit_throttled, b.ratelimit_throttled),
      reputation_violations: diffRecord(a.reputation_violations, b.reputation_violations),
      bans: a.bans - b.bans,
      wall_s: wallS,
      relay_cells_per_s: 0
    }
  }
  return out
}

function addRecord (into: Record<string, number>, add: Record<string, number>): void {
  for (const [k, v] of Object.entries(add)) into[k] = (into[k] ?? 0) + v
}

export function addCounters (into: Record<string, NodeCounters>, add: Record<string, NodeCounters>): void {
  for (const [name, c] of Object.entries(add)) {
    const t = into[name] ??= { relay_cells_forward: 0, relay_cells_backward: 0, exit_requests: 0, cells_shed: 0, destroys: {}, ratelimit_throttled: {}, reputation_violations: {}, bans: 0, wall_s: 0, relay_cells_per_s: 0 }
    t.relay_cells_forward += c.relay_cells_forward
    t.relay_cells_backward += c.relay_cells_backward
    t.exit_requests += c.exit_requests
    t.cells_shed += c.cells_shed
    addRecord(t.destroys, c.destroys)
    addRecord(t.ratelimit_throttled, c.ratelimit_throttled)
    addRecord(t.reputation_violations, c.reputation_violations)
    t.bans += c.bans
    t.wall_s += c.wall_s
    t.relay_cells_per_s = t.wall_s > 0 ? (t.relay_cells_forward + t.relay_cells_backward) / t.wall_s : 0
  }
}
