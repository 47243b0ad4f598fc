import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import { buildCreate } from '../crypto/create-header.js'
import { clientLibp2pParts } from './libp2p-parts.js'
import { libp2pLogger } from '../logging/libp2p-logger.js'
import { CircuitDestroyedError, ExitError, LinkClosedError, NoPathError } from '../onion/circuit-errors.js'
import { ClientCircuit, DEFAULT_BUILD_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS } from './circuit.js'
import { DEFAULT_HOPS } from '../wire/onion-format.js'
import { DIRECTORY_PROTOCOL, requestDirectory } from '../directory/protocol.js'
import { encodeExitRequest, ExitService, ExitStatus } from '../onion/exit.js'
import { linkManager, type LinkManager } from '../onion/link-manager.js'
import { selectPath } from './path-select.js'
import { NodeRecordVerifier } from '../directory/record-verifier.js'
import { ClientMetrics } from './metrics.js'
import { MEMBERSHIP_PROTOCOL } from '../membership/constants.js'
import { MembershipRequestKind, MembershipStatus, membershipExchange } from '../membership/protocol.js'
import { resolveAuthorities } from '../membership/authority-list.js'
import { MembershipView } from '../membership/view.js'
import { Capability } from '../directory/node-record.js'
import type { Link } from '../onion/link.js'
import type { VerifiedNodeRecord } from '../directory/node-record.js'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { Registry } from 'prom-client'

export const DEFAULT_CLIENT_RETRIES = 3
/** A hop that failed is avoided by new circuits for this long. */
export const DEFAULT_FAILED_HOP_AVOID_MS = 60_000
const DIRECTORY_MAX_RECORDS = 10_000
const DIRECTORY_MAX_BYTES = 8 * 1024 * 1024

export interface CircuitClientInit {
  /** Relays to ask for the directory (multiaddrs ending in /p2p/<id>). */
  bootstrap: string[]
  /** Circuit length. @default 3 */
  hops?: number
  /** @default 10000 */
  buildTimeoutMs?: number
  /** @default 10000 */
  requestTimeoutMs?: number
  /** Circuit rebuilds one request may trigger. @default 3 */
  retries?: number
  /** Relays (peer id strings) this client never puts on a circuit, e.g. the far side of a known partition. */
  exclude?: string[]
  /** @default 131072 */
  maxMessageBytes?: number
  /**
   * The network's authorities (`network.authorities`: /p2p/<id> or multiaddrs
   * ending in it). The client uses only relays a membership document signed by
   * `authorityThreshold` of them admits. Absent: trust on first use, the
   * authorities named by the first valid document the bootstrap relay serves
   * (as much trust as the bootstrap relay itself gets).
   */
  authorities?: string[]
  /** k of `authorities`; 0 = majority. @default 0 */
  authorityThreshold?: number
  /** The client's libp2p identity; an ephemeral one when absent (the default, unlinkable across runs). */
  privateKey?: PrivateKey
  /** For the client's own metrics (build time histogram). */
  registry?: Registry
}

/**
 * The circuit half of a client of the relay network, usable from any Node
 * process: connects to a relay, fetches and verifies the membership document
 * and the directory, builds 3-hop circuits and sends requests to an exit
 * service through them. A failed hop is avoided and the circuit rebuilt
 * transparently (up to `retries` times per request). It knows exit services
 * by number only; mailboxes are the business of GhostClient, built on it.
 */
export class CircuitClient {
  readonly libp2p: Libp2p<{ links: LinkManager }>
  protected readonly init: CircuitClientInit
  private readonly verifier: NodeRecordVerifier
  private readonly directory = new Map<string, VerifiedNodeRecord>()
  /** Signed records as fetched; `directory` holds the member views of them. */
  private readonly fetched = new Map<string, VerifiedNodeRecord>()
  private readonly membership: MembershipView
  private readonly circuitsByLink = new Map<Link, Map<number, ClientCircuit>>()
  private readonly avoid = new Map<string, number>()
  private readonly metrics: ClientMetrics
  private current?: Promise<ClientCircuit>

  protected constructor (libp2p: Libp2p<{ links: LinkManager }>, init: CircuitClientInit) {
    this.libp2p = libp2p
    this.init = init
    this.metrics = new ClientMetrics(init.registry)
    this.verifier = new NodeRecordVerifier({})
    // the document's addresses were checked by the authorities under the network's own policy; /unix and the like never pass
    const trust = init.authorities != null && init.authorities.length > 0
      ? resolveAuthorities(init.authorities, init.authorityThreshold ?? 0, '').trust
      : undefined
    this.membership = new MembershipView({ ...(trust != null ? { trust } : {}), policy: { allowPrivate: true } })
    libp2p.services.links.setHandler({
      onCell: (link, cell) => { this.circuitsByLink.get(link)?.get(cell.circId)?.onCell(cell) },
      onLinkClose: (link) => {
        const circuits = this.circuitsByLink.get(link)
        this.circuitsByLink.delete(link)
        for (const circuit of circuits?.values() ?? []) {
          circuit.failedHop = 0
          circuit.close(new LinkClosedError('link to the first hop closed'), false)
        }
      }
    })
    libp2p.services.links.setAddressResolver(async (peer) => this.membership.dialableAddrs(peer.toString()))
  }

