import { Counter, Gauge, Registry } from 'prom-client'

/** Fixed label values: metric series never carry mailboxes or peer ids. */
export type StoreOp = 'put' | 'retrieve' | 'delete' | 'delete_all'
export type StoreOutcome = 'stored' | 'duplicate' | 'rejected' | 'ok' | 'error'
export type QuotaKind = 'mailbox_bytes' | 'mailbox_records' | 'node_bytes'

const OP_OUTCOMES: Record<StoreOp, StoreOutcome[]> = {
  put: ['stored', 'duplicate', 'rejected', 'error'],
  retrieve: ['ok', 'rejected', 'error'],
  delete: ['ok', 'rejected', 'error'],
  delete_all: ['ok', 'rejected', 'error']
}
const QUOTA_KINDS: QuotaKind[] = ['mailbox_bytes', 'mailbox_records', 'node_bytes']

export class StoreMetrics {
  readonly records: Gauge
  readonly storedBytes: Gauge
  readonly ops: Counter<'op' | 'outcome'>
  readonly swept: Counter
  readonly quotaRejections: Counter<'kind'>

  constructor (registry: Registry) {
    this.records = reuse(registry, 'ghostnode_swarm_records', () => new Gauge({
      name: 'ghostnode_swarm_records', help: 'Swarm records stored on this node', registers: [registry]
    }))
    this.storedBytes = reuse(registry, 'ghostnode_swarm_stored_bytes', () => new Gauge({
      name: 'ghostnode_swarm_stored_bytes', help: 'Encoded size of the swarm records stored on this node', registers: [registry]
    }))
    this.ops = reuse(registry, 'ghostnode_swarm_store_ops_total', () => new Counter({
      name: 'ghostnode_swarm_store_ops_total', help: 'Message store operations by outcome', labelNames: ['op', 'outcome'], registers: [registry]
    }))
    this.swept = reuse(registry, 'ghostnode_swarm_swept_total', () => new Counter({
      name: 'ghostnode_swarm_swept_total', help: 'Expired swarm records deleted by the sweeper', registers: [registry]
    }))
    this.quotaRejections = reuse(registry, 'ghostnode_swarm_quota_rejections_total', () => new Counter({
      name: 'ghostnode_swarm_quota_rejections_total', help: 'Puts refused because a quota was reached', labelNames: ['kind'], registers: [registry]
    }))
    // Zero every series up front so dashboards see 0 rather than no data.
    for (const [op, outcomes] of Object.entries(OP_OUTCOMES)) {
      for (const outcome of outcomes) this.ops.inc({ op, outcome }, 0)
    }
    for (const kind of QUOTA_KINDS) this.quotaRejections.inc({ kind }, 0)
  }

  op (op: StoreOp, outcome: StoreOutcome, n = 1): void {
    this.ops.inc({ op, outcome }, n)
  }

  quota (kind: QuotaKind): void {
    this.quotaRejections.inc({ kind })
  }

  usage (records: number, bytes: number): void {
    this.records.set(records)
    this.storedBytes.set(bytes)
  }
}

/** A registry shared by a restarted store already holds these metrics; use them. */
function reuse<M> (registry: Registry, name: string, create: () => M): M {
  return (registry.getSingleMetric(name) as M | undefined) ?? create()
}
