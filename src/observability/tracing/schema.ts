/** Config schema of span export (`tracing:`); absent, nothing of the OpenTelemetry SDK is loaded. */
import { Type, type Static } from '@sinclair/typebox'
import { Duration, HEADER_NAME_PATTERN, HEADER_NAME_REASON } from '../../config/fragments.js'

const OtlpSchema = Type.Object(
  {
    endpoint: Type.String({
      minLength: 1,
      description:
        'The OTLP/HTTP traces URL, whole (e.g. http://collector:4318/v1/traces: nothing is ' +
        'appended). Spans are sent as OTLP/JSON.',
    }),
    headers: Type.Record(Type.String({ pattern: HEADER_NAME_PATTERN }), Type.String(), {
      additionalProperties: false,
      keyReason: HEADER_NAME_REASON,
      description:
        'Headers sent with every export (an API key of the collector: write it as ${ENV_VAR}).',
      default: {},
    }),
    timeout: Duration({
      description:
        'How long one export may take, retries included; the OpenTelemetry SDK default. Also ' +
        'bounds the flush at shutdown.',
      default: '10s',
    }),
  },
  { additionalProperties: false },
)

const BatchSchema = Type.Object(
  {
    max_queue_size: Type.Integer({
      minimum: 1,
      description:
        'Ended spans held for export per worker; past it new spans are dropped, so a slow ' +
        'collector never grows the worker. The SDK default.',
      default: 2048,
    }),
    max_batch_size: Type.Integer({
      minimum: 1,
      description: 'Spans per export request, at most max_queue_size. The SDK default.',
      default: 512,
    }),
    delay: Duration({
      description:
        'Longest time an ended span waits before its batch is sent (a full batch goes at once). ' +
        'The SDK default.',
      default: '5s',
    }),
  },
  { additionalProperties: false, default: {} },
)

export const TracingSchema = Type.Object(
  {
    otlp: OtlpSchema,
    sample_ratio: Type.Number({
      minimum: 0,
      maximum: 1,
      description:
        'Share of new traces exported (trace-id ratio). A request with a valid traceparent ' +
        "follows its sampled flag instead, so a caller's sampled trace is never broken. 1, as " +
        'the SDK defaults: lower it for heavy traffic.',
      default: 1,
    }),
    service_name: Type.String({
      minLength: 1,
      description: 'The service.name resource attribute of every span.',
      default: 'portcullis',
    }),
    resource: Type.Record(Type.String({ minLength: 1 }), Type.String(), {
      description:
        'More resource attributes of every span (deployment.environment.name, service.namespace…).',
      default: {},
    }),
    batch: BatchSchema,
  },
  {
    additionalProperties: false,
    description:
      'OTLP/HTTP export of one span per request, with children for authentication and the ' +
      'upstream call. Absent: no span is recorded and the SDK is not loaded.',
  },
)

export type TracingConfig = Static<typeof TracingSchema>
