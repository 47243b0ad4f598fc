/**
 * The crypto platform of this build: the Node implementation here; bundlers that
 * honour the package's `browser` field substitute ./browser.js for ./node.js.
 */
export { platform } from './node.js'
export type { CryptoPlatform } from './types.js'
