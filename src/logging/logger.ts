import { pino, type Logger as Pino } from 'pino'
import pretty from 'pino-pretty'

/**
 * The operator's log: levels, a readable text format with timestamps (the
 * default) or one JSON object per line, through pino. What goes in it follows
 * the privacy rules of docs/threat-model.md: counts, this node's own addresses
 * and peer ids of whole peers (bans, bootstrap peers), never a payload, a key,
 * or two ends of a circuit. libp2p's own debug output (DEBUG=libp2p:*) is apart.
 */

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const
export type LogLevel = typeof LOG_LEVELS[number]
export const LOG_FORMATS = ['text', 'json'] as const
export type LogFormat = typeof LOG_FORMATS[number]
export type LogFields = Record<string, string | number | boolean | null | undefined>

/**
 * Each call takes a message that states the facts in words (the text format
 * prints only the message) and the same facts as fields (the JSON format adds
 * them to the object).
 */
export interface NodeLogger {
  error: (message: string, fields?: LogFields) => void
  warn: (message: string, fields?: LogFields) => void
  info: (message: string, fields?: LogFields) => void
  debug: (message: string, fields?: LogFields) => void
  readonly level: LogLevel
  readonly format: LogFormat
  /** A SIGHUP reload: a new level or format from now on. */
  reconfigure: (options: { level: LogLevel, format: LogFormat }) => void
  /** Writes out what is buffered (before exit). */
  flush: () => void
}

export interface NodeLoggerOptions {
  level: LogLevel
  format: LogFormat
  /** Where lines go. @default 1 (standard output) */
  destination?: number | NodeJS.WritableStream
}

function build (options: NodeLoggerOptions): Pino {
  const destination = options.destination ?? 1
  const base = {
    level: options.level,
    base: undefined, // no pid or hostname on every line: journald and the shipper add theirs
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) }
  }
  if (options.format === 'json') {
    return pino(base, typeof destination === 'number' ? pino.destination({ dest: destination, sync: true }) : destination)
  }
  const stream = pretty({
    colorize: false,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l o',
    ignore: 'pid,hostname',
    // every message carries its facts in words; the fields are for the JSON format
    hideObject: true,
    sync: true,
    ...(typeof destination === 'number' ? { destination } : { destination: destination as NodeJS.WritableStream & { write: (s: string) => boolean } })
  })
  return pino(base, stream)
}

export function createNodeLogger (options: NodeLoggerOptions): NodeLogger {
  let current = { level: options.level, format: options.format }
  let log = build(options)
  const write = (level: LogLevel) => (message: string, fields?: LogFields): void => {
    if (fields == null) log[level](message)
    else log[level](fields, message)
  }
  return {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    get level () { return current.level },
    get format () { return current.format },
    reconfigure (next) {
      if (next.format !== current.format) {
        log.flush()
        log = build({ ...options, ...next })
      } else {
        log.level = next.level
      }
      current = { ...next }
    },
    flush () { log.flush() }
  }
}

/** A logger that drops everything: the default for nodes embedded in tests and apps. */
export const silentLogger: NodeLogger = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  level: 'error',
  format: 'text',
  reconfigure: () => {},
  flush: () => {}
}
