import { multiaddr } from '@multiformats/multiaddr'
import { expect } from 'chai'
import { InvalidIpAddressError, InvalidRateLimitConfigError, UnsupportedAddressError } from '../../../src/ratelimit/errors.js'
import { ipPrefixKey } from '../../../src/ratelimit/ip-prefix.js'

describe('ipPrefixKey', () => {
  it('keys IPv4 by /24', () => {
    expect(ipPrefixKey('203.0.113.77')).to.equal('ip4:203.0.113.0/24')
    expect(ipPrefixKey('203.0.113.1')).to.equal(ipPrefixKey('203.0.113.254'))
    expect(ipPrefixKey('203.0.114.1')).to.not.equal(ipPrefixKey('203.0.113.1'))
  })

  it('keys IPv6 by /48 whatever the notation', () => {
    expect(ipPrefixKey('2001:db8:1:2::5')).to.equal('ip6:2001:db8:1::/48')
    expect(ipPrefixKey('2001:0DB8:0001:ffff:0:0:0:1')).to.equal('ip6:2001:db8:1::/48')
    expect(ipPrefixKey('2001:db8:2::1')).to.equal('ip6:2001:db8:2::/48')
    expect(ipPrefixKey('::1')).to.equal('ip6:::/48')
    expect(ipPrefixKey('fe80::1%eth0')).to.equal('ip6:fe80::/48')
  })

  it('treats IPv4-mapped IPv6 as IPv4', () => {
    expect(ipPrefixKey('::ffff:198.51.100.7')).to.equal('ip4:198.51.100.0/24')
    expect(ipPrefixKey('::ffff:c633:6407')).to.equal('ip4:198.51.100.0/24')
    expect(ipPrefixKey(multiaddr('/ip6/::ffff:198.51.100.7/tcp/7400'))).to.equal('ip4:198.51.100.0/24')
  })

  it('accepts multiaddrs with an ip4 or ip6 first component', () => {
    expect(ipPrefixKey(multiaddr('/ip4/192.0.2.9/tcp/7400'))).to.equal('ip4:192.0.2.0/24')
    expect(ipPrefixKey(multiaddr('/ip6/2001:db8:abcd:12::1/tcp/7401/ws'))).to.equal('ip6:2001:db8:abcd::/48')
    expect(ipPrefixKey(multiaddr('/ip6zone/eth0/ip6/fe80::1/tcp/7400'))).to.equal('ip6:fe80::/48')
  })

  it('honours custom prefix lengths', () => {
    expect(ipPrefixKey('192.0.2.200', { ipv4Bits: 32 })).to.equal('ip4:192.0.2.200/32')
    expect(ipPrefixKey('192.0.2.200', { ipv4Bits: 16 })).to.equal('ip4:192.0.0.0/16')
    expect(ipPrefixKey('2001:db8:1:2ff:3::', { ipv6Bits: 56 })).to.equal('ip6:2001:db8:1:200::/56')
    expect(() => ipPrefixKey('192.0.2.1', { ipv4Bits: 33 })).to.throw(InvalidRateLimitConfigError)
  })

  it('rejects garbage with a typed error', () => {
    for (const bad of ['', 'hello', '1.2.3', '256.1.1.1', '01.2.3.4', '1.2.3.4.5', '1::2::3', '::g', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '%eth0', ':::']) {
      expect(() => ipPrefixKey(bad), bad).to.throw(InvalidIpAddressError).with.property('code', 'ERR_INVALID_IP_ADDRESS')
    }
  })

  it('rejects multiaddrs without a direct IP', () => {
    expect(() => ipPrefixKey(multiaddr('/dns4/example.com/tcp/7400'))).to.throw(UnsupportedAddressError)
    const relayed = multiaddr('/ip4/192.0.2.1/tcp/7400/p2p-circuit')
    expect(() => ipPrefixKey(relayed)).to.throw(UnsupportedAddressError).with.property('code', 'ERR_UNSUPPORTED_ADDRESS')
  })
})
