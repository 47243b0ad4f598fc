import { isMultiaddr } from '@multiformats/multiaddr'
import { InvalidIpAddressError, InvalidRateLimitConfigError, UnsupportedAddressError } from './errors.js'
import type { Multiaddr } from '@multiformats/multiaddr'

/**
 * /24 for IPv4: a typical customer or cloud allocation, so one host cannot
 * dodge a per-address limit by rotating through its neighbours.
 */
export const DEFAULT_IPV4_PREFIX_BITS = 24
/** /48 for IPv6: the usual site allocation (hosts often get a whole /64 or more). */
export const DEFAULT_IPV6_PREFIX_BITS = 48

export interface IpPrefixOptions {
  /** @default 24 */
  ipv4Bits?: number
  /** @default 48 */
  ipv6Bits?: number
}

/** Multiaddr components that mean the IP in front of them is not the peer's own. */
const INDIRECT_PROTOCOLS = new Set(['p2p-circuit'])

/**
 * The bucket key of an address's network prefix: `ip4:203.0.113.0/24` or
 * `ip6:2001:db8:1::/48`. Accepts an IP string (an IPv6 zone `%eth0` is
 * ignored) or a multiaddr whose first component is ip4/ip6. IPv4-mapped IPv6
 * (`::ffff:198.51.100.7`) is keyed as the IPv4 address it maps, so a dual-stack
 * listener does not give IPv4 clients a second, separate budget.
 *
 * @throws {InvalidIpAddressError} when the input is not an IP address
 * @throws {UnsupportedAddressError} for multiaddrs without a direct IP (dns, unix, relayed)
 * @throws {InvalidRateLimitConfigError} for prefix lengths outside 0-32 / 0-128
 */
export function ipPrefixKey (address: string | Multiaddr, options: IpPrefixOptions = {}): string {
  const ipv4Bits = options.ipv4Bits ?? DEFAULT_IPV4_PREFIX_BITS
  const ipv6Bits = options.ipv6Bits ?? DEFAULT_IPV6_PREFIX_BITS
  checkBits('ipv4Bits', ipv4Bits, 32)
  checkBits('ipv6Bits', ipv6Bits, 128)
  const ip = typeof address === 'string' ? address : ipOfMultiaddr(address)
  const v4 = parseIpv4(ip)
  if (v4 !== undefined) return formatIpv4(v4, ipv4Bits)
  const v6 = parseIpv6(ip)
  if (v6 === undefined) throw new InvalidIpAddressError(ip)
  if (isIpv4Mapped(v6)) return formatIpv4(((v6[6] << 16) | v6[7]) >>> 0, ipv4Bits)
  return formatIpv6(v6, ipv6Bits)
}

function checkBits (key: string, bits: number, max: number): void {
  if (!Number.isInteger(bits) || bits < 0 || bits > max) {
    throw new InvalidRateLimitConfigError(key, bits, `must be an integer between 0 and ${max}`)
  }
}

function ipOfMultiaddr (address: Multiaddr): string {
  if (!isMultiaddr(address)) throw new InvalidIpAddressError(String(address))
  const components = address.getComponents()
  // A link-local zone (`/ip6zone/eth0/ip6/fe80::1`) scopes the IP that follows it.
  const first = components[0]?.name === 'ip6zone' ? components[1] : components[0]
  if (first === undefined || (first.name !== 'ip4' && first.name !== 'ip6') || first.value === undefined) {
    throw new UnsupportedAddressError(address.toString())
  }
  if (components.some(c => INDIRECT_PROTOCOLS.has(c.name))) throw new UnsupportedAddressError(address.toString())
  return first.value
}

/** Strict dotted quad (decimal, no leading zeros: `010` is octal to some parsers). */
function parseIpv4 (text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined
    const octet = Number(part)
    if (octet > 255) return undefined
    value = value * 256 + octet
  }
  return value
}

