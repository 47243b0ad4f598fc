import { ipPrefixKey, ipScope } from '../ratelimit/ip-prefix.js'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * Which addresses a node dials when a stranger's record or a membership
 * document names them (docs/protocol.md §11.5). Records are written by
 * strangers: without this, a record listing `/unix/...` or a loopback port made
 * a relay connect to local services on an attacker's behalf.
 */
export interface AddressPolicy {
  /** Loopback and private ranges are dialable (a loopback testnet, a private LAN). @default false */
  allowPrivate: boolean
}

/** Transports a relay address may use: a direct IP or DNS name, then TCP, optionally WebSockets. */
const HOST_PROTOCOLS = new Set(['ip4', 'ip6', 'dns', 'dns4', 'dns6'])
const ALLOWED_PROTOCOLS = new Set([...HOST_PROTOCOLS, 'tcp', 'ws', 'wss', 'tls', 'sni', 'p2p'])

export type AddressVerdict = 'ok' | 'unsupported' | 'private' | 'loopback' | 'unspecified'

/** Why an address is or is not dialable under `policy`. */
export function judgeAddress (addr: Multiaddr, policy: AddressPolicy): AddressVerdict {
  let components
  try {
    components = addr.getComponents()
  } catch {
    return 'unsupported'
  }
  const first = components[0]
  if (first == null || !HOST_PROTOCOLS.has(first.name) || first.value == null) return 'unsupported'
  if (components.some(c => !ALLOWED_PROTOCOLS.has(c.name)) || !components.some(c => c.name === 'tcp')) return 'unsupported'
  if (first.name.startsWith('dns')) {
    const host = first.value.toLowerCase().replace(/\.$/, '')
    if (host === 'localhost' || host.endsWith('.localhost')) return policy.allowPrivate ? 'ok' : 'loopback'
    return 'ok'
  }
  const scope = ipScope(first.value)
  if (scope === 'public') return 'ok'
  if (scope === 'unspecified' || scope === 'invalid') return scope === 'invalid' ? 'unsupported' : 'unspecified'
  return policy.allowPrivate ? 'ok' : scope
}

export function isDialable (addr: Multiaddr, policy: AddressPolicy): boolean {
  return judgeAddress(addr, policy) === 'ok'
}

export function dialableAddrs (addrs: Multiaddr[], policy: AddressPolicy): Multiaddr[] {
  return addrs.filter(a => isDialable(a, policy))
}

/** The /24 and /16 (IPv4) or /48 and /32 (IPv6) of an address, for the per-prefix admission caps; none for DNS names. */
export function addressPrefixes (addr: Multiaddr): { narrow: string, wide: string } | undefined {
  try {
    return { narrow: ipPrefixKey(addr, { ipv4Bits: 24, ipv6Bits: 48 }), wide: ipPrefixKey(addr, { ipv4Bits: 16, ipv6Bits: 32 }) }
  } catch {
    return undefined
  }
}
