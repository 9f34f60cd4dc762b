/**
 * Config schema of `headers.consumer`: the headers that tell an upstream which consumer calls.
 * Read by the forward stage (stages/forward/consumer-headers.ts); part of the `headers:` section
 * (proxy/schema.ts), whose names the proxy removes from client requests.
 */
import { Type, type Static } from '@sinclair/typebox'
import { HEADER_NAME_PATTERN, HEADER_NAME_REASON, Pattern } from '../config/fragments.js'

export const ConsumerHeadersSchema = Type.Object(
  {
    id: Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON, {
      description: "Header carrying the consumer's name to the upstream.",
      default: 'X-Consumer-Id',
    }),
    groups: Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON, {
      description: 'Header carrying the consumer\'s groups, joined by ", " (omitted when none).',
      default: 'X-Consumer-Groups',
    }),
    metadata: Type.Record(
      Type.String({ minLength: 1 }),
      Pattern(HEADER_NAME_PATTERN, HEADER_NAME_REASON),
      {
        description:
          'Consumer metadata key → header ({ tenant: X-Tenant-Id }); a consumer without the key, ' +
          'or whose value is not visible ASCII, sends no such header.',
        default: {},
      },
    ),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Headers telling the upstream which consumer calls, on requests whose credential names a ' +
      'known consumer (an API key, a JWT through issuers[].consumer_claim). Every one of them is ' +
      "removed from every client's request, in any letter case and with _ for -.",
  },
)

export type ConsumerHeadersConfig = Static<typeof ConsumerHeadersSchema>
