import { Command } from 'commander'
import { DEFAULT_CONFIG, type GhostnodeConfig } from '../../config/defaults.js'
import { renderConfigFile } from '../../config/render.js'
import { addNodeOptions, configFromOptions, type NodeOptions } from '../options.js'
import type { Output } from '../output.js'

const EXAMPLE_HEADER = [
  'ghostnode example configuration: every key with its default value.',
  'Copy it to <data-dir>/config.json (or pass --config FILE) and keep only what you change.',
  'Precedence: defaults < this file < GHOSTNODE_* environment variables < CLI flags.',
  'Environment names: GHOSTNODE_ + the key path in UPPER_SNAKE, e.g. http.port -> GHOSTNODE_HTTP_PORT.'
]

/** The text of config/ghostnode.example.json: the defaults, with a portable data dir. */
export function renderExampleConfig (): string {
  const example: GhostnodeConfig = { ...structuredClone(DEFAULT_CONFIG), dataDir: '~/.ghostnode' }
  return renderConfigFile(example, EXAMPLE_HEADER)
}

export function configCommand (out: Output): Command {
  const cmd = new Command('config')
    .description('print the effective configuration (defaults < file < env < flags) as commented JSON')
    .option('--defaults', 'print the built-in defaults instead (the example config)')
  addNodeOptions(cmd).action((opts: NodeOptions & { defaults?: boolean }) => {
    if (opts.defaults === true) {
      out.line(renderExampleConfig().trimEnd())
      return
    }
    const { config, configFile } = configFromOptions(opts)
    out.line(renderConfigFile(config, [`effective configuration${configFile != null ? ` (file ${configFile})` : ''}`]).trimEnd())
  })
  return cmd
}
