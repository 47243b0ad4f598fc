import { Counter, Gauge, Histogram, Registry } from 'prom-client'

/**
 * Metrics of the swarm service (the store's own are in store-metrics.ts:
 * records, bytes, store ops, swept records, quota rejections). Every label
 * value comes from a fixed set below; no mailbox or peer id is ever a label.
 */

export type ClientOp = 'store' | 'retrieve' | 'delete' | 'delete_all' | 'subscribe'
export type ClientOutcome = 'ok' | 'duplicate' | 'rejected' | 'unauthorized' | 'rate_limited' | 'quota' | 'failed' | 'error'
export type SyncAction = 'pulled' | 'pushed' | 'purged' | 'deletes_propagated'
export type HandoffOutcome = 'confirmed' | 'pending' | 'failed'

const CLIENT_OPS: ClientOp[] = ['store', 'retrieve', 'delete', 'delete_all', 'subscribe']
const CLIENT_OUTCOMES: ClientOutcome[] = ['ok', 'duplicate', 'rejected', 'unauthorized', 'rate_limited', 'quota', 'failed', 'error']
const SYNC_ACTIONS: SyncAction[] = ['pulled', 'pushed', 'purged', 'deletes_propagated']
const HANDOFF_OUTCOMES: HandoffOutcome[] = ['confirmed', 'pending', 'failed']

/** Per member per anti-entropy round: skipped (nothing changed here since the two last agreed), identical, repaired, unreachable. */
export type ReconcilePeerOutcome = 'unchanged' | 'identical' | 'repaired' | 'unreachable'
const RECONCILE_PEER_OUTCOMES: ReconcilePeerOutcome[] = ['unchanged', 'identical', 'repaired', 'unreachable']

export type PushOutcome = 'sent' | 'failed' | 'delivered' | 'unwanted'
const PUSH_OUTCOMES: PushOutcome[] = ['sent', 'failed', 'delivered', 'unwanted']

export interface SwarmMetricSources {
  members: () => number
  ready: () => boolean
  subscriptions: () => number
  watchers: () => number
}

export class SwarmMetrics {
  readonly requests: Counter<'op' | 'outcome'>
  readonly peerRequests: Counter<'op' | 'status'>
  readonly quorumSeconds: Histogram
  readonly replicationLag: Histogram
  readonly replicationFailures: Counter
  readonly syncRecords: Counter<'action'>
  readonly handoffs: Counter<'outcome'>
  readonly reconciles: Counter<'outcome'>
  readonly reconcilePeers: Counter<'outcome'>
  readonly pushes: Counter<'outcome'>

  constructor (registry: Registry, sources: SwarmMetricSources = { members: () => 0, ready: () => false, subscriptions: () => 0, watchers: () => 0 }) {
    this.requests = new Counter({
      name: 'ghostnode_swarm_requests_total',
      help: 'Client swarm requests executed at this exit, by op and outcome',
      labelNames: ['op', 'outcome'],
      registers: [registry]
    })
    this.peerRequests = new Counter({
      name: 'ghostnode_swarm_peer_requests_total',
      help: 'Node-to-node swarm requests served, by op and status',
      labelNames: ['op', 'status'],
      registers: [registry]
    })
    this.quorumSeconds = new Histogram({
      name: 'ghostnode_swarm_quorum_seconds',
      help: 'Time from a store request to W durable copies (the acknowledgement)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry]
    })
    this.replicationLag = new Histogram({
      name: 'ghostnode_swarm_replication_lag_seconds',
      help: 'Time from the acknowledgement of a write until its last extra copy landed',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry]
    })
    this.replicationFailures = new Counter({
      name: 'ghostnode_swarm_replication_failures_total',
      help: 'Writes or deletes a swarm member did not complete (anti-entropy repairs them)',
      registers: [registry]
    })
    this.syncRecords = new Counter({
      name: 'ghostnode_swarm_sync_records_total',
      help: 'Records moved by handover and anti-entropy: pulled, pushed, purged after handover, deletes propagated',
      labelNames: ['action'],
      registers: [registry]
    })
    this.handoffs = new Counter({
      name: 'ghostnode_swarm_handoffs_total',
      help: 'Mailboxes this node no longer owns, by handover outcome (purged only once confirmed)',
      labelNames: ['outcome'],
      registers: [registry]
    })
    this.reconciles = new Counter({
      name: 'ghostnode_swarm_reconcile_runs_total',
      help: 'Anti-entropy rounds by outcome',
      labelNames: ['outcome'],
      registers: [registry]
    })
    this.reconcilePeers = new Counter({
      name: 'ghostnode_swarm_reconcile_peers_total',
      help: 'Members compared in anti-entropy rounds, by outcome (unchanged: skipped, nothing changed here since the two last agreed)',
      labelNames: ['outcome'],
      registers: [registry]
    })
    this.pushes = new Counter({
      name: 'ghostnode_swarm_pushes_total',
      help: 'Live delivery: records pushed to watching exits (sent, failed) and received from members (delivered to a subscription, unwanted)',
      labelNames: ['outcome'],
      registers: [registry]
    })
    new Gauge({
      name: 'ghostnode_swarm_subscriptions',
      help: 'Clients\' subscriptions this exit holds open',
      registers: [registry],
      collect () { this.set(sources.subscriptions()) }
    })
    new Gauge({
      name: 'ghostnode_swarm_watchers',
      help: 'Exits watching mailboxes on this member for their subscribed clients',
      registers: [registry],
      collect () { this.set(sources.watchers()) }
    })
    new Gauge({
      name: 'ghostnode_swarm_members',
      help: 'Members of the swarm ring as this node sees it (itself included)',
      registers: [registry],
      collect () { this.set(sources.members()) }
    })
    new Gauge({
      name: 'ghostnode_swarm_ready',
      help: '1 when this member has pulled the ranges it owns from the current ring',
      registers: [registry],
      collect () { this.set(sources.ready() ? 1 : 0) }
    })
    for (const op of CLIENT_OPS) for (const outcome of CLIENT_OUTCOMES) this.requests.inc({ op, outcome }, 0)
    for (const action of SYNC_ACTIONS) this.syncRecords.inc({ action }, 0)
    for (const outcome of HANDOFF_OUTCOMES) this.handoffs.inc({ outcome }, 0)
    for (const outcome of RECONCILE_PEER_OUTCOMES) this.reconcilePeers.inc({ outcome }, 0)
    for (const outcome of ['ok', 'error']) this.reconciles.inc({ outcome }, 0)
    for (const outcome of PUSH_OUTCOMES) this.pushes.inc({ outcome }, 0)
  }
}