  static async create (init: CircuitClientInit): Promise<CircuitClient> {
    return CircuitClient.open(init, (libp2p) => new CircuitClient(libp2p, init))
  }

  /** Starts the client's libp2p node, makes the client and fetches the directory once. */
  protected static async open<T extends CircuitClient> (init: CircuitClientInit, make: (libp2p: Libp2p<{ links: LinkManager }>) => T): Promise<T> {
    const libp2p = await createLibp2p({
      ...(init.privateKey != null ? { privateKey: init.privateKey } : {}),
      addresses: { listen: [] },
      logger: libp2pLogger(),
      ...clientLibp2pParts(),
      streamMuxers: [yamux()],
      services: {
        identify: identify(),
        links: linkManager({ acceptInbound: false })
      }
    })
    const client = make(libp2p)
    try {
      await client.refreshDirectory()
    } catch (err) {
      // no relay answered: nothing else holds this libp2p node, so it must not keep the process alive
      await libp2p.stop()
      throw err
    }
    return client
  }

  /** Verified records known to the client. */
  records (): VerifiedNodeRecord[] {
    return [...this.directory.values()]
  }

  /** The membership document in force for this client (who the authorities admitted). */
  get membershipView (): MembershipView {
    return this.membership
  }

  /**
   * Asks the bootstrap relays (in order, until one answers) for the membership
   * document and the directory; returns how many member records are known.
   * Records of peers the document does not admit are dropped unread.
   */
  async refreshDirectory (): Promise<number> {
    let lastError: Error | undefined
    for (const addr of this.init.bootstrap) {
      try {
        await this.refreshMembership(addr)
        const stream = await this.libp2p.dialProtocol(multiaddr(addr), DIRECTORY_PROTOCOL, { signal: AbortSignal.timeout(10_000) })
        const maxRecords = Math.min(DIRECTORY_MAX_RECORDS, this.membership.size) + 1
        await requestDirectory(stream, { signal: AbortSignal.timeout(30_000), maxRecords, maxBytes: DIRECTORY_MAX_BYTES }, async (bytes) => {
          try {
            const record = await this.verifier.verify(bytes)
            const id = record.peerId.toString()
            if (!this.membership.isMember(id)) return
            const held = this.fetched.get(id)
            if (held == null || held.version < record.version) this.fetched.set(id, record)
          } catch {
            // counted by the verifier; one bad record does not spoil the rest
          }
        })
        this.rebuildDirectory()
        return this.directory.size
      } catch (err) {
        lastError = err as Error
      }
    }
    throw new NoPathError(`no bootstrap relay answered the directory request${lastError != null ? `: ${lastError.message}` : ''}`)
  }

  private async refreshMembership (addr: string): Promise<void> {
    const signal = AbortSignal.timeout(30_000)
    const stream = await this.libp2p.dialProtocol(multiaddr(addr), MEMBERSHIP_PROTOCOL, { signal })
    const reply = await membershipExchange(stream, { kind: MembershipRequestKind.GET, havePeriod: this.membership.period + 1 }, { signal })
    if (reply.status === MembershipStatus.OK) this.membership.accept(reply.body)
    this.membership.expire()
    if (this.membership.document == null) throw new NoPathError('the relay has no membership document this client can verify')
  }

  /** Member views of the fetched records: the authorities' flags and addresses, not the records' own claims. */
  private rebuildDirectory (): void {
    this.directory.clear()
    for (const [id, record] of this.fetched) {
      const member = this.membership.member(id)
      if (member == null) {
        this.fetched.delete(id)
        continue
      }
      this.directory.set(id, { ...record, capabilities: member.flags, addrs: this.membership.dialableAddrs(id) })
    }
  }

  /** Builds a fresh circuit through `hops` distinct relays (avoiding recently failed ones). */
  async buildCircuit (options: { hops?: number, exclude?: Array<PeerId | string>, path?: VerifiedNodeRecord[] } = {}): Promise<ClientCircuit> {
    const path = options.path ?? this.choosePath(options)
    const built = buildCreate(path.map(r => ({ peerId: r.peerId.toMultihash().bytes, onionKey: r.onionKey })))
    const link = await this.libp2p.services.links.getLink(path[0].peerId)
    const circuit = new ClientCircuit({
      link,
      path: path.map(r => r.peerId),
      hopKeys: built.hops,
      createPayload: built.payload,
      buildTimeoutMs: this.init.buildTimeoutMs ?? DEFAULT_BUILD_TIMEOUT_MS,
      maxMessageBytes: this.init.maxMessageBytes,
      onClose: (c) => { this.forget(c) }
    })
    let onLink = this.circuitsByLink.get(link)
    if (onLink == null) {
      onLink = new Map()
      this.circuitsByLink.set(link, onLink)
    }
    onLink.set(circuit.circId, circuit)
    const started = performance.now()
    try {
      await circuit.build()
      this.metrics.builds.observe({ outcome: 'ok' }, (performance.now() - started) / 1000)
    } catch (err) {
      this.metrics.builds.observe({ outcome: 'failed' }, (performance.now() - started) / 1000)
      throw err
    }
    return circuit
  }

