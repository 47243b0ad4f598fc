import { plainEchoUnbatchedWorkload, plainEchoWorkload } from '../baseline/plain-workload.js'
import { onionEchoWorkload } from './onion-workload.js'
import type { Workload } from './workload.js'

/**
 * Every workload `--workloads` can name, in run order. The swarm store/retrieve
 * workload goes here when the swarm service lands.
 */
export const WORKLOADS: readonly Workload[] = [onionEchoWorkload, plainEchoWorkload, plainEchoUnbatchedWorkload]

/** bench:e2e's default: the onion, its baseline, and the unbatched baseline for context. */
export const DEFAULT_WORKLOADS = ['onion-echo', 'plain-echo', 'plain-echo-unbatched']

/** bench:onion's end-to-end section (kept short: it follows the micro benchmark). */
export const ONION_BENCH_WORKLOADS = ['onion-echo', 'plain-echo']

/** The workload whose throughput is divided by the baseline's for the headline ratio. */
export const RATIO_PAIR = { onion: 'onion-echo', plain: 'plain-echo', plainUnbatched: 'plain-echo-unbatched' } as const
