/**
 * A small OTLP/HTTP collector for tests: a node:http server taking POST /v1/traces in OTLP/JSON,
 * keeping every span it received with its resource's attributes, flattened for assertions.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { waitUntil } from './wait.js'

/** OTLP span kinds (trace.proto SpanKind). */
export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const
/** OTLP status codes (trace.proto Status.StatusCode). */
export const STATUS_CODE = { unset: 0, ok: 1, error: 2 } as const

export type AttributeValue = string | number | boolean

export interface ReceivedSpan {
  readonly traceId: string
  readonly spanId: string
  /** '' for a root span. */
  readonly parentSpanId: string
  readonly name: string
  readonly kind: number
  readonly startNs: bigint
  readonly endNs: bigint
  readonly attributes: Readonly<Record<string, AttributeValue>>
  readonly status: number
  readonly resource: Readonly<Record<string, AttributeValue>>
}

export interface Collector {
  /** The traces URL: http://127.0.0.1:PORT/v1/traces. */
  readonly url: string
  readonly spans: readonly ReceivedSpan[]
  /** Export requests received, accepted or not. */
  readonly requests: number
  /** The headers of every export request, in order. */
  readonly exportHeaders: readonly IncomingHttpHeaders[]
  /** Answer every export with this status from now on (200: accept). */
  answerWith(status: number): void
  /** Resolves once `count` spans of `traceId` arrived. */
  waitForTrace(traceId: string, count: number, timeoutMs?: number): Promise<ReceivedSpan[]>
  close(): Promise<void>
}

interface OtlpKeyValue {
  readonly key: string
  readonly value: {
    readonly stringValue?: string
    readonly intValue?: number | string
    readonly doubleValue?: number
    readonly boolValue?: boolean
  }
}

interface OtlpSpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId?: string
  readonly name: string
  readonly kind: number
  readonly startTimeUnixNano: string | number
  readonly endTimeUnixNano: string | number
  readonly attributes?: readonly OtlpKeyValue[]
  readonly status?: { readonly code?: number }
}

interface OtlpTraces {
  readonly resourceSpans: readonly {
    readonly resource?: { readonly attributes?: readonly OtlpKeyValue[] }
    readonly scopeSpans: readonly { readonly spans?: readonly OtlpSpan[] }[]
  }[]
}

function attributesOf(list: readonly OtlpKeyValue[] = []): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {}
  for (const { key, value } of list) {
    if (value.stringValue !== undefined) out[key] = value.stringValue
    else if (value.intValue !== undefined) out[key] = Number(value.intValue)
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue
    else if (value.boolValue !== undefined) out[key] = value.boolValue
  }
  return out
}

/** OTLP/JSON ids are hex strings (the OTLP/JSON mapping's exception to base64 bytes). */
function idOf(id: string | undefined): string {
  return id === undefined ? '' : id.toLowerCase()
}

export async function startCollector(): Promise<Collector> {
  const spans: ReceivedSpan[] = []
  let requests = 0
  const exportHeaders: IncomingHttpHeaders[] = []
  let answer = 200
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      requests++
      exportHeaders.push(req.headers)
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end()
        return
      }
      if (answer !== 200) {
        res.writeHead(answer, { 'content-type': 'application/json' }).end('{}')
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces
      for (const resourceSpans of body.resourceSpans) {
        const resource = attributesOf(resourceSpans.resource?.attributes)
        for (const scope of resourceSpans.scopeSpans) {
          for (const span of scope.spans ?? []) {
            spans.push({
              traceId: idOf(span.traceId),
              spanId: idOf(span.spanId),
              parentSpanId: idOf(span.parentSpanId),
              name: span.name,
              kind: span.kind,
              startNs: BigInt(span.startTimeUnixNano),
              endNs: BigInt(span.endTimeUnixNano),
              attributes: attributesOf(span.attributes),
              status: span.status?.code ?? 0,
              resource,
            })
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    get requests() {
      return requests
    },
    exportHeaders,
    answerWith(status: number) {
      answer = status
    },
    async waitForTrace(traceId: string, count: number, timeoutMs = 10_000) {
      const ofTrace = () => spans.filter((span) => span.traceId === traceId)
      await waitUntil(() => ofTrace().length >= count, {
        timeoutMs,
        what: `${count} spans of trace ${traceId}`,
      })
      return ofTrace()
    },
    close() {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
