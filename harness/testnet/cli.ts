import { runTestnetCli } from './command.js'

// The launcher's only side effect: `npm run testnet` runs this file (dist/harness/testnet/cli.js).
process.exitCode = await runTestnetCli(process.argv.slice(2))
