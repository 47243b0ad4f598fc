import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { PeerCachingDatastore } from './peer-datastore.js'
import { ReplayFilter } from './crypto/replay-filter.js'
import { sodiumNoiseCrypto } from './crypto/noise-crypto.js'
import { bootstrapper } from './discovery/bootstrapper.js'
import { reachability } from './discovery/reachability.js'
import { peerConnector } from './discovery/peer-connector.js'
import { loadOrCreateIdentity } from './identity/key-file.js'
import { DataDirLock, ensureDataDir } from './identity/data-dir.js'
import { silentLogger } from './logging/logger.js'
import { libp2pLogger } from './logging/libp2p-logger.js'
import { readAdminToken } from './metrics/admin-token.js'
import { checkConfig } from './config/load.js'
import { MemoryWatchdog } from './memory/watchdog.js'
import { NodeMetrics } from './metrics/node-metrics.js'
import { directoryService } from './directory/directory.js'
import { echoHandler, ExitHandlerRegistry, ExitService } from './onion/exit.js'
import { linkManager } from './onion/link-manager.js'
import { MemoryBudget } from './memory/budget.js'
import { ALL_CAPABILITIES, Capability } from './directory/node-record.js'
import { onionKeyManager } from './onion/onion-keys.js'
import { nodeRecordDhtSelectors, nodeRecordDhtValidators } from './directory/record-dht.js'
import { DEFAULT_RECORD_CLOCK_SKEW_MS, NodeRecordVerifier } from './directory/record-verifier.js'
import { OnionRelay } from './onion/relay.js'
import { ipPrefixKey } from './ratelimit/ip-prefix.js'
import { RateLimiter } from './ratelimit/limiter.js'
import { PendingUpgrades } from './ratelimit/pending-upgrades.js'
import { ConnectionSlots } from './ratelimit/connection-slots.js'
import { connectionSlotsService } from './ratelimit/connection-slots-service.js'
import { StreamGuard } from './ratelimit/stream-guard.js'
import { ReputationTracker } from './ratelimit/reputation.js'
import { ScoreStore } from './ratelimit/score-store.js'
import { judgeAddress, type AddressPolicy } from './membership/address-policy.js'
import { membershipService } from './membership/service.js'
import { recordRejectionMetric } from './directory/record-metrics.js'
import { resolveAuthorities, type ResolvedAuthorities } from './membership/authority-list.js'
import { MembershipView } from './membership/view.js'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { swarmExitHandler } from './swarm/exit/exit-handler.js'
import { swarmService } from './swarm/service.js'
import { MessageStore, type MessageStoreInit } from './swarm/store/store.js'
import { resolveLimits } from './swarm/store/store-options.js'
import { dhtProtocol, Ghostnode, type GhostnodeOptions } from './node.js'
import type { GhostnodeConfig } from './config/defaults.js'
import type { ConnectionGater, PeerId } from '@libp2p/interface'

/** How often libp2p pings each open connection (its default is 10 s). */
const CONNECTION_PING_INTERVAL_MS = 60_000

/**
 * The composition root: loads the identity, opens storage, builds libp2p with
 * the ghostnode services and the relay, in dependency order. Nothing listens
 * until start(). Everything opened here is closed by Ghostnode.stop().
 */
