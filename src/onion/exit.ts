import { GhostnodeError } from '../errors.js'

/** Service ids: the first byte of a request's data at the exit. */
export const ExitService = {
  ECHO: 1,
  SWARM: 2
} as const
export type ExitService = typeof ExitService[keyof typeof ExitService]

/** Status byte at the front of every response. 0 is success; swarm codes start at 16. */
export const ExitStatus = {
  OK: 0,
  UNKNOWN_SERVICE: 1,
  BAD_REQUEST: 2,
  INTERNAL: 3,
  RATE_LIMITED: 4,
  UNAVAILABLE: 5,
  TOO_LARGE: 6
} as const

/** Longest error text an exit returns (it is for a developer, not a stack trace). */
const MAX_ERROR_TEXT_BYTES = 200

/** Thrown by an exit handler to answer with a non-OK status. */
export class ExitStatusError extends GhostnodeError {
  readonly status: number
  constructor (status: number, message: string, code = 'ERR_EXIT_STATUS') {
    super(message, code)
    this.status = status
  }
}

/** A request whose framing is wrong (no service byte). */
export class MalformedExitMessageError extends GhostnodeError {
  constructor (message: string) {
    super(message, 'ERR_MALFORMED_EXIT_MESSAGE')
  }
}

export interface ExitRequestContext {
  /** Aborted when the circuit closes or the node stops. */
  signal: AbortSignal
}

export type ExitHandler = (request: Uint8Array, context: ExitRequestContext) => Promise<Uint8Array> | Uint8Array

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** `[service u8][body]` */
export function encodeExitRequest (service: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.byteLength)
  out[0] = service
  out.set(body, 1)
  return out
}

/** `[status u8][body]`; for a non-OK status the body is a short UTF-8 reason. */
export function encodeExitResponse (status: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.byteLength)
  out[0] = status
  out.set(body, 1)
  return out
}

export function decodeExitResponse (data: Uint8Array): { status: number, body: Uint8Array, message?: string } {
  if (data.byteLength < 1) throw new MalformedExitMessageError('empty exit response')
  const status = data[0]
  const body = data.subarray(1)
  return status === ExitStatus.OK ? { status, body } : { status, body, message: decoder.decode(body) }
}

function errorResponse (status: number, message: string): Uint8Array {
  return encodeExitResponse(status, encoder.encode(message).subarray(0, MAX_ERROR_TEXT_BYTES))
}

/**
 * The exit's request dispatcher: the first byte of a request picks the service.
 * A handler's typed ExitStatusError becomes its status; anything else becomes
 * INTERNAL without details, so a bug never leaks internals to a client.
 */
export class ExitHandlerRegistry {
  private readonly handlers = new Map<number, { name: string, handler: ExitHandler }>()

  register (service: number, name: string, handler: ExitHandler): void {
    this.handlers.set(service, { name, handler })
  }

  /** The handler registered for `service`, e.g. to wrap it. */
  handler (service: number): ExitHandler | undefined {
    return this.handlers.get(service)?.handler
  }

  unregister (service: number): void {
    this.handlers.delete(service)
  }

  /** Name of a registered service (a fixed set: safe as a metric label). */
  serviceName (service: number): string {
    return this.handlers.get(service)?.name ?? 'unknown'
  }

  async dispatch (request: Uint8Array, context: ExitRequestContext): Promise<{ response: Uint8Array, service: string, status: number }> {
    if (request.byteLength < 1) {
      return { response: errorResponse(ExitStatus.BAD_REQUEST, 'empty request'), service: 'unknown', status: ExitStatus.BAD_REQUEST }
    }
    const entry = this.handlers.get(request[0])
    if (entry == null) {
      return { response: errorResponse(ExitStatus.UNKNOWN_SERVICE, `no service ${request[0]} at this exit`), service: 'unknown', status: ExitStatus.UNKNOWN_SERVICE }
    }
    try {
      const body = await entry.handler(request.subarray(1), context)
      return { response: encodeExitResponse(ExitStatus.OK, body), service: entry.name, status: ExitStatus.OK }
    } catch (err) {
      if (err instanceof ExitStatusError) {
        return { response: errorResponse(err.status, err.message), service: entry.name, status: err.status }
      }
      if (err instanceof GhostnodeError) {
        return { response: errorResponse(ExitStatus.BAD_REQUEST, err.message), service: entry.name, status: ExitStatus.BAD_REQUEST }
      }
      return { response: errorResponse(ExitStatus.INTERNAL, 'internal error'), service: entry.name, status: ExitStatus.INTERNAL }
    }
  }
}

/** ECHO: returns the request body unchanged (tests and benchmarks). */
export const echoHandler: ExitHandler = (request) => request
