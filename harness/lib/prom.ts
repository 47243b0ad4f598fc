/** Just enough of the Prometheus text format to read a node's /metrics. */

export interface PromSample { name: string, labels: Record<string, string>, value: number }

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g
const SCRAPE_TIMEOUT_MS = 3_000

export function parseProm (text: string): PromSample[] {
  const out: PromSample[] = []
  for (const raw of text.split('\n')) {
    if (raw === '' || raw.startsWith('#')) continue
    const m = SAMPLE.exec(raw)
    if (m == null) continue
    const labels: Record<string, string> = {}
    for (const l of (m[3] ?? '').matchAll(LABEL)) labels[l[1]] = l[2]
    out.push({ name: m[1], labels, value: Number(m[4]) })
  }
  return out
}

export async function scrape (httpUrl: string): Promise<PromSample[]> {
  const res = await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) })
  if (!res.ok) throw new Error(`${httpUrl}/metrics answered HTTP ${res.status}`)
  return parseProm(await res.text())
}

/** Sum of every series of `name` (all label sets), or undefined when absent. */
export function total (samples: PromSample[], name: string): number | undefined {
  let sum: number | undefined
  for (const s of samples) if (s.name === name) sum = (sum ?? 0) + s.value
  return sum
}

/** `name{label=value}` sums keyed by one label's value. */
export function byLabel (samples: PromSample[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const s of samples) {
    if (s.name !== name) continue
    const key = s.labels[label] ?? ''
    out[key] = (out[key] ?? 0) + s.value
  }
  return out
}
