/** Config schema of logging. */
import { Type, type Static } from '@sinclair/typebox'

export const LogSchema = Type.Object(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { description: 'Least severe level written.', default: 'info' },
    ),
    access: Type.Boolean({
      description: 'One JSON access-log line per request (route, status, durations, request id).',
      default: true,
    }),
    audit: Type.Boolean({
      description:
        'One JSON audit line per authentication decision (route, issuer, sub, kid, outcome, ' +
        'reason, verification time); never the token, at most its first 8 characters.',
      default: true,
    }),
  },
  { additionalProperties: false, default: {} },
)

export type LogConfig = Static<typeof LogSchema>
