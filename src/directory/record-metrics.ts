import { Counter, type Registry } from 'prom-client'
import { RECORD_REJECT_REASONS, type RecordRejectReason } from './record-errors.js'

/**
 * `ghostnode_directory_records_rejected_total{reason}` on a node's registry, as
 * the `onReject` of its NodeRecordVerifier. Register once per registry.
 */
export function recordRejectionMetric (registry: Registry): (reason: RecordRejectReason) => void {
  const rejected = new Counter({
    name: 'ghostnode_directory_records_rejected_total',
    help: 'Node records refused, by reason',
    labelNames: ['reason'],
    registers: [registry]
  })
  // export every series from the start so alerts see zeros rather than absence
  for (const reason of RECORD_REJECT_REASONS) rejected.inc({ reason }, 0)
  return (reason) => { rejected.inc({ reason }) }
}
