import { Counter, Histogram, Registry } from 'prom-client'

/**
 * Client-side onion metrics on prom-client (the bench client exports them too).
 * In browser builds metrics.browser.ts takes this module's place (the package's
 * `browser` field): same shape, plain numbers, no prom-client.
 */
export class ClientMetrics {
  readonly builds: Histogram<'outcome'>
  readonly hopFailures: Counter

  /** Without the app's registry the client keeps one of its own. */
  constructor (registry: Registry = new Registry()) {
    const registers = [registry]
    this.builds = new Histogram({
      name: 'ghostnode_onion_circuit_build_seconds',
      help: 'Time from sending CREATE to the verified CREATED, by outcome',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers
    })
    this.hopFailures = new Counter({ name: 'ghostnode_onion_client_hop_failures_total', help: 'Circuits lost to a failed hop (the client rebuilt around it)', registers })
  }
}
