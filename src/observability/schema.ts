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
    audit_file: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'Where audit lines go, appended; every worker writes the same file. Unset: stdout, ' +
          'with the other lines. A change takes a restart.',
      }),
    ),
    audit_chain_key: Type.Optional(
      Type.String({
        minLength: 16,
        description:
          'Seals every audit line into an HMAC-SHA256 chain with this key (write it as ' +
          '${ENV_VAR}); `portcullis audit verify` checks the chain. Unset: no chain. A change ' +
          'takes a restart.',
      }),
    ),
  },
  { additionalProperties: false, default: {} },
)

export type LogConfig = Static<typeof LogSchema>
