/** The attack's shape, shared by the bench's flags and the attacker process's own. */
export const ATTACK_DEFAULTS = {
  identities: 20,
  links: 4,
  circuits: 4,
  bodyBytes: 65_536,
  cellsPerSecond: 400,
  partialsPerSecond: 50,
  halfOpen: 16
} as const

/** parseArgs option specs for the attack flags, with ATTACK_DEFAULTS as their defaults. */
export const ATTACK_OPTIONS = {
  identities: { type: 'string', default: String(ATTACK_DEFAULTS.identities) },
  links: { type: 'string', default: String(ATTACK_DEFAULTS.links) },
  circuits: { type: 'string', default: String(ATTACK_DEFAULTS.circuits) },
  'body-bytes': { type: 'string', default: String(ATTACK_DEFAULTS.bodyBytes) },
  'cells-per-second': { type: 'string', default: String(ATTACK_DEFAULTS.cellsPerSecond) },
  'partials-per-second': { type: 'string', default: String(ATTACK_DEFAULTS.partialsPerSecond) },
  'half-open': { type: 'string', default: String(ATTACK_DEFAULTS.halfOpen) }
} as const
