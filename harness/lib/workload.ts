import type { ResourceTarget } from './resources.js'

/**
 * The end-to-end bench runs a list of workloads against the same testnet:
 * all are set up first, then measured in alternating rounds, then torn down.
 * Each workload sets itself up (clients, circuits, helper processes), exposes
 * one operation the closed-loop driver keeps `concurrency` copies of in
 * flight, names the processes whose CPU/RSS it owns, and closes. A new load (e.g. swarm
 * store/retrieve through circuits) is one more module implementing `Workload`
 * and one more entry in WORKLOADS (harness/lib/workloads.ts); the driver, the
 * progress display, resource sampling and the report need no change.
 */

/** One node of the testnet under test. */
export interface BenchNode {
  name: string
  httpUrl: string
  peerId: string
  /** libp2p multiaddrs ending in /p2p/<peerId> (from /health). */
  multiaddrs: string[]
  /** Set when the bench started the node (then /proc is read for CPU/RSS). */
  pid?: number
  /** The node's address as seen from the bench process. */
  host: string
  /** Command prefix that runs a program beside the node (its network namespace), with --netns. */
  wrap?: string[]
}

export interface WorkloadContext {
  nodes: BenchNode[]
  concurrency: number
  /** Application payload per operation. */
  sizeBytes: number
  /** Per-operation deadline. */
  requestTimeoutMs: number
  /** Short runs (--quick): fewer set-up measurements. */
  quick: boolean
  signal: AbortSignal
  log: (line: string) => void
  /** Workload-specific settings from the command line (e.g. circuits, builds). */
  settings: Record<string, number | undefined>
  /** The testnet's links pass through delay proxies holding each chunk this long each way; a baseline does the same. */
  proxyLatencyMs?: number
}

export interface WorkloadInstance {
  /** One operation (e.g. one ECHO round trip); throws on failure. */
  op: () => Promise<void>
  /** The processes whose CPU and RSS belong to this workload's figures. */
  resourceTargets: () => ResourceTarget[]
  /** Error → report label (e.g. 'CircuitDestroyedError:RESOURCE_LIMIT'). */
  classifyError?: (err: unknown) => string
  /** Measurements taken once every round has run: the processes warm, nothing in flight. */
  afterLoad?: () => Promise<void>
  /** Set-up measurements and counters for the report (circuit build times, rebuilds, ...). */
  details: () => Record<string, unknown>
  close: () => Promise<void>
}

export interface Workload {
  /** Report key and --workloads name, e.g. 'onion-echo'. */
  name: string
  /** One line for the report. */
  description: string
  setup: (ctx: WorkloadContext) => Promise<WorkloadInstance>
}