/** Eight 16-bit groups, or undefined. Handles `::` and an embedded dotted quad. */
function parseIpv6 (text: string): number[] | undefined {
  const zone = text.indexOf('%')
  const ip = zone === -1 ? text : text.slice(0, zone)
  if (zone === 0 || ip.length === 0 || ip.length > 45) return undefined
  const halves = ip.split('::')
  if (halves.length > 2) return undefined
  const head = halves[0] === '' ? [] : halves[0].split(':')
  const tail = halves.length === 2 && halves[1] !== '' ? halves[1].split(':') : []
  const groups: number[] = []
  const parseSide = (parts: string[], allowIpv4Last: boolean): number[] | undefined => {
    const out: number[] = []
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]
      if (allowIpv4Last && i === parts.length - 1 && part.includes('.')) {
        const v4 = parseIpv4(part)
        if (v4 === undefined) return undefined
        out.push(v4 >>> 16, v4 & 0xffff)
      } else if (/^[0-9a-f]{1,4}$/i.test(part)) {
        out.push(parseInt(part, 16))
      } else {
        return undefined
      }
    }
    return out
  }
  const headGroups = parseSide(head, halves.length === 1)
  const tailGroups = parseSide(tail, true)
  if (headGroups === undefined || tailGroups === undefined) return undefined
  if (halves.length === 1) {
    if (headGroups.length !== 8) return undefined
    return headGroups
  }
  const missing = 8 - headGroups.length - tailGroups.length
  // `::` stands for at least one zero group.
  if (missing < 1) return undefined
  groups.push(...headGroups, ...new Array<number>(missing).fill(0), ...tailGroups)
  return groups
}

function isIpv4Mapped (groups: number[]): boolean {
  for (let i = 0; i < 5; i++) if (groups[i] !== 0) return false
  return groups[5] === 0xffff
}

function formatIpv4 (value: number, bits: number): string {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0
  const net = (value & mask) >>> 0
  return `ip4:${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${bits}`
}

function formatIpv6 (groups: number[], bits: number): string {
  const masked = groups.map((group, i) => {
    const keep = Math.max(0, Math.min(16, bits - i * 16))
    return keep === 0 ? 0 : group & ((0xffff << (16 - keep)) & 0xffff)
  })
  // Shortest form for the common case: the prefix groups, then `::` for the zero host part.
  let last = masked.length
  while (last > 0 && masked[last - 1] === 0) last--
  const shown = masked.slice(0, last).map(g => g.toString(16))
  const text = last === 8 ? shown.join(':') : `${shown.join(':')}::`
  return `ip6:${text}/${bits}`
}

/** Where an IP address can be reached from: what the address policy of docs/protocol.md §11 decides on. */
export type IpScope = 'public' | 'private' | 'loopback' | 'unspecified' | 'invalid'

/**
 * The scope of an IP string. `private` covers RFC 1918, CGNAT (100.64/10),
 * link-local, unique-local (fc00::/7), multicast and reserved ranges: anything a
 * stranger's record could use to point a relay at its own neighbourhood.
 * IPv4-mapped IPv6 is judged as the IPv4 address it maps.
 */
export function ipScope (ip: string): IpScope {
  const v4 = parseIpv4(ip)
  if (v4 !== undefined) return ipv4Scope(v4)
  const v6 = parseIpv6(ip)
  if (v6 === undefined) return 'invalid'
  if (isIpv4Mapped(v6)) return ipv4Scope(((v6[6] << 16) | v6[7]) >>> 0)
  if (v6.every(g => g === 0)) return 'unspecified'
  if (v6.slice(0, 7).every(g => g === 0) && v6[7] === 1) return 'loopback'
  const g0 = v6[0]
  if ((g0 & 0xfe00) === 0xfc00 || (g0 & 0xffc0) === 0xfe80 || (g0 & 0xff00) === 0xff00) return 'private'
  // 2000::/3 is the global unicast space; the rest is reserved or special-purpose
  if ((g0 & 0xe000) !== 0x2000 || g0 === 0x2001 && v6[1] === 0x0db8) return 'private'
  return 'public'
}

function ipv4Scope (v: number): IpScope {
  const a = v >>> 24
  const b = (v >>> 16) & 255
  if (v === 0) return 'unspecified'
  if (a === 127) return 'loopback'
  if (a === 0 || a === 10 || a >= 224 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
    (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127) || (a === 192 && b === 0) || (a === 198 && (b === 18 || b === 19))) {
    return 'private'
  }
  return 'public'
}
