import { runCli } from './program.js'

// The CLI's only side effect lives here: bin/ghostnode.js imports this module.
process.exitCode = await runCli(process.argv.slice(2))