  private choosePath (options: { hops?: number, exclude?: Array<PeerId | string> }): VerifiedNodeRecord[] {
    const now = Date.now()
    for (const [peer, until] of this.avoid) if (until < now) this.avoid.delete(peer)
    const validNow = this.records().filter(r => r.validUntil > now)
    const exclude = [this.libp2p.peerId.toString(), ...this.avoid.keys(), ...(this.init.exclude ?? []), ...(options.exclude ?? []).map(String)]
    // The relay the client already talks to (for the directory) is its entry guard when
    // the authorities made it one: only hop 1 ever sees the client's connection.
    const guard = this.libp2p.getPeers().find(p => ((this.directory.get(p.toString())?.capabilities ?? 0) & Capability.GUARD) !== 0 && !exclude.includes(p.toString()))
    try {
      return selectPath(validNow, {
        hops: options.hops ?? this.init.hops ?? DEFAULT_HOPS,
        exclude,
        firstHopRole: Capability.GUARD,
        ...(guard != null ? { firstHop: guard } : {})
      }).hops
    } catch (err) {
      throw new NoPathError(noPathMessage(err as Error, options.hops ?? this.init.hops ?? DEFAULT_HOPS, validNow, new Set(exclude), this.avoid.size))
    }
  }

  /** Sends one request to an exit service and returns the response body; rebuilds around failed hops. */
  async request (service: number, body: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    const retries = this.init.retries ?? DEFAULT_CLIENT_RETRIES
    let lastError: Error | undefined
    for (let attempt = 0; attempt <= retries; attempt++) {
      let circuit: ClientCircuit
      try {
        circuit = await this.circuit()
      } catch (err) {
        lastError = err as Error
        if (err instanceof NoPathError) throw err
        continue
      }
      try {
        const res = await circuit.request(encodeExitRequest(service, body), options.timeoutMs ?? this.init.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS)
        if (res.status !== ExitStatus.OK) throw new ExitError(res.status, res.message ?? `exit status ${res.status}`)
        return res.body
      } catch (err) {
        if (err instanceof ExitError) throw err
        lastError = err as Error
        // whatever went wrong, this circuit is not to be trusted with the retry
        circuit.close(err as Error, true)
      }
    }
    throw lastError ?? new NoPathError('request failed')
  }

  /** ECHO through a circuit (tests, benchmarks, liveness). */
  async echo (data: Uint8Array, options: { timeoutMs?: number } = {}): Promise<Uint8Array> {
    return this.request(ExitService.ECHO, data, options)
  }

  async stop (): Promise<void> {
    for (const circuits of this.circuitsByLink.values()) {
      for (const circuit of circuits.values()) circuit.close(new LinkClosedError('client stopping'), true)
    }
    await this.libp2p.stop()
  }

  /** The circuit requests currently use, built (or rebuilt) on demand. */
  async circuit (): Promise<ClientCircuit> {
    const pending = this.current
    const current = await pending?.catch(() => undefined)
    if (current?.isOpen === true) return current
    // Another request saw the same failure and started the replacement while we
    // waited: share it. Building one each would leave all but the last orphaned
    // (open on the relays, never used again).
    if (this.current !== pending) return this.circuit()
    this.current = this.buildCircuit()
    return this.current
  }

  private forget (circuit: ClientCircuit): void {
    this.circuitsByLink.get(circuit.link)?.delete(circuit.circId)
    const err = circuit.closeError
    const failed = circuit.failedHop ?? (err instanceof CircuitDestroyedError ? err.hop : undefined)
    if (failed != null) {
      this.avoid.set(circuit.path[failed].toString(), Date.now() + DEFAULT_FAILED_HOP_AVOID_MS)
      this.metrics.hopFailures.inc()
    }
  }
}

/**
 * Why no path: the selector's reason, what the directory holds after the
 * exclusions, and what to do. A 3-hop circuit needs three distinct relays; a
 * network that should survive one relay failure needs a fourth.
 */
export function noPathMessage (err: Error, hops: number, records: VerifiedNodeRecord[], excluded: Set<string>, avoided: number): string {
  const usable = records.filter(r => !excluded.has(r.peerId.toString()))
  const count = (flag: number): number => usable.filter(r => (r.capabilities & flag) !== 0).length
  const avoidNote = avoided > 0 ? `, ${avoided} left out for ${DEFAULT_FAILED_HOP_AVOID_MS / 1000} s after failing a circuit` : ''
  return `cannot build a ${hops}-hop circuit: ${err.message}. The directory holds ${records.length} valid relay record(s); ` +
    `usable now: ${usable.length} (guards ${count(Capability.GUARD)}, relays ${count(Capability.RELAY)}, exits ${count(Capability.EXIT)}${avoidNote}). ` +
    `A ${hops}-hop circuit needs ${hops} distinct relays, a guard first and an exit last; to survive one relay failure a network needs ${hops + 1}. ` +
    'Wait for relays to come back or join, or use a network with more relays.'
}
