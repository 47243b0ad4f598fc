/** Reading a running relay's HTTP endpoint (/peers, /metrics) from another process. */

const REQUEST_TIMEOUT_MS = 5_000

/** One entry of the relay's /peers list (the fields these tools read). */
export interface PeerRow {
  peerId: string
  addr: string
  score: number
  tier: string
  bannedUntil: number | null
}

export async function fetchPeers (httpUrl: string): Promise<PeerRow[]> {
  const res = await fetch(`${httpUrl}/peers`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  if (res.status !== 200) throw new Error(`${httpUrl}/peers answered ${res.status}`)
  return ((await res.json()) as { peers: PeerRow[] }).peers
}

export async function fetchMetrics (httpUrl: string): Promise<string> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) })
  if (res.status !== 200) throw new Error(`${httpUrl}/metrics answered ${res.status}`)
  return res.text()
}

/**
 * The value of one sample in Prometheus text, e.g.
 * `metricValue(text, 'ghostnode_ratelimit_throttled_total', '{kind="circuits"}')`;
 * undefined when the series is absent.
 */
export function metricValue (text: string, name: string, labels = ''): number | undefined {
  const prefix = `${name}${labels} `
  const line = text.split('\n').find(l => l.startsWith(prefix))
  return line == null ? undefined : Number(line.slice(prefix.length).split(' ')[0])
}
