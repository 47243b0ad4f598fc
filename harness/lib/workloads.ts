import { plainEchoUnbatchedWorkload, plainEchoWorkload } from '../baseline/plain-workload.js'
import { onionEchoWorkload } from './onion-workload.js'
import { swarmStoreRetrieveWorkload } from './swarm-workload.js'
import type { Workload } from './workload.js'

/**
 * Every workload `--workloads` can name, in run order.
 */
export const WORKLOADS: readonly Workload[] = [onionEchoWorkload, swarmStoreRetrieveWorkload, plainEchoWorkload, plainEchoUnbatchedWorkload]

/** bench:e2e's default: the onion, swarm store/retrieve, the baseline, and the unbatched baseline for context. */
export const DEFAULT_WORKLOADS = ['onion-echo', 'swarm-store-retrieve', 'plain-echo', 'plain-echo-unbatched']

/** bench:onion's end-to-end section (kept short: it follows the micro benchmark). */
export const ONION_BENCH_WORKLOADS = ['onion-echo', 'plain-echo']

/** The workload whose throughput is divided by the baseline's for the headline ratio. */
export const RATIO_PAIR = { onion: 'onion-echo', plain: 'plain-echo', plainUnbatched: 'plain-echo-unbatched' } as const
