/**
 * The client for web pages (`npm run build:browser` bundles this module into
 * dist/browser/ghostnode.js): the same circuit and mailbox clients as in Node,
 * on WebSockets, with WebCrypto's CSPRNG and @noble/* behind the crypto
 * platform. No side effects; nothing here imports node:*.
 */
export { CircuitClient } from './client/circuit-client.js'
export type { CircuitClientInit } from './client/circuit-client.js'
export { GhostClient, openMessage } from './client/mailbox-client.js'
export type { GhostClientInit, FetchedMessage, FetchedPage, SendOptions, SubscribeOptions } from './client/mailbox-client.js'
export { sealEnvelope, openEnvelope, isEnvelope, envelopeSize, ENVELOPE_VERSION } from './client/envelope.js'
export type { OpenedEnvelope, SealOptions } from './client/envelope.js'
export {
  EnvelopeError, NotAnEnvelopeError, UnsupportedEnvelopeVersionError, EnvelopeOpenError, EnvelopeContentError, EnvelopeTooLargeError
} from './client/envelope-errors.js'
export { MailboxKey, formatMailbox, parseMailbox } from './swarm/auth.js'
export { SwarmStatus } from './swarm/status.js'
export { ExitService, ExitStatus } from './onion/exit.js'
export {
  CircuitBuildTimeoutError, CircuitDestroyedError, CircuitLimitError, ExitError, LinkClosedError, NoPathError, RequestTimeoutError
} from './onion/circuit-errors.js'
export { GhostnodeError, isGhostnodeError } from './errors.js'
export { platform as cryptoPlatform } from './crypto/platform/index.js'