export async function createGhostnode (config: GhostnodeConfig, options: GhostnodeOptions = {}): Promise<Ghostnode> {
  const now = options.now ?? Date.now
  // the same checks as loadConfig's: a config built in code is refused exactly as a file would be
  checkConfig(config)
  // one node per data dir: a second one would share its LevelDB stores and identity
  await ensureDataDir(config.dataDir)
  const adminToken = config.http.enabled && config.http.adminTokenFile !== '' ? await readAdminToken(config.http.adminTokenFile) : undefined
  const lock = await DataDirLock.acquire(config.dataDir)
  const registry = new Registry()
  const opened: Array<{ close: () => Promise<void> }> = [lock]
  try {
    const identity = await loadOrCreateIdentity(config.dataDir)
    const datastore = new PeerCachingDatastore(join(config.dataDir, 'datastore'))
    await datastore.open()
    opened.push(datastore)

    const reputation = new ReputationTracker({ config: config.rateLimit.reputation, now })
    const scores = new ScoreStore({ location: join(config.dataDir, 'reputation') })
    await scores.open(reputation)
    opened.push(scores)
    const limiter = new RateLimiter({ config: config.rateLimit, reputation, registry, now })

    const replay = await ReplayFilter.open({ path: join(config.dataDir, 'replay') })
    opened.push(replay)

    const storeInit = swarmStoreInit(config, registry, now)
    const store = new MessageStore(storeInit)
    await store.open()
    opened.push(store)

    const verifier = new NodeRecordVerifier({
      onReject: recordRejectionMetric(registry),
      now,
      maxValidityMs: config.onion.keyEpochMs + config.onion.keyGraceMs + DEFAULT_RECORD_CLOCK_SKEW_MS,
      epochMs: config.onion.keyEpochMs,
      graceMs: config.onion.keyGraceMs
    })
    const addressPolicy: AddressPolicy = { allowPrivate: config.network.allowPrivateAddresses }
    const authorities = resolveAuthorities(config.network.authorities, config.network.authorityThreshold, peerIdFromPrivateKey(identity.privateKey).toString())
    const membership = new MembershipView({ trust: authorities.trust, policy: addressPolicy, now })
    const metrics = new NodeMetrics(registry)
    const queueBudget = new MemoryBudget(config.onion.maxQueuedBytes)
    const watchdog = new MemoryWatchdog({
      maxRssBytes: config.memory.maxRssBytes,
      highWatermark: config.memory.highWatermark,
      lowWatermark: config.memory.lowWatermark,
      checkIntervalMs: config.memory.checkIntervalMs,
      budget: queueBudget,
      registry,
      log: defaultLogger().forComponent('ghostnode:memory'),
      ...(options.memorySample != null ? { sample: options.memorySample } : {})
    })
    const slots = new ConnectionSlots({
      max: config.connections.max,
      maxPerPrefix: config.connections.maxPerPrefix,
      isMember: (peer) => membership.isMember(peer),
      now,
      registry
    })
    const streams = new StreamGuard({
      now,
      registry,
      onAbuse: (peer) => { limiter.penalize(peer, 'protocol_misuse') }
    })
    const libp2p = await createLibp2p({
      start: false,
      privateKey: identity.privateKey,
      logger: libp2pLogger(),
      datastore,
      addresses: { listen: config.listen, announce: config.announce },
      transports: [tcp(), webSockets()],
      connectionEncrypters: [noise({ crypto: sodiumNoiseCrypto })],
      streamMuxers: [streams.wrap(yamux())],
      connectionGater: connectionGater(limiter, watchdog, new PendingUpgrades(config.connections.maxIncomingPendingPerPrefix),
        dialPolicy(addressPolicy, config.bootstrap, authorities), streams, options.denyPeer),
      // Under heavy link traffic a heartbeat ping can still be in flight when the next
      // one starts; libp2p would then abort the whole connection and every circuit on
      // it. Dead connections are still found by TCP and yamux. Every connection is pinged
      // on a new stream each interval; libp2p's 10 s made pings a relay's largest idle
      // traffic once it held a connection to most of 100 members (nothing here reads the
      // RTT it measures), so once a minute (Tor's keepalive is 5 minutes).
      connectionMonitor: { abortConnectionOnPingFailure: false, pingInterval: CONNECTION_PING_INTERVAL_MS },
      connectionManager: {
        maxConnections: config.connections.max,
        maxIncomingPendingConnections: config.connections.maxIncomingPending,
        inboundUpgradeTimeout: config.connections.upgradeTimeoutMs,
        dialTimeout: config.connections.dialTimeoutMs,
        // libp2p's own per-host limit (default 5 connections per second) is stricter than the
        // connection bucket the gater applies per /24 (rateLimit.limits.connection): on a shared
        // host (loopback testnet, NAT) a few clients in a row were refused. The bucket decides.
        inboundConnectionThreshold: Math.max(5, Math.ceil(config.rateLimit.limits.connection.burst))
      },
      ...((options.libp2pMetrics ?? config.http.enabled) ? { metrics: prometheusMetrics({ registry, statfsLocation: config.dataDir }) } : {}),
      services: {
        identify: identify(),
        ping: ping({ maxOutboundStreams: 4 }),
        dht: kadDHT({
          protocol: dhtProtocol(config.discovery.dhtProtocolPrefix),
          clientMode: false,
          peerInfoMapper: passthroughMapper,
          validators: nodeRecordDhtValidators(verifier, (peer) => membership.isMember(peer)),
          selectors: nodeRecordDhtSelectors()
        }),
        reachability: reachability({
          startupDelayMs: config.reachability.startupDelayMs,
          intervalMs: config.reachability.intervalMs,
          now
        }),
        bootstrap: bootstrapper({
          list: config.bootstrap,
          retryMinMs: config.discovery.bootstrapRetryMinMs,
          retryMaxMs: config.discovery.bootstrapRetryMaxMs,
          onDialFailure: () => metrics.bootstrapDialFailures.inc()
        }),
        connector: peerConnector({
          targetPeers: config.connections.targetPeers,
          intervalMs: config.discovery.intervalMs,
          dialTimeoutMs: config.connections.dialTimeoutMs,
          onLookup: (outcome) => metrics.discoveryLookups.inc({ outcome })
        }),
        onionKeys: onionKeyManager({ dataDir: config.dataDir, epochMs: config.onion.keyEpochMs, graceMs: config.onion.keyGraceMs, now }),
        membership: membershipService({
          authorities,
          view: membership,
          intervalMs: config.network.documentIntervalMs,
          graceMs: config.network.documentGraceMs,
          admission: config.network.admission,
          maxCandidates: config.network.admission.maxCandidates,
          dataDir: config.dataDir,
          registry,
          now,
          onViolation: (peer) => { limiter.penalize(peer.toString(), 'bad_signature') }
        }),
        directory: directoryService({
          verifier,
          registry,
          now,
          capabilities: config.onion.exit ? ALL_CAPABILITIES : ALL_CAPABILITIES & ~Capability.EXIT,
          maxRecords: config.directory.maxRecords,
          fetchIntervalMs: config.directory.fetchIntervalMs,
          minServeIntervalMs: config.directory.minServeIntervalMs,
          publishToDht: config.directory.publishToDht,
          onInvalidRecord: (peer, reason) => {
            // an expired record may be an honest peer with a skewed clock; a flood of strangers' records is misuse
            if (reason === 'unadmitted') limiter.penalize(peer.toString(), 'protocol_misuse')
            else if (reason !== 'expired') limiter.penalize(peer.toString(), 'bad_signature')
          }
        }),
        links: linkManager({
          maxQueuedCells: config.onion.linkMaxQueuedCells,
          openTimeoutMs: config.onion.extendTimeoutMs,
          stallTimeoutMs: config.onion.linkStallTimeoutMs,
          budget: queueBudget,
          memory: watchdog
        }),
        // per-prefix caps and idle pruning of established connections, and the stream guard's abusers disconnected
        slots: connectionSlotsService({ slots, guard: streams }),
        swarm: swarmService({
          store,
          limits: resolveLimits(storeInit),
          replicas: config.swarm.replicas,
          writeQuorum: config.swarm.writeQuorum,
          vnodesPerNode: config.swarm.vnodesPerNode,
          reconcileIntervalMs: config.swarm.reconcileIntervalMs,
          requestTimeoutMs: config.swarm.requestTimeoutMs,
          maxPageBytes: config.swarm.maxPageBytes,
          authWindowMs: config.swarm.clockSkewMs,
          registry,
          now,
          // a member's requests carry its clients' (it coordinates for them as an exit): over budget they
          // are refused but cost it no reputation; a stranger's are charged and blamed
          allowRequest: (peer, cost) => {
            const key = peer.toString()
            const member = membership.isMember(key)
            return limiter.check('swarm', key, member ? cost / config.onion.relayBudgetFactor : cost, key, !member).allowed
          },
          // a mailbox's deposit budget holds at every member, whoever sends the copy: no member can fill a mailbox faster than its clients could
          allowDeposit: (mailbox) => limiter.check('deposit', Buffer.from(mailbox).toString('hex')).allowed,
          budget: queueBudget,
          onShed: () => { watchdog.shed('stream_closed') },
          onViolation: (peer) => { limiter.penalize(peer.toString(), 'protocol_misuse') }
        })
      }
    })
    const { links, onionKeys, swarm } = libp2p.services
    // a relay dials a next hop only at the addresses the membership document lists for it (members only)
    links.setAddressResolver(async (peer) => membership.dialableAddrs(peer.toString()))
    const log = defaultLogger().forComponent('ghostnode:node')
    onionKeys.onExpire((epoch) => {
      void replay.dropEpoch(epoch).catch((err: Error) => { log.error('dropping the replay tags of epoch %d failed - %e', epoch, err) })
    })
    reputation.onBan((peer) => { void libp2p.hangUp(peerIdFromString(peer)).catch(() => {}) })

    const exits = new ExitHandlerRegistry()
    exits.register(ExitService.ECHO, 'echo', echoHandler)
    exits.register(ExitService.SWARM, 'swarm', swarmExitHandler({
      coordinator: swarm.coordinator,
      // deposits need no signature: the mailbox's own budget is what limits flooding it
      allowDeposit: (mailbox) => limiter.check('deposit', Buffer.from(mailbox).toString('hex')).allowed,
      // subscriptions are signed by the owner: each mailbox's own budget bounds how fast its owner re-asks
      allowSubscribe: (mailbox) => limiter.check('subscribe', Buffer.from(mailbox).toString('hex')).allowed,
      metrics: swarm.metrics,
      now,
      authWindowMs: config.swarm.clockSkewMs
    }))
    const relay = new OnionRelay({
      links,
      keys: onionKeys,
      replay,
      exits,
      logger: libp2p.logger,
      selfPeerId: libp2p.peerId,
      registry,
      now,
      maxCircuits: config.onion.maxCircuits,
      maxCircuitsPerPeer: config.onion.maxCircuitsPerPeer,
      budget: queueBudget,
      memory: watchdog,
      reassemblyTimeoutMs: config.onion.reassemblyTimeoutMs,
      circuitIdleTimeoutMs: config.onion.circuitIdleTimeoutMs,
      extendTimeoutMs: config.onion.extendTimeoutMs,
      maxMessageBytes: config.onion.maxMessageBytes,
      // the relay budget is for relays the network admitted, not for anyone who signed a record
      policy: relayPolicy(limiter, (peer) => membership.isRelay(peer.toString()), config.onion.relayBudgetFactor)
    })

    // the node registers the gauges that read it and builds its HTTP endpoint (both need the node)
    return new Ghostnode({ config, lock, logger: options.logger ?? silentLogger, ...(adminToken != null ? { adminToken } : {}), libp2p, datastore, registry, metrics, relay, exits, replay, limiter, scores, store, memory: watchdog, now })
  } catch (err) {
    for (const resource of opened.reverse()) await resource.close().catch(() => {})
    throw err
  }
}

