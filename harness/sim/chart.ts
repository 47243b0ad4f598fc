/**
 * One SVG picture of simulation figures against the number of nodes: a small
 * panel per figure, N on a logarithmic axis, each point labelled with its value.
 * Drawn here (no plotting library): plain SVG text.
 */
export interface ChartSeries {
  title: string
  unit: string
  points: Array<{ n: number, value: number }>
}

const PANEL_W = 320
const PANEL_H = 200
const PAD = { left: 56, right: 16, top: 32, bottom: 36 }
const COLUMNS = 3

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function fmt (v: number): string {
  if (!Number.isFinite(v)) return 'n/a'
  if (Math.abs(v) >= 100) return v.toFixed(0)
  if (Math.abs(v) >= 10) return v.toFixed(1)
  return v.toFixed(2)
}

function panel (s: ChartSeries, x0: number, y0: number): string {
  const pts = s.points.filter(p => Number.isFinite(p.value))
  const w = PANEL_W - PAD.left - PAD.right
  const h = PANEL_H - PAD.top - PAD.bottom
  const ns = s.points.map(p => p.n)
  const lnMin = Math.log(Math.min(...ns))
  const lnMax = Math.log(Math.max(...ns))
  const vMax = Math.max(1e-9, ...pts.map(p => p.value)) * 1.15
  const px = (n: number): number => x0 + PAD.left + (lnMax === lnMin ? w / 2 : (Math.log(n) - lnMin) / (lnMax - lnMin) * w)
  const py = (v: number): number => y0 + PAD.top + h - v / vMax * h
  const out: string[] = []
  out.push(`<text x="${x0 + PAD.left}" y="${y0 + 18}" font-size="13" font-weight="bold">${esc(s.title)} (${esc(s.unit)})</text>`)
  out.push(`<line x1="${x0 + PAD.left}" y1="${y0 + PAD.top + h}" x2="${x0 + PAD.left + w}" y2="${y0 + PAD.top + h}" stroke="#888"/>`)
  out.push(`<line x1="${x0 + PAD.left}" y1="${y0 + PAD.top}" x2="${x0 + PAD.left}" y2="${y0 + PAD.top + h}" stroke="#888"/>`)
  for (const f of [0, 0.5, 1]) {
    const v = vMax / 1.15 * f
    out.push(`<text x="${x0 + PAD.left - 6}" y="${py(v) + 4}" font-size="10" text-anchor="end">${fmt(v)}</text>`)
  }
  for (const n of ns) out.push(`<text x="${px(n)}" y="${y0 + PAD.top + h + 16}" font-size="10" text-anchor="middle">${n}</text>`)
  out.push(`<text x="${x0 + PAD.left + w / 2}" y="${y0 + PANEL_H - 4}" font-size="10" text-anchor="middle">nodes (log scale)</text>`)
  if (pts.length > 1) out.push(`<polyline fill="none" stroke="#2a6fb0" stroke-width="2" points="${pts.map(p => `${px(p.n).toFixed(1)},${py(p.value).toFixed(1)}`).join(' ')}"/>`)
  for (const p of pts) {
    out.push(`<circle cx="${px(p.n).toFixed(1)}" cy="${py(p.value).toFixed(1)}" r="3.5" fill="#2a6fb0"/>`)
    out.push(`<text x="${px(p.n).toFixed(1)}" y="${(py(p.value) - 8).toFixed(1)}" font-size="10" text-anchor="middle">${fmt(p.value)}</text>`)
  }
  return out.join('\n')
}

export function drawChart (title: string, series: ChartSeries[]): string {
  const rows = Math.ceil(series.length / COLUMNS)
  const width = COLUMNS * PANEL_W
  const height = rows * PANEL_H + 40
  const body = series.map((s, i) => panel(s, (i % COLUMNS) * PANEL_W, 40 + Math.floor(i / COLUMNS) * PANEL_H)).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>
${body}
</svg>
`
}
