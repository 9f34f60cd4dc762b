/** Renders the compiled route table for `portcullis check`, in match order. */
import type { Runtime } from '../gateway/runtime.js'
import type { PathLevel, PathTable } from '../router/compile.js'

export function describeRouteTable(runtime: Runtime): string {
  const rows: string[][] = [
    ['HOST', 'PATH', 'KIND', 'METHODS', 'ROUTE', 'STAGES', 'UPSTREAM', 'MAX BODY'],
  ]
  const table = runtime.table
  const addTable = (host: string, paths: PathTable) => {
    const add = (path: string, kind: string, level: PathLevel) => {
      for (const route of level.routes) {
        rows.push([
          host,
          path,
          kind,
          route.methods === null ? '*' : [...route.methods].join(','),
          route.name,
          route.stages.length === 0 ? '-' : route.stages.map((stage) => stage.name).join(','),
          `${route.upstream.name} (${route.upstream.targets.map((t) => t.origin + t.basePath).join(' ')})`,
          String(route.maxBodyBytes),
        ])
      }
    }
    for (const [path, level] of [...paths.exact].sort()) add(path, 'exact', level)
    for (const { template, level } of paths.templates) add(template.spec, 'template', level)
    const prefixes = [...paths.prefix].sort(
      (a, b) => b[0].length - a[0].length || a[0].localeCompare(b[0]),
    )
    for (const [prefix, level] of prefixes) add(`${prefix}/*`, 'prefix', level)
  }
  for (const [host, paths] of [...table.exactHosts].sort()) addTable(host, paths)
  for (const [suffix, paths] of table.wildcardHosts) addTable(`*${suffix}`, paths)
  if (table.anyHost !== null) addTable('*', table.anyHost)
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}
