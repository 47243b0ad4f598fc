import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import { LINK_CLOSE_REASONS } from './link-errors.js'

export const CREATE_OUTCOMES = ['ok', 'bad_layer', 'replay', 'replay_full', 'limit', 'extend_failed', 'protocol'] as const
export type CreateOutcome = typeof CREATE_OUTCOMES[number]

/** Relay-side onion metrics; label values come from fixed enums only. */
export class RelayMetrics {
  /** Counted as plain integers on the hot path and exported at scrape time. */
  forwardCells = 0
  backwardCells = 0
  readonly creates: Counter<'outcome'>
  readonly destroys: Counter<'reason'>
  readonly integrityFailures: Counter
  readonly cellsShed: Counter
  readonly exitRequests: Counter<'service' | 'status'>
  readonly exitSeconds: Histogram<'service'>
  readonly linksClosed: Counter<'reason'>

  constructor (registry: Registry, source: { circuits: () => number, links: () => number, queuedBytes: () => number, reassemblyExpired: () => number }) {
    const registers = [registry]
    new Gauge({ name: 'ghostnode_onion_queued_bytes', help: 'Memory held for peers in link queues, reassembly buffers, executing requests and swarm frames, as charged to onion.maxQueuedBytes', registers, collect () { this.set(source.queuedBytes()) } })
    new Counter({ name: 'ghostnode_onion_reassembly_expired_total', help: 'Partial requests dropped at the exit because their last fragments did not arrive in time', registers, collect () { this.reset(); this.inc(source.reassemblyExpired()) } })
    this.linksClosed = new Counter({ name: 'ghostnode_onion_links_closed_total', help: 'Link streams ended, by reason (stall = the peer stopped reading, memory = closed to free memory)', labelNames: ['reason'], registers })
    for (const reason of LINK_CLOSE_REASONS) this.linksClosed.inc({ reason }, 0)
    new Gauge({ name: 'ghostnode_onion_circuits', help: 'Circuits through this relay', registers, collect () { this.set(source.circuits()) } })
    new Gauge({ name: 'ghostnode_onion_links', help: 'Open link streams to neighbours', registers, collect () { this.set(source.links()) } })
    const cells = { forward: () => this.forwardCells, backward: () => this.backwardCells }
    new Counter({
      name: 'ghostnode_onion_cells_total',
      help: 'Cells processed, forward (towards the exit) or backward',
      labelNames: ['direction'],
      registers,
      collect () {
        this.reset()
        for (const [direction, value] of Object.entries(cells)) this.inc({ direction }, value())
      }
    })
    this.creates = new Counter({ name: 'ghostnode_onion_creates_total', help: 'CREATE cells handled, by outcome', labelNames: ['outcome'], registers })
    this.destroys = new Counter({ name: 'ghostnode_onion_destroys_total', help: 'Circuits torn down, by reason', labelNames: ['reason'], registers })
    this.integrityFailures = new Counter({ name: 'ghostnode_onion_integrity_failures_total', help: 'Relay cells whose layer failed authentication', registers })
    this.cellsShed = new Counter({ name: 'ghostnode_onion_cells_shed_total', help: 'Cells dropped because a link queue was full', registers })
    this.exitRequests = new Counter({ name: 'ghostnode_onion_exit_requests_total', help: 'Requests executed at this exit, by service and status', labelNames: ['service', 'status'], registers })
    this.exitSeconds = new Histogram({ name: 'ghostnode_onion_exit_request_seconds', help: 'Time to execute an exit request', labelNames: ['service'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers })
    for (const outcome of CREATE_OUTCOMES) this.creates.inc({ outcome }, 0)
  }
}
