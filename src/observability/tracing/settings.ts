/**
 * `tracing:` compiled: numbers in their units and the rules the schema cannot say, each as a
 * path and a reason. Loads nothing of the OpenTelemetry SDK.
 */
import { parseDuration } from '../../config/units.js'
import type { ConfigProblem } from '../../errors.js'
import type { TracingConfig } from './schema.js'

export interface TracingSettings {
  /** The OTLP/HTTP traces URL. */
  readonly endpoint: string
  readonly headers: Readonly<Record<string, string>>
  readonly timeoutMs: number
  /** 0…1: the share of new traces sampled. */
  readonly sampleRatio: number
  readonly serviceName: string
  readonly resource: Readonly<Record<string, string>>
  readonly maxQueueSize: number
  readonly maxBatchSize: number
  readonly delayMs: number
}

/** null when tracing is not configured, or when a problem was found (pushed to `problems`). */
export function compileTracing(
  config: TracingConfig | undefined,
  problems: ConfigProblem[],
): TracingSettings | null {
  if (config === undefined) return null
  const found = problems.length
  const endpoint = config.otlp.endpoint
  let url: URL | null = null
  try {
    url = new URL(endpoint)
  } catch {
    problems.push({ path: 'tracing.otlp.endpoint', reason: `must be a URL (got "${endpoint}")` })
  }
  if (url !== null && url.protocol !== 'http:' && url.protocol !== 'https:') {
    problems.push({
      path: 'tracing.otlp.endpoint',
      reason: `must be an http: or https: URL: OTLP/HTTP (got "${url.protocol}")`,
    })
  }
  if (url !== null && (url.username !== '' || url.password !== '')) {
    problems.push({
      path: 'tracing.otlp.endpoint',
      reason: 'must not carry credentials: put them in tracing.otlp.headers as ${ENV_VAR}',
    })
  }
  const timeoutMs = parseDuration(config.otlp.timeout)
  if (timeoutMs <= 0) {
    problems.push({ path: 'tracing.otlp.timeout', reason: 'must be more than 0s' })
  }
  const batch = config.batch
  if (batch.max_batch_size > batch.max_queue_size) {
    problems.push({
      path: 'tracing.batch.max_batch_size',
      reason: `must be at most max_queue_size (${batch.max_queue_size}): a batch comes from the queue`,
    })
  }
  const delayMs = parseDuration(batch.delay)
  if (delayMs <= 0) problems.push({ path: 'tracing.batch.delay', reason: 'must be more than 0s' })
  if (problems.length > found) return null
  return {
    endpoint: url!.href,
    headers: config.otlp.headers,
    timeoutMs,
    sampleRatio: config.sample_ratio,
    serviceName: config.service_name,
    resource: config.resource,
    maxQueueSize: batch.max_queue_size,
    maxBatchSize: batch.max_batch_size,
    delayMs,
  }
}

export function sameTracing(a: TracingSettings | null, b: TracingSettings | null): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}
