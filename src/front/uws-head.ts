/**
 * Writing a response head through uWS. uWS writes a JS string as UTF-8; a field value holds
 * latin1 chars (one per byte, as the upstream sent them: obs-text, RFC 9110 §5.5), so a head with
 * a char above 0x7f is handed over as its latin1 bytes instead, and reaches the client unchanged.
 */
import { STATUS_CODES } from 'node:http'
import type { HttpResponse } from 'uWebSockets.js'

const STATUS_LINES: string[] = []

/** `204 No Content`: the status line uWS's writeStatus takes, built once per code. */
export function statusLine(code: number): string {
  return (STATUS_LINES[code] ??= `${code} ${STATUS_CODES[code] ?? 'Unknown'}`)
}

/**
 * Writes a list of header fields with one native call: uWS appends `name: value\r\n`, so the
 * first name with every other field joined into its value by CRLF gives the same bytes as one
 * writeHeader per field, at a fraction of the cost (each call converts two strings and crosses
 * into C++). Only for fields already checked: names are tokens and values hold no control char
 * but HTAB (the upstream parsers refuse them, and the gateway's own fields are built that way).
 */
export function writeFields(res: HttpResponse, fields: readonly string[]): void {
  const n = fields.length
  if (n === 0) return
  let joined = fields[1]!
  for (let i = 2; i < n; i += 2) joined += `\r\n${fields[i]!}: ${fields[i + 1]!}`
  // An ASCII string is as long in UTF-8 (a native scan); anything else goes as latin1 bytes.
  if (Buffer.byteLength(joined, 'utf8') === joined.length) res.writeHeader(fields[0]!, joined)
  else res.writeHeader(fields[0]!, Buffer.from(joined, 'latin1'))
}
