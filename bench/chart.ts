/**
 * The comparison as an SVG: grouped bars of req/s at saturation and of gateway CPU µs per request,
 * one group per scenario stream and one bar per gateway, with the runs' min–max as a whisker.
 * Hand-written SVG, so the bench needs no charting dependency.
 */
import {
  VARIANT_LABELS,
  type ComparisonRow,
  type Figure,
  type PeersReport,
} from './report-peers.js'

const COLORS: Readonly<Record<string, string>> = {
  direct: '#9e9e9e',
  nginx: '#2e7d32',
  haproxy: '#1565c0',
  fastify: '#6a1b9a',
  portcullis: '#e65100',
}
const FALLBACK_COLORS = ['#00838f', '#ad1457', '#5d4037']

const WIDTH = 1000
const PANEL_HEIGHT = 260
const MARGIN = { left: 70, right: 20, top: 36, bottom: 46 }
const FONT = 'font-family="system-ui, sans-serif"'

interface Group {
  readonly label: string
  readonly rows: readonly ComparisonRow[]
}

const escape = (text: string): string =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** 1, 2 or 5 times a power of ten, so that about `count` ticks span `max`. */
function niceStep(max: number, count: number): number {
  const raw = max / count
  const power = 10 ** Math.floor(Math.log10(raw))
  const unit = raw / power
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power
}

const compact = (value: number): string =>
  value >= 10_000
    ? `${(value / 1000).toFixed(value >= 100_000 ? 0 : 1)}k`
    : value >= 100
      ? value.toFixed(0)
      : value.toFixed(1)

function panel(
  top: number,
  title: string,
  groups: readonly Group[],
  gateways: readonly string[],
  pick: (row: ComparisonRow) => Figure | undefined,
): string {
  const plotLeft = MARGIN.left
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right
  const plotTop = top + MARGIN.top
  const plotHeight = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom
  const max = Math.max(
    1,
    ...groups.flatMap((group) => group.rows.map((row) => pick(row)?.max ?? 0)),
  )
  const step = niceStep(max, 5)
  const top_ = Math.ceil(max / step) * step
  const y = (value: number): number => plotTop + plotHeight - (value / top_) * plotHeight
  const parts = [
    `<text x="${plotLeft}" y="${top + 20}" font-size="15" font-weight="600" ${FONT}>${escape(title)}</text>`,
  ]
  for (let tick = 0; tick <= top_ + step / 2; tick += step) {
    const ty = y(tick).toFixed(1)
    parts.push(
      `<line x1="${plotLeft}" x2="${plotLeft + plotWidth}" y1="${ty}" y2="${ty}" stroke="#e0e0e0"/>`,
      `<text x="${plotLeft - 6}" y="${ty}" dy="4" text-anchor="end" font-size="11" fill="#555" ${FONT}>${compact(tick)}</text>`,
    )
  }
  const groupWidth = plotWidth / Math.max(1, groups.length)
  // Each group shows its own gateways side by side, centred; the colour tells which is which.
  const present = (group: Group) =>
    gateways.filter((gateway) => group.rows.some((row) => row.gateway === gateway))
  const widest = Math.max(1, ...groups.map((group) => present(group).length))
  const barWidth = Math.min(30, (groupWidth * 0.85) / widest)
  groups.forEach((group, index) => {
    const shown = present(group)
    const x0 = plotLeft + index * groupWidth + (groupWidth - barWidth * shown.length) / 2
    shown.forEach((gateway, slot) => {
      const row = group.rows.find((candidate) => candidate.gateway === gateway)!
      const x = x0 + slot * barWidth
      const f = pick(row)
      if (f === undefined) {
        // Planned but not measured (failed): a mark, so a missing bar is not read as zero.
        parts.push(
          `<text x="${(x + barWidth / 2).toFixed(1)}" y="${(plotTop + plotHeight - 4).toFixed(1)}" text-anchor="middle" font-size="10" fill="#c62828" ${FONT}>✕</text>`,
        )
        return
      }
      const color = colorOf(gateway, gateways)
      parts.push(
        `<rect x="${(x + 1).toFixed(1)}" y="${y(f.median).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${(plotTop + plotHeight - y(f.median)).toFixed(1)}" fill="${color}"><title>${escape(`${row.scenario} ${row.variant}, ${gateway}: ${compact(f.median)} (${compact(f.min)}–${compact(f.max)})`)}</title></rect>`,
      )
      if (f.n > 1) {
        const cx = (x + barWidth / 2).toFixed(1)
        parts.push(
          `<line x1="${cx}" x2="${cx}" y1="${y(f.min).toFixed(1)}" y2="${y(f.max).toFixed(1)}" stroke="#212121" stroke-width="1"/>`,
        )
      }
      parts.push(
        `<text x="${(x + barWidth / 2).toFixed(1)}" y="${(y(f.max) - 3).toFixed(1)}" text-anchor="middle" font-size="9" fill="#333" ${FONT}>${compact(f.median)}</text>`,
      )
    })
    const [first, second] = group.label.split('\n')
    const cx = (plotLeft + index * groupWidth + groupWidth / 2).toFixed(1)
    parts.push(
      `<text x="${cx}" y="${plotTop + plotHeight + 16}" text-anchor="middle" font-size="11" ${FONT}>${escape(first ?? '')}</text>`,
      `<text x="${cx}" y="${plotTop + plotHeight + 30}" text-anchor="middle" font-size="10" fill="#555" ${FONT}>${escape(second ?? '')}</text>`,
    )
  })
  parts.push(
    `<line x1="${plotLeft}" x2="${plotLeft + plotWidth}" y1="${plotTop + plotHeight}" y2="${plotTop + plotHeight}" stroke="#424242"/>`,
  )
  return parts.join('\n')
}

