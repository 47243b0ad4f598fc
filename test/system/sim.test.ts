import { expect } from 'chai'
import { runSim } from '../../harness/sim/network-sim.js'

/**
 * The scale simulation (npm run sim) at N = 12, its nodes in two processes
 * (so nodes reach each other across processes as well as within one): admission as
 * the network runs it, directories and rings complete, circuits, mailboxes on
 * exactly their owners, and churn under load losing no acknowledged message.
 */
describe('a 12-node simulated network (harness/sim, as npm run sim runs it)', function () {
  this.timeout(360_000)

  it('admits every node, builds circuits, places every mailbox on its owners, and loses nothing acknowledged through churn', async () => {
    const lines: string[] = []
    const report = await runSim({ nodes: 12, mailboxes: 200, circuits: 20, idleSeconds: 5, churn: 0.1, concurrency: 8, documentIntervalMs: 5_000, dropAfterMs: 20_000, reconcileIntervalMs: 5_000, hosts: 2, log: (l) => lines.push(l) })
    console.log(lines.map(l => `      ${l}`).join('\n'))
    expect(report.circuit_success_rate).to.be.at.least(0.95)
    // every failed build is counted under its reason
    expect(Object.values(report.circuit_failures).reduce((a, b) => a + b, 0)).to.equal(Math.round(20 * (1 - report.circuit_success_rate)))
    expect(report.placement.exact, 'mailboxes on exactly their R owners').to.equal(report.placement.mailboxes)
    expect(report.placement.mailboxes).to.equal(200)
    expect(report.reads.failed).to.equal(0)
    expect(report.churn.left).to.equal(1)
    expect(report.churn.joined).to.equal(1)
    expect(report.churn.acknowledged).to.be.greaterThan(0)
    expect(report.lost, 'acknowledged messages lost').to.equal(0)
    expect(report.found).to.equal(report.acknowledged)
    expect(report.churn.placed_exactly).to.equal(report.acknowledged)
    expect(report.churn.waves).to.have.length(2)
    expect(Number.isFinite(report.churn.handoff_s), 'the hand-off finished by itself').to.equal(true)
    expect(report.churn.reads_failed).to.equal(0)
    expect(report.per_node.background_bytes_per_min).to.be.greaterThan(0)
    expect(report.process.hosts).to.equal(2)
    expect(report.per_node.cpu_ms_per_min, 'the hosts\' CPU is measured').to.be.greaterThan(0)
  })
})
