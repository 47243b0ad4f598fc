import { install } from '@sinonjs/fake-timers'
import { expect } from 'chai'
import { Registry } from 'prom-client'
import { MemoryBudget } from '../../../src/memory/budget.js'
import { MIN_PRESSURE_MS, MemoryWatchdog, PRESSURE_BUDGET_SHARE, type MemorySample } from '../../../src/memory/watchdog.js'

// with a 512 MB bound and watermarks of 0.85 / 0.75: high 435.2 MB, low 384 MB, live floor 192 MB

const MB = 1024 * 1024

/** A sampler the test sets by hand, and a clock it moves. */
function fakes (): { sample: MemorySample, sampler: () => MemorySample, now: () => number, advance: (ms: number) => void } {
  const sample: MemorySample = { rss: 100 * MB, heapUsed: 40 * MB, external: 10 * MB }
  let t = 1_000_000
  return { sample, sampler: () => ({ ...sample }), now: () => t, advance: (ms) => { t += ms } }
}

async function metric (registry: Registry, name: string, labels = ''): Promise<number> {
  const text = await registry.metrics()
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels} `))
  return line == null ? NaN : Number(line.split(' ')[1])
}

describe('MemoryWatchdog', () => {
  it('enters pressure at the high watermark, clamps the budget and sheds the biggest holders', async () => {
    const f = fakes()
    const registry = new Registry()
    const budget = new MemoryBudget(64 * MB)
    budget.tryReserve(40 * MB)
    const targets: number[] = []
    budget.setPressureHandler((target) => { targets.push(target); budget.release(budget.used - target) })
    const lines: string[] = []
    const watchdog = new MemoryWatchdog({ maxRssBytes: 512 * MB, highWatermark: 0.85, lowWatermark: 0.75, budget, sample: f.sampler, now: f.now, registry, log: (fmt: string) => { lines.push(fmt) } })

    f.sample.rss = 430 * MB // just under 85% of 512 MB (435.2 MB)
    watchdog.check()
    expect(watchdog.underPressure).to.equal(false)
    expect(budget.limit).to.equal(64 * MB)

    f.sample.rss = 436 * MB
    f.sample.heapUsed = 150 * MB
    f.sample.external = 60 * MB
    watchdog.check()
    expect(watchdog.underPressure).to.equal(true)
    expect(budget.limit).to.equal(64 * MB * PRESSURE_BUDGET_SHARE)
    expect(targets).to.deep.equal([64 * MB * PRESSURE_BUDGET_SHARE * 0.9])
    expect(budget.used).to.be.at.most(budget.limit)
    expect(lines).to.have.length(1)
    expect(await metric(registry, 'ghostnode_memory_pressure')).to.equal(1)
    expect(await metric(registry, 'ghostnode_memory_pressure_episodes_total')).to.equal(1)
    expect(await metric(registry, 'ghostnode_memory_rss_bytes')).to.equal(436 * MB)
  })

  it('stays in pressure between the watermarks and leaves under the low one, lifting the clamp', async () => {
    const f = fakes()
    const registry = new Registry()
    const budget = new MemoryBudget(64 * MB)
    const watchdog = new MemoryWatchdog({ maxRssBytes: 512 * MB, highWatermark: 0.85, lowWatermark: 0.75, budget, sample: f.sampler, now: f.now, registry })
    f.sample.rss = 450 * MB
    f.sample.heapUsed = 200 * MB
    f.sample.external = 150 * MB
    watchdog.check()
    expect(watchdog.underPressure).to.equal(true)
    f.sample.rss = 390 * MB // between 75% (384 MB) and 85%
    f.advance(60_000)
    watchdog.check()
    expect(watchdog.underPressure).to.equal(true)
    f.sample.rss = 380 * MB
    watchdog.check()
    expect(watchdog.underPressure).to.equal(false)
    expect(budget.limit).to.equal(64 * MB)
    expect(await metric(registry, 'ghostnode_memory_pressure')).to.equal(0)
    // and it comes back if RSS climbs again
    f.sample.rss = 440 * MB
    watchdog.check()
    expect(watchdog.underPressure).to.equal(true)
    expect(await metric(registry, 'ghostnode_memory_pressure_episodes_total')).to.equal(2)
  })

  it('leaves pressure when RSS stays up but little of it is live any more, after a minimum time', () => {
    // freed memory is kept by V8 and the allocator and reused: RSS need not fall for the node to be safe
    const f = fakes()
    const watchdog = new MemoryWatchdog({ registry: new Registry(), maxRssBytes: 512 * MB, highWatermark: 0.85, lowWatermark: 0.75, sample: f.sampler, now: f.now })
    f.sample.rss = 450 * MB
    f.sample.heapUsed = 250 * MB
    f.sample.external = 150 * MB
    watchdog.check()
    f.sample.heapUsed = 60 * MB
    f.sample.external = 20 * MB
    f.advance(MIN_PRESSURE_MS - 1)
    watchdog.check()
    expect(watchdog.underPressure).to.equal(true)
    f.advance(1)
    watchdog.check()
    expect(watchdog.underPressure).to.equal(false)
    // RSS is still over the watermark, but it is kept pages: no new pressure until live memory grows again
    f.advance(1_000)
    watchdog.check()
    expect(watchdog.underPressure).to.equal(false)
    f.sample.heapUsed = 150 * MB
    f.sample.external = 50 * MB
    watchdog.check()
    expect(watchdog.underPressure).to.equal(true)
  })

  it('does not enter pressure for RSS that is mostly kept pages', () => {
    const f = fakes()
    const watchdog = new MemoryWatchdog({ registry: new Registry(), maxRssBytes: 512 * MB, highWatermark: 0.85, lowWatermark: 0.75, sample: f.sampler, now: f.now })
    f.sample.rss = 480 * MB
    f.sample.heapUsed = 100 * MB
    f.sample.external = 50 * MB
    watchdog.check()
    expect(watchdog.underPressure).to.equal(false)
  })

  it('counts shed actions with fixed labels, every one exported from the start', async () => {
    const registry = new Registry()
    const watchdog = new MemoryWatchdog({ maxRssBytes: 512 * MB, sample: fakes().sampler, registry })
    expect(await metric(registry, 'ghostnode_memory_shed_total', '{action="create_refused"}')).to.equal(0)
    watchdog.shed('create_refused')
    watchdog.shed('create_refused')
    watchdog.shed('connection_refused')
    expect(await metric(registry, 'ghostnode_memory_shed_total', '{action="create_refused"}')).to.equal(2)
    expect(await metric(registry, 'ghostnode_memory_shed_total', '{action="connection_refused"}')).to.equal(1)
    expect(await metric(registry, 'ghostnode_memory_shed_total', '{action="link_closed"}')).to.equal(0)
    expect(await metric(registry, 'ghostnode_memory_max_rss_bytes')).to.equal(512 * MB)
  })

  it('samples on its own timer once started, and stop() lifts pressure', async () => {
    const f = fakes()
    const budget = new MemoryBudget(64 * MB)
    const watchdog = new MemoryWatchdog({ registry: new Registry(), maxRssBytes: 512 * MB, checkIntervalMs: 10, budget, sample: f.sampler, now: f.now })
    const clock = install({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    try {
      watchdog.start()
      f.sample.rss = 500 * MB
      f.sample.heapUsed = 300 * MB
      expect(watchdog.underPressure, 'not before its timer fires').to.equal(false)
      await clock.tickAsync(10)
      expect(watchdog.underPressure).to.equal(true)
    } finally {
      clock.uninstall()
    }
    watchdog.stop()
    expect(watchdog.underPressure).to.equal(false)
    expect(budget.limit).to.equal(64 * MB)
  })
})
