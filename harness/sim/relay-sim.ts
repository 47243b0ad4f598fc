import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Registry } from 'prom-client'
import { ReplayFilter } from '../../src/crypto/replay-filter.js'
import { GhostnodeError } from '../../src/errors.js'
import { onionKeyFromRaw, type OnionKey } from '../../src/crypto/x25519.js'
import { echoHandler, ExitHandlerRegistry, ExitService, ExitStatus, ExitStatusError } from '../../src/onion/exit.js'
import { LinkManager, type LinkHandler } from '../../src/onion/link-manager.js'
import { MemoryBudget } from '../../src/memory/budget.js'
import { OnionRelay } from '../../src/onion/relay.js'
import { SimStream } from './sim-stream.js'
import type { Connection, PeerId, Stream, StreamHandler } from '@libp2p/interface'
import type { ConnectionManager, Registrar } from '@libp2p/interface-internal'

/**
 * A real OnionRelay, LinkManager, MemoryBudget and ReplayFilter (LevelDB in a
 * temp dir) whose neighbours are in-memory streams driven by the fuzzer. Only
 * libp2p itself is simulated: the registrar hands inbound streams over, and the
 * connection manager "dials" the next hop B at once (any other peer is
 * unreachable). Time is a fake clock the fuzzer advances.
 */

/** Limits small enough for one input to reach every one of them. */
export const SIM_LIMITS = {
  maxCircuits: 24,
  maxCircuitsPerPeer: 16,
  maxQueuedBytes: 80 * 1024,
  linkMaxQueuedCells: 64,
  maxMessageBytes: 32 * 1024,
  exitConcurrencyPerCircuit: 4,
  circuitIdleTimeoutMs: 60_000,
  replayTagsPerEpoch: 4096
} as const

/** A sim-only exit service that holds a request until its circuit closes. */
export const HOLD_SERVICE = 3

/** The relay flagged a neighbour's cells as malformed or as protocol misuse: the input was rejected. */
export class NeighbourViolationError extends GhostnodeError {
  constructor (count: number) {
    super(`the relay reported ${count} violation(s)`, 'ERR_FUZZ_NEIGHBOUR_VIOLATION')
  }
}

export interface SimPeers {
  self: PeerId
  /** Neighbours that open links to the relay (clients or previous hops). */
  a1: PeerId
  a2: PeerId
  /** The reachable next hop. */
  b: PeerId
  /** A next hop that cannot be reached. */
  c: PeerId
}

async function peer (seedByte: number): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seedByte)))
}

/** Fixed key material per epoch so a saved input replays against the same keys. */
export function simOnionKey (epoch: number, owner: number): OnionKey {
  return onionKeyFromRaw(epoch, Uint8Array.from({ length: 32 }, (_, i) => (owner * 61 + epoch * 17 + i * 7 + 1) & 0xff))
}

export class RelaySim {
  readonly peers: SimPeers
  readonly relay: OnionRelay
  readonly links: LinkManager
  readonly budget: MemoryBudget
  readonly replay: ReplayFilter
  /** The relay's metrics. */
  readonly registry = new Registry()
  now = 1_700_000_000_000
  /** Streams the relay opened to B, newest last. */
  readonly bStreams: SimStream[] = []
  /** B resets each new stream right after it opens. */
  bFlaky = false
  /** Input-driven policy decisions: `${kind}:${peer}` refused. */
  readonly denied = new Set<string>()
  /**
   * Errors thrown by the relay's cell handler. A Link treats anything thrown
   * while it hands out cells as malformed input and drops the link, which
   * would hide a relay bug as the neighbour's fault; the fuzzer reports them.
   */
  readonly escaped: unknown[] = []
  /** Malformed cells and protocol misuse the relay reported, all neighbours together. */
  violations = 0
  private onionKeys: OnionKey[]
  private inbound?: StreamHandler
  private readonly dir: string

