/**
 * V8 flags a relay process should run with. They can only be given on the node
 * command line (or NODE_OPTIONS): V8 sizes its heap when the process starts and
 * ignores v8.setFlagsFromString for these afterwards.
 *
 * `--max-semi-space-size=4` (MiB): Node 24 lets the young generation grow to
 * 32 MiB semi-spaces. A relay's old generation is small (~30 MiB live) and
 * V8 keeps an old-generation headroom of about the same size as that young
 * generation, so under load it marked the whole heap again and again (~40
 * full collections in 10 s, a third of the relay's CPU). With 4 MiB it
 * scavenges instead; docs/performance.md has the measurements.
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4']

/** The flag names of RELAY_NODE_FLAGS a process was started without (from its argv and NODE_OPTIONS). */
export function missingRelayFlags (execArgv: readonly string[] = process.execArgv, nodeOptions: string | undefined = process.env.NODE_OPTIONS): string[] {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map(flagName).filter(name => name !== '')
  return RELAY_NODE_FLAGS.filter(flag => !given.includes(flagName(flag)))
}

/** `--max-semi-space-size=4` → `max-semi-space-size` (V8 accepts `_` for `-`). */
function flagName (arg: string): string {
  if (!arg.startsWith('--')) return ''
  return arg.slice(2).split('=')[0].replaceAll('_', '-')
}
