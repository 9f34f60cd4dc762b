/**
 * HTTP Strict Transport Security (RFC 6797) per route: the `Strict-Transport-Security` field the
 * gateway adds to every answer of the route (proxied or its own error) on a TLS listener. Never
 * over plain HTTP, where a UA must ignore it anyway (RFC 6797 §7.2, §8.1).
 */
import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../config/fragments.js'
import { parseDuration } from '../config/units.js'

export const HstsSchema = Type.Object(
  {
    max_age: Duration({
      description:
        'How long browsers remember to use HTTPS only (max-age, RFC 6797 §6.1.1). 365d: the ' +
        'at least one year that preload lists require.',
      default: '365d',
    }),
    include_subdomains: Type.Boolean({
      description: 'Adds includeSubDomains: every subdomain is HTTPS-only as well.',
      default: false,
    }),
    preload: Type.Boolean({
      description:
        "Adds preload, the consent browsers' preload lists ask for (not part of RFC 6797); " +
        'those lists also want include_subdomains and a max_age of a year or more.',
      default: false,
    }),
  },
  {
    additionalProperties: false,
    description:
      'Strict-Transport-Security on every answer of this route over https or mtls (never over ' +
      'http, RFC 6797 §7.2). Off unless set.',
  },
)

export type HstsConfig = Static<typeof HstsSchema>

/** The field value, built once per route at compile time. */
export function hstsValue(config: HstsConfig): string {
  const seconds = Math.floor(parseDuration(config.max_age) / 1000)
  return (
    `max-age=${seconds}` +
    (config.include_subdomains ? '; includeSubDomains' : '') +
    (config.preload ? '; preload' : '')
  )
}
