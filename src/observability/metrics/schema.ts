/** Config schema of the Prometheus metrics. */
import { Type, type Static } from '@sinclair/typebox'

export const MetricsSchema = Type.Object(
  {
    enabled: Type.Boolean({
      description:
        'Count requests, authentication decisions and durations, and serve them as /metrics on ' +
        'the status listener. false: the request path does no metric work (no counter, no ' +
        'histogram, no clock read of its own) and /metrics answers 404. Applies on reload.',
      // On: an operator expects a gateway to be observable without asking.
      default: true,
    }),
  },
  { additionalProperties: false, default: {} },
)

export type MetricsConfig = Static<typeof MetricsSchema>
