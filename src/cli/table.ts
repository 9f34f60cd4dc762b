/** Plain-text tables for the CLI's human output: columns padded to their widest cell. */

/** Rows under a header, columns separated by two spaces; `-` for a null or empty cell. */
export function formatTable(
  header: readonly string[],
  rows: readonly (readonly unknown[])[],
): string {
  const cells = [header, ...rows.map((row) => row.map(cell))]
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)))
  return cells
    .map((row) =>
      row
        .map((text, i) => (i === row.length - 1 ? text : (text ?? '').padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

/** One record as `field  value` lines. */
export function formatRecord(record: Readonly<Record<string, unknown>>): string {
  return formatTable(
    ['FIELD', 'VALUE'],
    Object.entries(record).map(([key, value]) => [key, value]),
  )
}

function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-'
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(String).join(',')
  if (typeof value === 'object') {
    const entries = Object.entries(value)
    return entries.length === 0 ? '-' : entries.map(([k, v]) => `${k}=${String(v)}`).join(',')
  }
  return String(value)
}
