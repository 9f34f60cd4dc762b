/**
 * `headers.consumer` compiled: which headers tell the upstream the consumer of a request (its
 * name, its groups, chosen metadata), and their values for one consumer. The names are removed
 * from every client request (runtime.ts adds them to the identity headers), so an upstream can
 * trust them on any route.
 */
import type { Consumer } from '../../consumers/consumer.js'
import type { ConfigProblem } from '../../errors.js'
import { foldHeaderName, isGatewayOwned } from '../../http/field-names.js'
import type { ConsumerHeadersConfig } from '../../consumers/headers-schema.js'

export interface ConsumerHeaders {
  /** Lower-case names. */
  readonly id: string
  readonly groups: string
  /** [metadata key, lower-case header name]. */
  readonly metadata: readonly (readonly [string, string])[]
  /** Every name above. */
  readonly names: readonly string[]
}

/** Visible ASCII and space only (RFC 9110 §5.5 field-vchar, without obs-text), not empty-edged. */
const SAFE_VALUE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/

export function compileConsumerHeaders(
  config: ConsumerHeadersConfig,
  problems: ConfigProblem[],
): ConsumerHeaders {
  const seen = new Set<string>()
  const take = (path: string, name: string): string => {
    const header = name.toLowerCase()
    const folded = foldHeaderName(header)
    if (isGatewayOwned(header) || folded === 'authorization' || folded === 'cookie') {
      problems.push({
        path,
        reason: `${name} is a header the gateway sets or reads itself; choose another name`,
      })
    } else if (seen.has(folded)) {
      problems.push({ path, reason: `${name} already carries another consumer field` })
    }
    seen.add(folded)
    return header
  }
  const id = take('headers.consumer.id', config.id)
  const groups = take('headers.consumer.groups', config.groups)
  const metadata = Object.entries(config.metadata).map(
    ([key, name]) => [key, take(`headers.consumer.metadata.${key}`, name)] as const,
  )
  return { id, groups, metadata, names: [id, groups, ...metadata.map(([, header]) => header)] }
}

/** The headers of `consumer`, flat [name, value…]. */
export function consumerHeaderList(headers: ConsumerHeaders, consumer: Consumer): string[] {
  const out = [headers.id, consumer.name]
  const groups = consumer.groups.join(', ')
  if (groups !== '' && SAFE_VALUE.test(groups)) out.push(headers.groups, groups)
  for (const [key, header] of headers.metadata) {
    const value = Object.hasOwn(consumer.metadata, key) ? consumer.metadata[key] : undefined
    // Metadata comes from operators, not callers, but a value that cannot be a header is left
    // out rather than sent raw.
    if (value !== undefined && SAFE_VALUE.test(value)) out.push(header, value)
  }
  return out
}
