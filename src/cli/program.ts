import { Command, CommanderError } from 'commander'
import { ConfigError } from '../config/errors.js'
import { AddressInUseError } from '../errors.js'
import { AdminTokenFileError } from '../metrics/admin-token.js'
import { DataDirLockedError, DataDirUnusableError } from '../identity/errors.js'
import { VERSION } from '../version.js'
import { authorityCommand } from './commands/authority.js'
import { banCommand, bansCommand, membersCommand, unbanCommand } from './commands/bans.js'
import { configCommand } from './commands/config.js'
import { fetchCommand, NoMailboxKeyError } from './commands/fetch.js'
import { idCommand } from './commands/id.js'
import { initCommand } from './commands/init.js'
import { keygenCommand } from './commands/keygen.js'
import { sendCommand } from './commands/send.js'
import { startCommand } from './commands/start.js'
import { peersCommand, statusCommand } from './commands/status.js'
import { consoleOutput, type Output } from './output.js'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
/** Bad configuration or bad command line (or a data dir that is not a directory): fix the input, do not retry. */
export const EXIT_USAGE = 2
/** Something this node needs is held by another process: a listen address in use, the data dir locked by a running node. */
export const EXIT_IN_USE = 3
/** Node.js older than 22 (checked in bin/ghostnode.js before anything loads). */
export const EXIT_UNSUPPORTED_NODE = 4

export function createProgram (out: Output = consoleOutput): Command {
  const output = { writeOut: (s: string) => { out.line(s.trimEnd()) }, writeErr: (s: string) => { out.error(s.trimEnd()) } }
  const program = new Command('ghostnode')
    .description('ghostnode relay daemon: 3-hop onion circuits, swarm mailboxes, reputation-weighted rate limits')
    .version(VERSION)
    .exitOverride()
    .configureOutput(output)
  for (const cmd of [initCommand(out), startCommand(out), idCommand(out), statusCommand(out), peersCommand(out), configCommand(out),
    keygenCommand(out), sendCommand(out), fetchCommand(out), authorityCommand(out), bansCommand(out), banCommand(out), unbanCommand(out), membersCommand(out)]) {
    // addCommand() does not pass settings down, so each command (and its subcommands) gets them itself
    program.addCommand(settle(cmd))
  }
  return program

  function settle (cmd: Command): Command {
    for (const sub of cmd.commands) settle(sub)
    return cmd.exitOverride().configureOutput(output)
  }
}

/** Runs the CLI and returns the process exit code (never throws). */
export async function runCli (argv: string[], out: Output = consoleOutput): Promise<number> {
  try {
    await createProgram(out).parseAsync(argv, { from: 'user' })
    return EXIT_OK
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end through here too, with exit code 0
      return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE
    }
    if (err instanceof ConfigError || err instanceof DataDirUnusableError || err instanceof NoMailboxKeyError || err instanceof AdminTokenFileError) {
      out.error(`ghostnode: ${err.message}`)
      return EXIT_USAGE
    }
    if (err instanceof AddressInUseError || err instanceof DataDirLockedError) {
      out.error(`ghostnode: ${err.message}`)
      return EXIT_IN_USE
    }
    out.error(`ghostnode: ${(err as Error).message}`)
    return EXIT_FAILURE
  }
}