/** The mailbox store's options from the `swarm.*` config keys. */
function swarmStoreInit (config: GhostnodeConfig, registry: Registry, now: () => number): MessageStoreInit {
  const s = config.swarm
  return {
    path: join(config.dataDir, 'swarm'),
    now,
    registry,
    minTtlMs: s.minTtlMs,
    maxTtlMs: s.maxTtlMs,
    clockSkewMs: s.clockSkewMs,
    maxMessageBytes: s.maxMessageBytes,
    mailboxQuotaBytes: s.mailboxQuotaBytes,
    mailboxQuotaRecords: s.mailboxQuotaRecords,
    nodeQuotaBytes: s.nodeQuotaBytes,
    sync: s.sync
  }
}

/**
 * Refuses connection attempts over the per-/24 (/48) budget or over that
 * prefix's share of the upgrades in progress, every banned peer, every peer
 * `deny` names, and every new inbound connection while the node is short of memory.
 */
function connectionGater (limiter: RateLimiter, memory: MemoryWatchdog, pending: PendingUpgrades, dialable: (addr: Multiaddr) => boolean,
  streams: StreamGuard, deny: (peer: PeerId) => boolean = () => false): ConnectionGater {
  return {
    denyDialMultiaddr: (addr) => !dialable(addr),
    denyInboundConnection: (maConn) => {
      if (memory.underPressure) {
        memory.shed('connection_refused')
        return true
      }
      let key: string
      try {
        key = ipPrefixKey(maConn.remoteAddr)
      } catch {
        return false // not an IP transport: nothing to key on
      }
      if (pending.count(key) >= pending.maxPerPrefix) return true
      if (!limiter.check('connection', key).allowed) return true
      pending.admit(key, maConn)
      return false
    },
    denyInboundEncryptedConnection: (peer: PeerId) => limiter.isBanned(peer.toString()) || deny(peer),
    denyInboundUpgradedConnection: (peer: PeerId, maConn) => {
      pending.done(maConn)
      streams.bindPeer(peer.toString())
      return false
    },
    denyOutboundUpgradedConnection: (peer: PeerId) => {
      streams.bindPeer(peer.toString())
      return false
    },
    denyDialPeer: (peer: PeerId) => limiter.isBanned(peer.toString()) || deny(peer)
  }
}

