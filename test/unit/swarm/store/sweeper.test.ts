import { expect } from 'chai'
import { Sweeper, type SweeperTimers } from '../../../../src/swarm/store/sweeper.js'

/** Timers the test fires by hand; records unref calls. */
function fakeTimers (): SweeperTimers & { armed: Array<{ fn: () => void, ms: number, unrefed: boolean }>, cleared: number } {
  const t = {
    armed: [] as Array<{ fn: () => void, ms: number, unrefed: boolean }>,
    cleared: 0,
    setTimeout: (fn: () => void, ms: number) => {
      const entry = { fn, ms, unrefed: false }
      t.armed.push(entry)
      return { unref: () => { entry.unrefed = true } }
    },
    clearTimeout: () => { t.cleared++ }
  }
  return t
}

const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

describe('swarm/sweeper', () => {
  it('never overlaps runs and re-arms only after a run finishes', async () => {
    const timers = fakeTimers()
    let calls = 0
    let finish = (_n: number): void => {}
    const sweeper = new Sweeper({
      intervalMs: 1000,
      timers,
      sweep: async () => {
        calls++
        return new Promise<number>(resolve => { finish = resolve })
      }
    })
    sweeper.start()
    expect(timers.armed).to.have.length(1)
    expect(timers.armed[0]).to.include({ ms: 1000, unrefed: true })

    timers.armed[0].fn()
    const joined = sweeper.runNow()
    expect(calls).to.equal(1)
    await tick()
    expect(timers.armed).to.have.length(1)

    finish(4)
    expect(await joined).to.equal(4)
    await tick()
    expect(timers.armed).to.have.length(2)
    await sweeper.stop()
    expect(timers.cleared).to.equal(1)
  })

  it('keeps its schedule after a failed sweep and reports the error', async () => {
    const timers = fakeTimers()
    const errors: unknown[] = []
    const sweeper = new Sweeper({
      intervalMs: 50,
      timers,
      onError: err => errors.push(err),
      sweep: async () => { throw new Error('db gone') }
    })
    sweeper.start()
    timers.armed[0].fn()
    await tick()
    await tick()
    expect(errors).to.have.length(1)
    expect(timers.armed).to.have.length(2)
    await sweeper.stop()
  })

  it('does not re-arm once stopped during a run', async () => {
    const timers = fakeTimers()
    let finish = (_n: number): void => {}
    const sweeper = new Sweeper({
      intervalMs: 10,
      timers,
      sweep: async () => new Promise<number>(resolve => { finish = resolve })
    })
    sweeper.start()
    timers.armed[0].fn()
    const stopped = sweeper.stop()
    finish(0)
    await stopped
    await tick()
    expect(timers.armed).to.have.length(1)
    expect(sweeper.isRunning).to.equal(false)
  })
})
