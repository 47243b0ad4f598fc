import { expect } from 'chai'
import { MemoryBudget } from '../../../src/memory/budget.js'
import { Reassembler, REASSEMBLY_FRAGMENT_OVERHEAD_BYTES, REASSEMBLY_PARTIAL_OVERHEAD_BYTES } from '../../../src/onion/reassembly.js'
import { RelayCommand, RELAY_DATA_BYTES } from '../../../src/wire/onion-format.js'
import { ReassemblyBufferFullError } from '../../../src/onion/errors.js'

describe('MemoryBudget', () => {
  it('refuses reservations past its bound and accepts again after release', () => {
    const budget = new MemoryBudget(100)
    expect(budget.tryReserve(60)).to.equal(true)
    expect(budget.tryReserve(50)).to.equal(false)
    budget.release(60)
    expect(budget.tryReserve(100)).to.equal(true)
    expect(budget.used).to.equal(100)
  })

  it('gives the pressure handler one chance to free memory', () => {
    const budget = new MemoryBudget(100)
    budget.tryReserve(90)
    let calls = 0
    budget.setPressureHandler(() => { calls++; budget.release(90) })
    expect(budget.tryReserve(50)).to.equal(true)
    expect(calls).to.equal(1)
  })

  it('asks the pressure handler to free down to 90% of the limit, less what is being reserved', () => {
    const budget = new MemoryBudget(1000)
    budget.tryReserve(1000)
    const targets: number[] = []
    budget.setPressureHandler((target) => { targets.push(target); budget.release(budget.used - target) })
    expect(budget.tryReserve(100)).to.equal(true)
    expect(targets).to.deep.equal([800])
    expect(budget.used).to.equal(900)
  })

  it('does not rescan for a while after a relief that freed nothing', () => {
    let t = 0
    const budget = new MemoryBudget(100, { now: () => t, reliefCooldownMs: 100 })
    budget.tryReserve(100)
    let calls = 0
    budget.setPressureHandler(() => { calls++ })
    expect(budget.tryReserve(1)).to.equal(false)
    expect(budget.tryReserve(1)).to.equal(false)
    expect(calls).to.equal(1)
    t = 100
    expect(budget.tryReserve(1)).to.equal(false)
    expect(calls).to.equal(2)
  })

  it('clamps its limit below the configured maximum and restores it', () => {
    const budget = new MemoryBudget(1000)
    budget.tryReserve(300)
    budget.clamp(400)
    expect(budget.limit).to.equal(400)
    expect(budget.tryReserve(200)).to.equal(false)
    expect(budget.tryReserve(100)).to.equal(true)
    budget.clamp(5000) // never above the maximum
    expect(budget.limit).to.equal(1000)
    budget.clamp(100)
    budget.clamp()
    expect(budget.limit).to.equal(1000)
    expect(budget.tryReserve(600)).to.equal(true)
  })

  it('bounds reassembly across circuits and releases what completes or is cleared', () => {
    const first = RELAY_DATA_BYTES + REASSEMBLY_FRAGMENT_OVERHEAD_BYTES + REASSEMBLY_PARTIAL_OVERHEAD_BYTES
    const next = RELAY_DATA_BYTES + REASSEMBLY_FRAGMENT_OVERHEAD_BYTES
    const budget = new MemoryBudget(2 * first + next)
    const a = new Reassembler({ budget })
    const b = new Reassembler({ budget })
    const frag = (requestId: number, fragIndex: number): Parameters<Reassembler['add']>[0] =>
      ({ cmd: RelayCommand.REQUEST, requestId, fragIndex, fragCount: 3, data: new Uint8Array(RELAY_DATA_BYTES) })
    a.add(frag(1, 0))
    a.add(frag(1, 1))
    b.add(frag(2, 0))
    expect(budget.used).to.equal(2 * first + next)
    expect(() => b.add(frag(2, 1))).to.throw(ReassemblyBufferFullError)
    expect(budget.used).to.equal(first + next) // b's partial was dropped
    const message = a.add(frag(1, 2))
    expect(message?.data.byteLength).to.equal(3 * RELAY_DATA_BYTES)
    expect(budget.used).to.equal(0)
    b.add(frag(3, 0))
    expect(budget.used).to.equal(first)
    b.clear()
    expect(budget.used).to.equal(0)
  })
})
