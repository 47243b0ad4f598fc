import { runCli } from './program.js'

// The CLI's only side effect lives here: bin/ghostnode.js imports this module.

// A reader that goes away (`ghostnode fetch | head -1`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
    throw err
  })
}
process.exitCode = await runCli(process.argv.slice(2))
