import tty from 'node:tty'
import { expect } from 'chai'
import { defaultLogger, disable, enable } from '@libp2p/logger'
import { libp2pLogger, scopedLogger } from '../../../src/logging/libp2p-logger.js'

describe("libp2p's component logger (libp2pLogger)", () => {
  // the namespaces DEBUG gave this process, put back after each test
  const started = process.env.DEBUG ?? ''

  afterEach(() => {
    disable()
    if (started !== '') enable(started)
  })

  it('gives a scope whose namespaces are all off a logger that does nothing, and so its sub-scopes', () => {
    enable('ghostnode-test:on')
    const log = libp2pLogger().forComponent('ghostnode-test:off')
    expect(log.enabled).to.equal(false)
    expect(() => { log('a %s', 'message'); log.error('an %s', 'error'); log.trace('a trace') }).to.not.throw()
    expect(log.newScope('stream').enabled).to.equal(false)
  })

  it('makes a silent scope without the work of a debug instance (no terminal check per scope)', () => {
    const isatty = tty.isatty
    let asked = 0
    tty.isatty = (fd: number) => { asked++; return isatty(fd) }
    try {
      for (let i = 0; i < 50; i++) libp2pLogger().forComponent('ghostnode-test:stream').newScope(`s${i}`)
      expect(asked).to.equal(0)
      // what libp2p's default logger does for the same scopes: the cost this logger removes
      for (let i = 0; i < 50; i++) defaultLogger().forComponent('ghostnode-test:stream').newScope(`s${i}`)
      expect(asked).to.be.greaterThan(50)
    } finally {
      tty.isatty = isatty
    }
  })

  it("gives a scope with its namespace, its errors or its traces on libp2p's own logger", () => {
    enable('ghostnode-test:a,ghostnode-test:b:error,ghostnode-test:c:trace')
    expect(scopedLogger('ghostnode-test:a').enabled).to.equal(true)
    // errors on, messages off: the logger is libp2p's (its error channel prints), its main channel is off
    const b = scopedLogger('ghostnode-test:b')
    expect(b.enabled).to.equal(false)
    expect((b.error as unknown as { enabled: boolean }).enabled).to.equal(true)
    const c = scopedLogger('ghostnode-test:c')
    expect((c.trace as unknown as { enabled: boolean }).enabled).to.equal(true)
  })

  it('names a sub-scope of a silent scope as libp2p does, so DEBUG can turn on a sub-scope alone', () => {
    enable('ghostnode-test:parent:child')
    const parent = scopedLogger('ghostnode-test:parent')
    expect(parent.enabled).to.equal(false)
    expect(parent.newScope('child').enabled).to.equal(true)
    expect(parent.newScope('other').enabled).to.equal(false)
  })
})
