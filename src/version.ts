import { createRequire } from 'node:module'

// dist/src/version.js and src/version.ts both sit two levels below package.json
const pkg = createRequire(import.meta.url)('../../package.json') as { version: string }

/** The package version, reported by /health and `ghostnode --version`. */
export const VERSION: string = pkg.version
