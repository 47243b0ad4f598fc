import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import ts from 'typescript'

/**
 * An audit that keeps itself current: every place in src/ that compares byte
 * contents (Buffer#equals, Buffer.compare, timingSafeEqual, byte-by-byte
 * `a[i] === b[i]`, or `===` on hex/base64 renderings) is listed here with the
 * reason it is safe. A new comparison site fails the test until someone decides
 * whether it touches a secret (then it must use timingSafeEqual, or the crypto
 * platform's `equal`, constant-time on both platforms) or not.
 */

const SRC_DIR = fileURLToPath(new URL('../../../../src', import.meta.url))

interface Site { file: string, text: string }

/** Comparisons that must stay constant-time: MACs and confirmations derived from shared secrets. */
const CONSTANT_TIME: Site[] = [
  { file: 'crypto/create-peel.ts', text: 'timingSafeEqual(headerMac(candidate.headerMacKey, beta), mac)' },
  { file: 'crypto/layer.ts', text: 'platform.equal(got, this.exitConfirm)' }
]

/** Variable-time comparisons of public data, each with why it is public. */
const PUBLIC: Array<Site & { why: string }> = [
  { file: 'directory/directory.ts', text: 'decoded.peerId.equals(this.components.peerId)', why: 'peer ids are public' },
  { file: 'onion/relay.ts', text: 'next.equals(this.init.selfPeerId)', why: 'peer ids are public' },
  { file: 'onion/relay.ts', text: 'next.equals(circuit.prev.link.remotePeer)', why: 'peer ids are public' },
  { file: 'directory/record-verifier.ts', text: 'options.expectedPeer.equals(record.peerId)', why: 'peer ids are public' },
  { file: 'discovery/peer-connector.ts', text: 'peer.id.equals(this.components.peerId)', why: 'peer ids are public' },
  { file: 'swarm/replica.ts', text: 'bufferOf(a).equals(b)', why: 'anti-entropy digests of record hashes both replicas exchange in the clear' },
  { file: 'swarm/store/store-reads.ts', text: 'Buffer.compare(viewOf(mailbox), viewOf(current))', why: 'grouping hash-index keys by their public mailbox' },
  { file: 'directory/record-store.ts', text: 'a[i] !== b[i]', why: 'directory change-log epochs: random but public, sent in every CHANGES reply' },
  { file: 'swarm/coordinator.ts', text: 'Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength))', why: 'ordering of record hashes, which clients receive' },
  { file: 'swarm/ring.ts', text: 'a.hi[i] !== b.hi[j]', why: 'ring positions are hashes of public peer ids' },
  { file: 'swarm/ring.ts', text: 'a.lo[i] !== b.lo[j]', why: 'ring positions are hashes of public peer ids' },
  { file: 'swarm/record-codec.ts', text: 'expected.equals(record.hash)', why: 'content hash of a record the sender chose; integrity, not authentication' },
  { file: 'membership/document.ts', text: 'a[i] !== b[i]', why: 'orders and compares public keys and hashes of signed, public membership documents' },
  { file: 'membership/service.ts', text: 'p.equals(from)', why: 'peer ids are public' },
  { file: 'membership/dial-back.ts', text: 'conn.remotePeer.equals(peer)', why: 'peer ids are public' },
  { file: 'discovery/reachability.ts', text: 'p.equals(conn.remotePeer)', why: 'peer ids are public' },
  { file: 'membership/view.ts', text: 'x.equals(b.addrs[i])', why: 'member addresses are published in the membership document' },
  { file: 'membership/authority.ts', text: "o?.testedHash !== Buffer.from(r.recordHash).toString('hex')", why: 'hashes of signed node records, which are public' },
  { file: 'directory/directory.ts', text: 'decoded.peerId.equals(from)', why: 'peer ids are public' },
  { file: 'client/envelope.ts', text: 'bytes[0] === MAGIC[0]', why: 'the envelope header is public (it is the same for every envelope)' },
  { file: 'client/envelope.ts', text: 'bytes[1] === MAGIC[1]', why: 'the envelope header is public (it is the same for every envelope)' },
  { file: 'client/envelope.ts', text: 'bytes[2] === MAGIC[2]', why: 'the envelope header is public (it is the same for every envelope)' },
  { file: 'directory/directory.ts', text: 'Buffer.from(member.recordHash).equals(sha256(record.bytes))', why: 'hash of a public node record, listed in the public membership document' }
]

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(entry => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

const RENDERING = /\.toString\(\s*['"](hex|base64|base64url)['"]\s*\)$|^(bytesToHex|toHex|uint8ArrayToString)\(/

function isComparisonCall (node: ts.CallExpression): boolean {
  const callee = node.expression
  if (ts.isIdentifier(callee)) return callee.text === 'timingSafeEqual' || callee.text === 'equals' || callee.text === 'compare'
  if (ts.isPropertyAccessExpression(callee)) return ['equals', 'compare', 'timingSafeEqual'].includes(callee.name.text) || callee.getText() === 'platform.equal'
  return false
}

function isByteComparison (node: ts.BinaryExpression, sf: ts.SourceFile): boolean {
  const op = node.operatorToken.kind
  if (op !== ts.SyntaxKind.EqualsEqualsEqualsToken && op !== ts.SyntaxKind.ExclamationEqualsEqualsToken &&
      op !== ts.SyntaxKind.EqualsEqualsToken && op !== ts.SyntaxKind.ExclamationEqualsToken) return false
  const l = node.left
  const r = node.right
  if (ts.isElementAccessExpression(l) && ts.isElementAccessExpression(r)) return true
  return RENDERING.test(l.getText(sf)) || RENDERING.test(r.getText(sf))
}

/** Every byte-content comparison site in src/, as (file, expression text). */
function comparisonSites (): Site[] {
  const sites: Site[] = []
  for (const path of sourceFiles(SRC_DIR)) {
    const sf = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true)
    const file = relative(SRC_DIR, path).split('\\').join('/')
    const visit = (node: ts.Node): void => {
      if ((ts.isCallExpression(node) && isComparisonCall(node)) || (ts.isBinaryExpression(node) && isByteComparison(node, sf))) {
        sites.push({ file, text: node.getText(sf).replace(/\s+/g, ' ') })
      }
      ts.forEachChild(node, visit)
    }
    visit(sf)
  }
  return sites
}

const key = (s: Site): string => `${s.file}: ${s.text}`

describe('constant-time comparison audit', () => {
  const sites = comparisonSites()

  it('finds the comparison sites it audits', () => {
    // guards the scanner itself: if it matched nothing, every other check would pass vacuously
    expect(sites.length).to.be.at.least(CONSTANT_TIME.length + PUBLIC.length)
  })

  it('compares MACs and confirmations derived from shared secrets with timingSafeEqual', () => {
    const found = new Set(sites.map(key))
    for (const site of CONSTANT_TIME) expect(found.has(key(site)), key(site)).to.equal(true)
  })

  it('has no byte comparison in src/ that is neither constant-time nor reviewed as public', () => {
    const reviewed = new Set([...CONSTANT_TIME, ...PUBLIC].map(key))
    const unreviewed = sites.filter(s => !reviewed.has(key(s)) && !/^(timingSafeEqual|platform\.equal)\(/.test(s.text))
    expect(unreviewed.map(key), 'new comparison sites: use timingSafeEqual for secrets, or list the site with its reason').to.deep.equal([])
  })

  it('lists no reviewed site that no longer exists', () => {
    const found = new Set(sites.map(key))
    const stale = [...CONSTANT_TIME, ...PUBLIC].filter(s => !found.has(key(s)))
    expect(stale.map(key)).to.deep.equal([])
  })
})