function colorOf(gateway: string, gateways: readonly string[]): string {
  return COLORS[gateway] ?? FALLBACK_COLORS[gateways.indexOf(gateway) % FALLBACK_COLORS.length]!
}

export function renderChart(report: PeersReport): string {
  const groups: Group[] = []
  const gateways: string[] = []
  for (const scenario of report.scenarios) {
    const byVariant = new Map<string, ComparisonRow[]>()
    for (const row of scenario.rows) {
      // The upstream alone is a reference for req/s only, and has no gateway CPU.
      if (!gateways.includes(row.gateway)) gateways.push(row.gateway)
      const rows = byVariant.get(row.variant) ?? []
      rows.push(row)
      byVariant.set(row.variant, rows)
    }
    for (const [variant, rows] of byVariant) {
      if (variant === 'direct') {
        groups.push({ label: `upstream alone\n(${scenario.name})`, rows })
        continue
      }
      groups.push({ label: `${scenario.name}\n${VARIANT_LABELS[variant] ?? variant}`, rows })
    }
  }
  const legendY = 2 * PANEL_HEIGHT + 18
  const legend = gateways
    .map((gateway, index) => {
      const x = MARGIN.left + index * 130
      return (
        `<rect x="${x}" y="${legendY - 10}" width="12" height="12" fill="${colorOf(gateway, gateways)}"/>` +
        `<text x="${x + 18}" y="${legendY}" font-size="12" ${FONT}>${escape(gateway === 'direct' ? 'upstream alone' : gateway)}</text>`
      )
    })
    .join('\n')
  const height = 2 * PANEL_HEIGHT + 60
  const { meta } = report
  const caption =
    `${meta.layout}; ${meta.connections} connections; medians of ${meta.runs} interleaved runs, ` +
    `whiskers min–max; ${meta.startedAt.slice(0, 10)}, commit ${meta.commit}`
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    panel(
      0,
      'Requests per second at saturation (higher is better)',
      groups,
      gateways,
      (row) => row.rps,
    ),
    panel(
      PANEL_HEIGHT,
      'Gateway CPU µs per request at saturation, all its processes (lower is better)',
      groups.filter((group) => !group.label.startsWith('upstream alone')),
      gateways.filter((gateway) => gateway !== 'direct'),
      (row) => row.cpuUsPerReq,
    ),
    legend,
    `<text x="${MARGIN.left}" y="${height - 12}" font-size="10" fill="#555" ${FONT}>${escape(caption)}</text>`,
    '</svg>',
    '',
  ].join('\n')
}
