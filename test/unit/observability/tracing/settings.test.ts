import { describe, expect, it } from 'vitest'
import { createValidator } from '../../../../src/config/validate.js'
import { PortcullisError, type ConfigProblem } from '../../../../src/errors.js'
import { TracingSchema, type TracingConfig } from '../../../../src/observability/tracing/schema.js'
import { compileTracing } from '../../../../src/observability/tracing/settings.js'

const validate = createValidator(TracingSchema)

function problemsOf(data: unknown): readonly ConfigProblem[] {
  try {
    validate(data)
  } catch (error) {
    if (error instanceof PortcullisError) return error.problems
    throw error
  }
  return []
}

function compiled(data: unknown): { settings: unknown; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  const settings = compileTracing(validate(data) as TracingConfig, problems)
  return { settings, problems }
}

const ENDPOINT = 'http://collector:4318/v1/traces'

describe('tracing settings', () => {
  it('fills the defaults around an endpoint', () => {
    expect(compiled({ otlp: { endpoint: ENDPOINT } })).toEqual({
      problems: [],
      settings: {
        endpoint: ENDPOINT,
        headers: {},
        timeoutMs: 10_000,
        sampleRatio: 1,
        serviceName: 'portcullis',
        resource: {},
        maxQueueSize: 2048,
        maxBatchSize: 512,
        delayMs: 5000,
      },
    })
  })

  it('is null when tracing is not configured', () => {
    expect(compileTracing(undefined, [])).toBeNull()
  })

  it.each([
    [{ otlp: { endpoint: ENDPOINT }, sample_ratio: 1.5 }, 'sample_ratio'],
    [{ otlp: { endpoint: ENDPOINT }, sample_ratio: -0.1 }, 'sample_ratio'],
    [{ otlp: { endpoint: ENDPOINT, timeout: 'soon' } }, 'otlp.timeout'],
    [{ otlp: { endpoint: ENDPOINT, headers: { 'bad name': 'x' } } }, 'otlp.headers'],
    [{ otlp: { endpoint: ENDPOINT }, batch: { max_queue_size: 0 } }, 'batch.max_queue_size'],
    [{ otlp: { endpoint: ENDPOINT }, exporter: 'zipkin' }, 'exporter'],
    [{ sample_ratio: 1 }, 'otlp'],
  ])('refuses %j at its path', (data, path) => {
    const problems = problemsOf(data)
    expect(problems.length).toBeGreaterThan(0)
    expect(problems.map((p) => p.path).join(' ')).toContain(path)
  })

  it.each([
    ['/v1/traces', 'must be a URL'],
    ['collector:4318', 'must be an http: or https: URL'],
    ['grpc://collector:4317', 'must be an http: or https: URL'],
    ['https://user:secret@collector/v1/traces', 'must not carry credentials'],
  ])('refuses the endpoint %s', (endpoint, reason) => {
    const { settings, problems } = compiled({ otlp: { endpoint } })
    expect(settings).toBeNull()
    expect(problems).toHaveLength(1)
    expect(problems[0]!.path).toBe('tracing.otlp.endpoint')
    expect(problems[0]!.reason).toContain(reason)
    // A credential is never repeated in the reason.
    expect(problems[0]!.reason).not.toContain('secret')
  })

  it('refuses a batch larger than the queue it is taken from', () => {
    const { problems } = compiled({
      otlp: { endpoint: ENDPOINT },
      batch: { max_queue_size: 100, max_batch_size: 200 },
    })
    expect(problems).toEqual([
      {
        path: 'tracing.batch.max_batch_size',
        reason: 'must be at most max_queue_size (100): a batch comes from the queue',
      },
    ])
  })
})
