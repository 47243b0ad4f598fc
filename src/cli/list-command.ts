import { Command } from 'commander'
import { baseUrl, getJson } from './http-client.js'
import { addEndpointOptions, configFromOptions, type EndpointOptions } from './options.js'
import type { Output } from './output.js'

export interface ListCommandSpec {
  name: string
  description: string
  /** Endpoint path, e.g. `/peers`; its JSON holds the list under `field`. */
  path: string
  field: string
  /** The count line, e.g. `(n) => \`${n} connection(s)\``. */
  count: (n: number) => string
  /** One line per entry. */
  line: (entry: Record<string, unknown>) => string
  /** A line after the list, if any. */
  footer?: string
}

/** A command that GETs a list from the running node's endpoint and prints it (or its raw JSON with --json). */
export function listCommand (out: Output, spec: ListCommandSpec): Command {
  const cmd = new Command(spec.name).description(spec.description)
  addEndpointOptions(cmd).action(async (opts: EndpointOptions) => {
    const { config } = configFromOptions(opts)
    const { body } = await getJson(`${baseUrl(config, opts.url)}${spec.path}`)
    if (opts.json === true) {
      out.line(JSON.stringify(body))
      return
    }
    const entries = body[spec.field] as Array<Record<string, unknown>>
    out.line(spec.count(entries.length))
    for (const entry of entries) out.line(spec.line(entry))
    if (spec.footer != null) out.line(spec.footer)
  })
  return cmd
}
