import { buildCreate } from '../../src/crypto/create-header.js'
import { ClientCircuitCrypto } from '../../src/crypto/layer.js'
import { encodeCell, type Cell } from '../../src/onion/cell.js'
import { CELL_HEADER_BYTES, CellCommand, RELAY_DATA_BYTES, RelayCommand, RELAY_TAGS_BYTES } from '../../src/wire/onion-format.js'
import { encodeExitRequest, ExitService } from '../../src/onion/exit.js'
import { fragmentCountFor, fragmentMessage, writeRelayBody, type RelayFragment } from '../../src/onion/relay-message.js'
import type { Link } from '../../src/onion/link.js'
import type { VerifiedNodeRecord } from '../../src/directory/node-record.js'

/**
 * A 1-hop circuit whose exit is the target relay, driven cell by cell: the
 * attacker needs to send what an honest client never would (the first
 * fragment of a large message and nothing after it), so it seals cells itself
 * instead of going through ClientCircuit.
 */
export class AttackCircuit {
  readonly link: Link
  readonly circId: number
  private readonly crypto: ClientCircuitCrypto
  private readonly createPayload: Uint8Array
  private readonly built = Promise.withResolvers<void>()
  private nextRequestId = 1
  open = false
  destroyed = false

  constructor (link: Link, exit: VerifiedNodeRecord) {
    this.link = link
    this.circId = link.allocateCircId()
    const create = buildCreate([{ peerId: exit.peerId.toMultihash().bytes, onionKey: exit.onionKey }])
    this.crypto = new ClientCircuitCrypto(create.hops)
    this.createPayload = create.payload
    this.built.promise.catch(() => {})
  }

  /** Sends the CREATE; resolves once the exit confirmed, rejects on DESTROY or timeout. */
  async build (timeoutMs: number): Promise<void> {
    if (!this.link.send(encodeCell({ circId: this.circId, cmd: CellCommand.CREATE, payload: this.createPayload }))) {
      throw new Error('link queue full while sending a CREATE')
    }
    const timer = setTimeout(() => { this.built.reject(new Error('CREATE not answered in time')) }, timeoutMs)
    try {
      await this.built.promise
      this.open = true
    } finally {
      clearTimeout(timer)
    }
  }

  onCell (cell: Cell): void {
    if (cell.cmd === CellCommand.CREATED) {
      try {
        this.crypto.openCreated(cell.payload)
        this.built.resolve()
      } catch (err) {
        this.built.reject(err as Error)
      }
    } else if (cell.cmd === CellCommand.DESTROY) {
      this.destroyed = true
      this.open = false
      this.built.reject(new Error(`circuit destroyed (reason ${cell.payload[0]})`))
    }
  }

  /** The link closed under it. */
  fail (err: Error): void {
    this.open = false
    this.built.reject(err)
  }

  /** An ECHO request of `bodyBytes`; returns the cells queued (0 when the link queue is full). */
  sendEcho (bodyBytes: number): number {
    const data = encodeExitRequest(ExitService.ECHO, new Uint8Array(bodyBytes))
    const fragments = fragmentMessage({ cmd: RelayCommand.REQUEST, requestId: this.requestId(), data })
    let sent = 0
    for (const fragment of fragments) {
      if (!this.sendFragment(fragment)) break
      sent++
    }
    return sent
  }

  /**
   * The first fragment of a `messageBytes` request and never the rest: the exit
   * holds it in its reassembly buffer until the reassembly timeout.
   */
  sendPartial (messageBytes: number): boolean {
    const fragCount = fragmentCountFor(messageBytes)
    return this.sendFragment({ cmd: RelayCommand.REQUEST, requestId: this.requestId(), fragIndex: 0, fragCount, data: new Uint8Array(RELAY_DATA_BYTES) })
  }

  private requestId (): number {
    const id = this.nextRequestId
    this.nextRequestId = id >= 0xffffffff ? 1 : id + 1
    return id
  }

  private sendFragment (fragment: RelayFragment): boolean {
    const cell = encodeCell({ circId: this.circId, cmd: CellCommand.RELAY })
    const payload = cell.subarray(CELL_HEADER_BYTES)
    writeRelayBody(payload.subarray(RELAY_TAGS_BYTES), fragment)
    this.crypto.sealForward(payload)
    return this.link.send(cell)
  }
}
