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
  },
  { additionalProperties: false, default: {} },
)

export type LogConfig = Static<typeof LogSchema>
