import { expect } from 'chai'
import { formatSigkillReport, releaseScenario, runSigkillScenario, type ScenarioResources } from '../../harness/lib/sigkill-scenario.js'
import { makeTempDir, removeTempDir } from '../helpers/tmp.js'

/** The bound on a client's recovery from a dead hop (a behaviour requirement, not a benchmark). */
const REBUILD_BOUND_MS = 2_000

describe('SIGKILL of a relay under sustained store load (4-node process testnet, R = 3, W = 2)', function () {
  this.timeout(120_000)
  let dir: string | undefined
  const res: ScenarioResources = { clients: [] }

  afterEach(async () => {
    await releaseScenario(res)
    res.net = undefined
    await removeTempDir(dir)
    dir = undefined
  })

  it('loses no acknowledged message, clients recover within 2 s, and the restarted node holds every copy it should', async () => {
    dir = await makeTempDir()
    const report = await runSigkillScenario({ baseDir: dir, log: (line) => { console.log(`      ${line}`) } }, res)
    console.log(`      ${formatSigkillReport(report)}`)

    expect(report.victim.exit.signal).to.equal('SIGKILL')
    // the kill hit live circuits and live data: chosen from the clients' circuits, checked against the ring and the receipts
    expect(report.victim.guardOf + report.victim.middleOf, 'victim is a guard or middle hop').to.be.greaterThan(0)
    expect(report.victim.replicaOfMailboxes, 'victim is a replica of some mailboxes').to.be.greaterThan(0)
    expect(report.victim.ackedBeforeKillNamingIt, 'acknowledgements named the victim before the kill').to.be.greaterThan(0)
    expect(report.rebuildMs.length, 'clients whose circuit used the victim').to.be.greaterThan(0)
    for (const { client, ms } of report.rebuildMs) {
      expect(ms, `client ${client} never stored again after the kill`).to.not.equal(undefined)
      expect(ms, `client ${client} took ${Math.round(ms ?? 0)} ms to store again`).to.be.at.most(REBUILD_BOUND_MS)
    }

    expect(report.acknowledged).to.be.greaterThan(0)
    expect(report.victimDisk.onDiskAfterKill, 'stores the victim acknowledged, in its database right after the SIGKILL').to.equal(report.victimDisk.acknowledgedByIt)
    expect(report.badReceipts, 'receipts naming fewer than W members or a non-member').to.equal(0)
    expect(report.missing, 'acknowledged but not readable after recovery').to.deep.equal([])
    expect(report.foundAfterRecovery).to.equal(report.acknowledged)
    for (const p of report.perReplica) {
      expect(p.found, `${p.name}${p.restarted ? ' (restarted)' : ''} lacks: ${report.missingOnReplica[p.name].join(', ')}`).to.equal(p.expected)
    }
    const restarted = report.perReplica.find(p => p.restarted)
    expect(restarted?.expected, 'messages the restarted node should hold').to.be.greaterThan(0)
    expect(report.bans, 'bans between nodes after the restart').to.deep.equal([])
    for (const r of report.stopResults) {
      expect(r.forced, `${r.name} needed SIGKILL to stop`).to.equal(false)
      expect(r.exit.code, `${r.name} exit code`).to.equal(0)
    }
  })
})
