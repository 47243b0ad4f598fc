/**
 * The cryptography the client layer (and the code it shares with relays) needs,
 * behind one interface with two implementations:
 *
 * - `node.ts`: libsodium (`sodium-native`) and node:crypto, the relays' hot paths;
 * - `browser.ts`: WebCrypto's CSPRNG and `@noble/*`, pure JavaScript.
 *
 * Modules import `platform` from `./index.js`, which is the Node implementation;
 * the package's `browser` field maps `platform/node.js` to `platform/browser.js`, so
 * any bundler building for browsers (our `npm run build:browser` included) swaps
 * the implementation and nothing else. Both produce identical bytes on the shared
 * vectors in test/unit/crypto/platform.test.ts.
 *
 * Every call is synchronous: @noble is, and keeping WebCrypto's promises out of the
 * interface keeps one code path for CREATE, layers and envelopes on both platforms.
 */
export interface CryptoPlatform {
  readonly name: 'node' | 'browser'
  /** Fill `target` with CSPRNG output and return it. */
  randomFill: <T extends Uint8Array>(target: T) => T
  /** Fill `target[offset, offset + length)` with CSPRNG output (no view created). */
  randomFillAt: (target: Uint8Array, offset: number, length: number) => void
  /** Uniform integer in [min, max). */
  randomInt: (min: number, max: number) => number
  sha256: (data: Uint8Array) => Uint8Array
  hmacSha256: (key: Uint8Array, message: Uint8Array) => Uint8Array
  hkdfSha256: (ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number) => Uint8Array
  /** AES-256-CTR keystream (IV 0) XORed over `input`, into a new array. */
  aes256CtrZeroIv: (key: Uint8Array, input: Uint8Array) => Uint8Array
  /** ChaCha20-Poly1305 (IETF): encrypt `body` in place, tag into `tagOut`. */
  aeadSealInPlace: (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tagOut: Uint8Array, ad: Uint8Array | null) => void
  /** ChaCha20-Poly1305 (IETF): decrypt `body` in place; false (body zeroed) when the tag is wrong. */
  aeadOpenInPlace: (key: Uint8Array, nonce: Uint8Array, body: Uint8Array, tag: Uint8Array, ad: Uint8Array | null) => boolean
  /** X25519 public key of a raw private scalar. */
  x25519PublicKey: (privateKey: Uint8Array) => Uint8Array
  /** X25519(priv, pub); throws LowOrderPointError when the result is all zero. */
  x25519: (privateKey: Uint8Array, publicKey: Uint8Array) => Uint8Array
  /** Ed25519 public key of a 32-byte seed (RFC 8032). */
  ed25519PublicKey: (seed: Uint8Array) => Uint8Array
  /** Ed25519 signature by a 32-byte seed. */
  ed25519Sign: (seed: Uint8Array, message: Uint8Array) => Uint8Array
  /** True when `signature` is `publicKey`'s over `message`; false for any malformed input. */
  ed25519Verify: (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array) => boolean
  /** The X25519 form of an Ed25519 public key (birational map); throws InvalidKeyError for a non-point or low-order key. */
  ed25519PublicToX25519: (publicKey: Uint8Array) => Uint8Array
  /** The X25519 private scalar matching `ed25519PublicToX25519(ed25519PublicKey(seed))`. */
  ed25519SeedToX25519: (seed: Uint8Array) => Uint8Array
  /** Constant-time equality (false for different lengths). */
  equal: (a: Uint8Array, b: Uint8Array) => boolean
}
