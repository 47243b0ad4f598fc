import type { StopResult } from '../lib/ghostnode-process.js'
import type { Testnet } from './testnet.js'

function pad (rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)))
  return rows.map(r => r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c])).join('  ').trimEnd())
}

/** The table the launcher prints once the testnet is up: one block per node, multiaddrs below it. */
export function formatTestnet (net: Testnet): string {
  const header = ['name', 'pid', 'peer id', 'http']
  const rows = net.nodes.map(n => [n.name, String(n.pid), n.peerId, n.httpUrl])
  const lines = pad([header, ...rows])
  const out = [lines[0]]
  net.nodes.forEach((n, i) => {
    out.push(lines[i + 1])
    for (const ma of n.multiaddrs) out.push(`    ${ma}`)
  })
  out.push('')
  if (net.network != null) {
    const nw = net.network
    out.push(`network: namespaces ${nw.hosts.map(h => h.namespace).join(', ')} on bridge ${nw.bridge} (${nw.subnet}, host side ${nw.hostAddress})` +
      (nw.latencyMs != null ? `, netem delay ${nw.latencyMs} ms per link` : ''))
  }
  out.push(`data dirs: ${net.baseDir}/<name>; logs:`)
  for (const n of net.nodes) out.push(`    ${n.logPath}`)
  return out.join('\n')
}

export function formatStopResults (results: StopResult[]): string {
  return results.map(r => {
    const how = r.exit.signal != null ? `signal ${r.exit.signal}` : `exit code ${String(r.exit.code)}`
    return `${r.name} (pid ${r.pid}): ${how}${r.forced ? ' after SIGKILL (missed the deadline)' : ''}`
  }).join('\n')
}
