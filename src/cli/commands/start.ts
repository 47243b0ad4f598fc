import { Command } from 'commander'
import { Counter } from 'prom-client'
import { createGhostnode } from '../../compose.js'
import type { Ghostnode } from '../../node.js'
import { createNodeLogger, type NodeLogger } from '../../logging/logger.js'
import { missingRelayFlags } from '../../runtime-flags.js'
import { VERSION } from '../../version.js'
import { addNodeOptions, configFromOptions, type NodeOptions } from '../options.js'
import type { Output } from '../output.js'

/** Exit code when the graceful shutdown deadline passes and the process is forced down. */
export const EXIT_SHUTDOWN_TIMEOUT = 1

export function startCommand (out: Output): Command {
  const cmd = new Command('start').description('run the relay node until SIGINT/SIGTERM')
  addNodeOptions(cmd).action(async (opts: NodeOptions) => {
    const { config, configFile } = configFromOptions(opts)
    const logger = createNodeLogger({ level: config.log.level, format: config.log.format })
    const node = await createGhostnode(config, { logger })
    // a promise nobody awaited that failed is a bug: logged and counted, the relay goes on serving
    const rejections = new Counter({ name: 'ghostnode_unhandled_rejections_total', help: 'Promise rejections nothing handled (bugs: logged to stderr)', registers: [node.registry] })
    const onRejection = (reason: unknown): void => {
      rejections.inc()
      const what = reason instanceof Error ? reason.message : String(reason)
      logger.error(`unhandled promise rejection (a bug; counted in ghostnode_unhandled_rejections_total, the node goes on): ${what}`, { error: what })
      out.error(`unhandled promise rejection (logged and counted; the node goes on): ${reason instanceof Error ? reason.stack ?? reason.message : String(reason)}`)
    }
    process.on('unhandledRejection', onRejection)
    await node.start()
    out.line(`ghostnode ${VERSION} running`)
    out.line(`data dir: ${config.dataDir}${configFile != null ? ` (config ${configFile})` : ''}`)
    out.line(`peer id: ${node.peerId.toString()}`)
    for (const ma of node.getMultiaddrs()) out.line(`listening: ${ma.toString()}`)
    const http = node.httpAddress()
    if (http != null) out.line(`http: http://${http.host.includes(':') ? `[${http.host}]` : http.host}:${http.port} (/metrics /health /health/live /health/ready /peers)`)
    const listening = node.getMultiaddrs().map(String).join(' ')
    logger.info(`ghostnode ${VERSION} started: peer id ${node.peerId.toString()}, listening on ${listening}` +
      (config.announce.length > 0 ? `, announcing ${config.announce.join(' ')}` : '') + `, ${config.bootstrap.length} bootstrap peer(s) configured`, {
      version: VERSION,
      peerId: node.peerId.toString(),
      listen: listening,
      announce: config.announce.join(' ') || undefined,
      bootstrapPeers: config.bootstrap.length
    })
    const missing = missingRelayFlags()
    if (missing.length > 0) {
      out.line(`notice: node was started without ${missing.join(' ')}; relaying costs about a third more CPU per cell without it (docs/performance.md). \`ghostnode start\` and \`npm start\` set it.`)
    }
    await waitForSignal(node, config.shutdownTimeoutMs, out, logger, () => { reloadConfig(node, opts, logger) })
    process.off('unhandledRejection', onRejection)
  })
  return cmd
}

/**
 * Resolves once the node has stopped after SIGINT or SIGTERM. A second signal,
 * or the deadline passing, forces the exit (code 1) so a wedged close cannot
 * keep the process alive forever.
 */
async function waitForSignal (node: Ghostnode, deadlineMs: number, out: Output, logger: NodeLogger, onHangup: () => void): Promise<void> {
  await new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (signal: NodeJS.Signals): void => {
      if (stopping) {
        out.error(`${signal} again: exiting without a clean shutdown`)
        process.exit(EXIT_SHUTDOWN_TIMEOUT)
      }
      stopping = true
      logger.info(`${signal} received: stopping (deadline ${deadlineMs} ms)`, { signal, deadlineMs })
      const timer = setTimeout(() => {
        out.error(`shutdown did not finish within ${deadlineMs} ms; exiting`)
        process.exit(EXIT_SHUTDOWN_TIMEOUT)
      }, deadlineMs)
      node.stop().then(() => {
        clearTimeout(timer)
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
        process.off('SIGHUP', onHangup)
        logger.info('stopped')
        logger.flush()
        resolve()
      }, (err: Error) => {
        out.error(`error while stopping: ${err.message}`)
        process.exit(EXIT_SHUTDOWN_TIMEOUT)
      })
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
    // HUP reloads (as Tor's does); it never stops the node
    process.on('SIGHUP', onHangup)
  })
}

/**
 * SIGHUP: reads the config again (file, environment, the same flags), applies
 * what can change live and names what needs a restart. A file that does not
 * load or check is refused and the running config stays.
 */
export function reloadConfig (node: Ghostnode, opts: NodeOptions, logger: NodeLogger): void {
  let loaded
  try {
    loaded = configFromOptions(opts)
  } catch (err) {
    const reason = (err as Error).message
    logger.warn(`SIGHUP: config refused, the running config stays: ${reason}`, { reason })
    return
  }
  const { applied, restartNeeded } = node.reload(loaded.config)
  const from = loaded.configFile ?? 'no config file'
  logger.info(`SIGHUP: config reloaded (${from}): ${applied.length > 0 ? `applied ${applied.join(', ')}` : 'no live key changed'}` +
    (restartNeeded.length > 0 ? `; needs a restart: ${restartNeeded.join(', ')} (running values kept)` : ''),
  { file: from, applied: applied.join(' ') || undefined, restartNeeded: restartNeeded.join(' ') || undefined })
}