/**
 * Whether the node dials an address: the address policy for everything peers
 * told it (DHT, identify, records), except the addresses its operator
 * configured (bootstrap peers, authorities), which are trusted as given.
 * `/unix` and other non-IP transports are never dialled.
 */
function dialPolicy (policy: AddressPolicy, bootstrap: string[], authorities: ResolvedAuthorities): (addr: Multiaddr) => boolean {
  const configured = new Set<string>()
  const bare = (ma: Multiaddr): string => ma.decapsulateCode(421).toString()
  for (const entry of bootstrap) configured.add(bare(multiaddr(entry)))
  for (const addrs of authorities.addrs.values()) for (const a of addrs) configured.add(bare(a))
  return (addr) => {
    const verdict = judgeAddress(addr, policy)
    if (verdict === 'ok') return true
    return verdict !== 'unsupported' && configured.has(bare(addr))
  }
}

/**
 * Onion traffic is limited per previous hop: cells and bytes per link, creations
 * per neighbour. An admitted relay's link aggregates many circuits, so its costs
 * are divided by `relayFactor` (the buckets stay per peer and keep their tiers).
 */
function relayPolicy (limiter: RateLimiter, isRelay: (peer: PeerId) => boolean, relayFactor: number): NonNullable<ConstructorParameters<typeof OnionRelay>[0]['policy']> {
  // An admitted relay forwards its clients' CREATEs and cells: over budget they are refused (DESTROY
  // RESOURCE_LIMIT), but the relay is not blamed, or strangers sending through it could get it banned.
  // Clients are charged and blamed at their first hop, where they are the previous hop.
  const charge = (kind: 'circuits' | 'cells' | 'bytes', peer: PeerId, cost: number): boolean => {
    const key = peer.toString()
    const relay = isRelay(peer)
    return limiter.check(kind, key, relay ? cost / relayFactor : cost, key, !relay).allowed
  }
  return {
    allowCreate: (peer) => charge('circuits', peer, 1),
    allowCell: (peer) => charge('cells', peer, 1),
    allowBytes: (peer, bytes) => charge('bytes', peer, bytes),
    onViolation: (peer, kind) => { limiter.penalize(peer.toString(), kind) }
  }
}
