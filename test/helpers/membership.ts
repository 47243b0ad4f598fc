import { Registry } from 'prom-client'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ALL_MEMBER_FLAGS, DocumentKind } from '../../src/membership/constants.js'
import {
  assembleDocument, encodeDocumentBody, keyOfPeerId, sha256, signDocumentBody, type AuthorityTrust, type MemberEntry
} from '../../src/membership/document.js'
import { MembershipMetrics } from '../../src/membership/metrics.js'
import { MembershipView } from '../../src/membership/view.js'
import type { DirectoryMembership } from '../../src/directory/options.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export interface TestMember {
  peerId: PeerId | string
  addrs?: Multiaddr[]
  flags?: number
}

/**
 * A network authority for unit tests: signs consensus documents admitting the
 * members a test names (periods count up with each document), so tests run
 * against the real verification path rather than a stubbed "is member" check.
 */
export class TestAuthority {
  readonly keys: PrivateKey[]
  readonly threshold: number
  private period = 0

  private constructor (keys: PrivateKey[], threshold: number) {
    this.keys = keys
    this.threshold = threshold
  }

  static async create (count = 1, threshold = count): Promise<TestAuthority> {
    return new TestAuthority(await Promise.all(Array.from({ length: count }, async () => generateKeyPair('Ed25519'))), threshold)
  }

  get ids (): string[] {
    return this.keys.map(k => peerIdFromPrivateKey(k).toString())
  }

  trust (): AuthorityTrust {
    return { authorities: this.sortedKeys().map(k => k.publicKey.raw), threshold: this.threshold }
  }

  /** A consensus document admitting `members`, signed by the first `signers` authorities (default: all). */
  async document (members: TestMember[], now: number, options: { signers?: number, validMs?: number } = {}): Promise<Uint8Array> {
    const sorted = this.sortedKeys()
    const entries: MemberEntry[] = members.map(m => ({
      peerId: m.peerId.toString(),
      key: keyOfPeerId(m.peerId.toString()),
      recordHash: sha256(new TextEncoder().encode(m.peerId.toString())),
      flags: m.flags ?? ALL_MEMBER_FLAGS,
      addrs: m.addrs ?? []
    }))
    const body = encodeDocumentBody({
      kind: DocumentKind.CONSENSUS,
      period: ++this.period,
      validAfter: now - 1_000,
      validUntil: now + (options.validMs ?? 3_600_000),
      threshold: this.threshold,
      authorities: sorted.map(k => k.publicKey.raw),
      members: entries
    })
    const signers = sorted.slice(0, options.signers ?? sorted.length)
    const signatures = await Promise.all(signers.map(async (k, index) => ({ index, signature: await signDocumentBody(body, k) })))
    return assembleDocument(body, signatures)
  }

  private sortedKeys (): PrivateKey[] {
    return [...this.keys].sort((a, b) => Buffer.compare(Buffer.from(a.publicKey.raw), Buffer.from(b.publicKey.raw)))
  }
}

/**
 * The membership a directory unit test runs with: a real view trusting
 * `authority`, no authority role of its own.
 */
export function testMembership (authority: TestAuthority, now: () => number = Date.now): DirectoryMembership {
  const view = new MembershipView({ trust: authority.trust(), policy: { allowPrivate: true }, now })
  return {
    view,
    isAuthority: false,
    intervalMs: 60_000,
    metrics: new MembershipMetrics(new Registry(), { members: () => view.size, period: () => view.period }),
    setOwnRecord: () => {},
    observeCandidate: () => false,
    authorityPeers: () => []
  }
}
