import { Counter, Gauge, Registry } from 'prom-client'
import { DOCUMENT_REJECT_REASONS } from './errors.js'

/** The membership metrics, on the node's registry (labels from fixed enums only). */
export class MembershipMetrics {
  readonly rejected: Counter<'reason'>
  readonly requests: Counter<'kind' | 'status'>
  readonly admissions: Counter<'outcome'>
  readonly unadmittedRecords: Counter<'source'>

  constructor (registry: Registry, source: { members: () => number, period: () => number }) {
    const registers = [registry]
    this.rejected = new Counter({
      name: 'ghostnode_membership_documents_rejected_total',
      help: 'Membership documents and votes refused, by reason',
      labelNames: ['reason'],
      registers
    })
    for (const reason of DOCUMENT_REJECT_REASONS) this.rejected.inc({ reason }, 0)
    this.requests = new Counter({
      name: 'ghostnode_membership_requests_total',
      help: 'Membership protocol requests served and sent, by kind and status',
      labelNames: ['kind', 'status'],
      registers
    })
    this.admissions = new Counter({
      name: 'ghostnode_membership_admission_outcomes_total',
      help: 'Authority admission decisions per vote: admitted, dropped, or the reason a candidate was refused',
      labelNames: ['outcome'],
      registers
    })
    this.unadmittedRecords = new Counter({
      name: 'ghostnode_membership_unadmitted_records_total',
      help: 'Node records of peers that are not members, refused before any signature check, by where they came from',
      labelNames: ['source'],
      registers
    })
    new Gauge({
      name: 'ghostnode_membership_members',
      help: 'Members in the membership document in force (0: none in force)',
      registers,
      collect () { this.set(source.members()) }
    })
    new Gauge({
      name: 'ghostnode_membership_period',
      help: 'Period of the membership document in force (-1: none)',
      registers,
      collect () { this.set(source.period()) }
    })
  }
}