  private constructor (dir: string, peers: SimPeers, replay: ReplayFilter) {
    this.dir = dir
    this.peers = peers
    this.replay = replay
    this.onionKeys = [simOnionKey(1, 0)]
    this.budget = new MemoryBudget(SIM_LIMITS.maxQueuedBytes)
    const registrar = {
      handle: async (_protocol: string, handler: StreamHandler) => { this.inbound = handler },
      unhandle: async () => { this.inbound = undefined }
    } as unknown as Registrar
    const connectionManager = {
      getConnections: () => [],
      openConnection: async (target: PeerId) => {
        if (!peers.b.equals(target)) throw new Error('peer unreachable')
        return {
          remotePeer: peers.b,
          newStream: async () => {
            const stream = new SimStream(true)
            this.bStreams.push(stream)
            if (this.bFlaky) queueMicrotask(() => { stream.reset() })
            return stream
          }
        }
      }
    } as unknown as ConnectionManager
    this.links = new LinkManager({ registrar, connectionManager, logger: defaultLogger() }, {
      maxQueuedCells: SIM_LIMITS.linkMaxQueuedCells,
      // never reached in a run: stalls end by an explicit drain or close, so runs replay alike
      stallTimeoutMs: 3_600_000,
      openTimeoutMs: 5_000,
      budget: this.budget
    })
    const install = this.links.setHandler.bind(this.links)
    this.links.setHandler = (handler: LinkHandler) => {
      install({
        ...handler,
        onCell: (link, cell) => {
          try {
            handler.onCell(link, cell)
          } catch (err) {
            this.escaped.push(err)
            throw err
          }
        }
      })
    }
    const exits = new ExitHandlerRegistry()
    exits.register(ExitService.ECHO, 'echo', echoHandler)
    exits.register(HOLD_SERVICE, 'hold', async (_request, { signal }) => {
      await new Promise<void>((resolve) => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
      throw new ExitStatusError(ExitStatus.UNAVAILABLE, 'circuit closed')
    })
    const deny = (kind: string) => (p: PeerId) => !this.denied.has(`${kind}:${p.toString()}`)
    this.relay = new OnionRelay({
      links: this.links,
      keys: { keysForCreate: () => this.onionKeys },
      replay,
      exits,
      logger: defaultLogger(),
      registry: this.registry,
      selfPeerId: peers.self,
      maxCircuits: SIM_LIMITS.maxCircuits,
      maxCircuitsPerPeer: SIM_LIMITS.maxCircuitsPerPeer,
      budget: this.budget,
      circuitIdleTimeoutMs: SIM_LIMITS.circuitIdleTimeoutMs,
      extendTimeoutMs: 5_000,
      exitConcurrencyPerCircuit: SIM_LIMITS.exitConcurrencyPerCircuit,
      maxMessageBytes: SIM_LIMITS.maxMessageBytes,
      now: () => this.now,
      policy: {
        allowCreate: deny('create'),
        allowCell: deny('cell'),
        allowBytes: (p) => deny('bytes')(p),
        onViolation: () => { this.violations++ }
      }
    })
  }

  static async open (): Promise<RelaySim> {
    const peers: SimPeers = { self: await peer(1), a1: await peer(2), a2: await peer(3), b: await peer(4), c: await peer(5) }
    const dir = await mkdtemp(join(tmpdir(), 'ghostnode-fuzz-relay-'))
    const replay = await ReplayFilter.open({ path: join(dir, 'replay'), maxTagsPerEpoch: SIM_LIMITS.replayTagsPerEpoch })
    const sim = new RelaySim(dir, peers, replay)
    await sim.links.start()
    sim.relay.start()
    return sim
  }

  async close (): Promise<void> {
    this.relay.stop()
    await this.links.stop()
    await this.replay.close()
    await rm(this.dir, { recursive: true, force: true })
  }

  /** The relay's current onion key, then the previous one during its grace period. */
  get keys (): readonly OnionKey[] {
    return this.onionKeys
  }

  /**
   * Starts the next onion-key epoch once the current one holds many replay tags,
   * dropping the epoch before the previous one (as the node does on expiry).
   */
  async rotateIfFull (): Promise<void> {
    const current = this.onionKeys[0]
    if (this.replay.size(current.epoch) < (SIM_LIMITS.replayTagsPerEpoch * 3) / 4) return
    const expired = this.onionKeys[1]
    this.onionKeys = [simOnionKey(current.epoch + 1, 0), current]
    if (expired != null) await this.replay.dropEpoch(expired.epoch)
  }

  /** A new link opened by `from` to the relay. */
  connect (from: PeerId): SimStream {
    const stream = new SimStream(false)
    void this.inbound?.(stream as unknown as Stream, { remotePeer: from } as unknown as Connection)
    return stream
  }

  /** The newest open stream to B, if any. */
  get bStream (): SimStream | undefined {
    for (let i = this.bStreams.length - 1; i >= 0; i--) if (this.bStreams[i].open) return this.bStreams[i]
    return undefined
  }
}
