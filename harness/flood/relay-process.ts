import { fileURLToPath } from 'node:url'
import { spawnNode, stopChild, waitForLine, type Child } from './children.js'

/** bin/ghostnode.js of this checkout (this file runs from dist/harness/flood/). */
export const GHOSTNODE_BIN = fileURLToPath(new URL('../../../bin/ghostnode.js', import.meta.url))
const START_TIMEOUT_MS = 20_000
/** The node's own shutdown deadline is shutdownTimeoutMs (10 s by default). */
const STOP_GRACE_MS = 12_000

export interface RelayProcess {
  readonly child: Child
  readonly peerId: string
  /** The loopback TCP address, ending in /p2p/<peerId>. */
  readonly addr: string
  /** e.g. http://127.0.0.1:40123 */
  readonly httpUrl: string
}

export interface RelayProcessOptions {
  dataDir: string
  /** `key=value` config settings passed as `--set`. */
  set?: string[]
  /** More `ghostnode start` arguments. */
  args?: string[]
}

/**
 * Runs `ghostnode start` as a child process on loopback (ephemeral TCP and
 * HTTP ports) and resolves once it has printed its peer id, TCP address and
 * HTTP endpoint.
 */
export async function startRelayProcess (options: RelayProcessOptions): Promise<RelayProcess> {
  const args = [
    'start',
    '--data-dir', options.dataDir,
    '--listen', '/ip4/127.0.0.1/tcp/0',
    '--http-host', '127.0.0.1',
    '--http-port', '0',
    ...(options.set ?? []).flatMap(kv => ['--set', kv]),
    ...(options.args ?? [])
  ]
  const child = await spawnNode('relay', GHOSTNODE_BIN, args)
  try {
    const [, addr, peerId] = await waitForLine(child, /^listening: (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/(\S+))$/, START_TIMEOUT_MS)
    const [, httpUrl] = await waitForLine(child, /^http: (http:\/\/127\.0\.0\.1:\d+)/, START_TIMEOUT_MS)
    return { child, peerId, addr, httpUrl }
  } catch (err) {
    await stopChild(child)
    throw err
  }
}

/** SIGTERM (the node drains and exits 0), SIGKILL if it overstays. Returns the exit code or signal. */
export async function stopRelayProcess (relay: RelayProcess): Promise<number | string> {
  return stopChild(relay.child, STOP_GRACE_MS)
}
