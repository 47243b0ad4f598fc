import { GhostnodeError } from '../errors.js'

/** A key or key-shaped input has the wrong length or cannot be imported. */
export class InvalidKeyError extends GhostnodeError {
  constructor (message = 'invalid key', options?: ErrorOptions) {
    super(message, 'ERR_INVALID_KEY', options)
  }
}

/** X25519 produced the all-zero secret: the peer sent a low-order point. */
export class LowOrderPointError extends GhostnodeError {
  constructor (message = 'X25519 shared secret is all zero (low-order point)', options?: ErrorOptions) {
    super(message, 'ERR_X25519_LOW_ORDER', options)
  }
}

/** A CREATE payload is not exactly CELL_PAYLOAD_BYTES bytes. */
export class CreateSizeError extends GhostnodeError {
  constructor (message = 'CREATE payload has the wrong size') {
    super(message, 'ERR_CREATE_SIZE')
  }
}

/** No accepted onion key verifies the CREATE header MAC (wrong key, wrong hop or tampering). */
export class CreateMacError extends GhostnodeError {
  constructor (message = 'CREATE header MAC does not verify') {
    super(message, 'ERR_CREATE_MAC')
  }
}

/** The decrypted routing slot is malformed (unknown flags, bad peer id length). */
export class CreateRoutingError extends GhostnodeError {
  constructor (message = 'malformed CREATE routing slot') {
    super(message, 'ERR_CREATE_ROUTING')
  }
}

/** A circuit path has an unsupported number of hops or a bad hop description. */
export class InvalidPathError extends GhostnodeError {
  constructor (message = 'invalid circuit path') {
    super(message, 'ERR_INVALID_PATH')
  }
}

/** A RELAY or CREATED payload is not exactly CELL_PAYLOAD_BYTES bytes. */
export class LayerSizeError extends GhostnodeError {
  constructor (message = 'relay payload has the wrong size') {
    super(message, 'ERR_LAYER_SIZE')
  }
}

/** An onion layer failed AEAD authentication; the circuit must be destroyed. */
export class LayerAuthError extends GhostnodeError {
  constructor (message = 'onion layer failed authentication') {
    super(message, 'ERR_LAYER_AUTH')
  }
}

/** The circuit's crypto state already failed authentication and refuses further use. */
export class CircuitCryptoFailedError extends GhostnodeError {
  constructor (message = 'circuit crypto already failed authentication') {
    super(message, 'ERR_CIRCUIT_CRYPTO_FAILED')
  }
}

/** The CREATED confirmation does not match the exit's derived value. */
export class CreatedConfirmError extends GhostnodeError {
  constructor (message = 'CREATED confirmation does not match') {
    super(message, 'ERR_CREATED_CONFIRM')
  }
}

/** A per-direction nonce counter has used every value; the circuit must be rebuilt. */
export class NonceExhaustedError extends GhostnodeError {
  constructor (message = 'nonce counter exhausted') {
    super(message, 'ERR_NONCE_EXHAUSTED')
  }
}

/** A CREATE replay tag was already seen under the same onion-key epoch. */
export class ReplayError extends GhostnodeError {
  constructor (message = 'replayed CREATE') {
    super(message, 'ERR_REPLAY')
  }
}

/** The replay filter reached its per-epoch capacity and refuses new tags (fail closed). */
export class ReplayFilterFullError extends GhostnodeError {
  constructor (message = 'replay filter is full for this epoch') {
    super(message, 'ERR_REPLAY_FILTER_FULL')
  }
}

/** The replay filter was used after close(). */
export class ReplayFilterClosedError extends GhostnodeError {
  constructor (message = 'replay filter is closed') {
    super(message, 'ERR_REPLAY_FILTER_CLOSED')
  }
}

/** Persisting replay tags failed; the in-memory filter still holds them. */
export class ReplayFilterWriteError extends GhostnodeError {
  constructor (message = 'replay filter write failed', options?: ErrorOptions) {
    super(message, 'ERR_REPLAY_FILTER_WRITE', options)
  }
}

/** An epoch or tag given to the replay filter is out of range. */
export class InvalidReplayTagError extends GhostnodeError {
  constructor (message = 'invalid replay epoch or tag') {
    super(message, 'ERR_INVALID_REPLAY_TAG')
  }
}
