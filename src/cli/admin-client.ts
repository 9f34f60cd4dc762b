/**
 * The CLI's side of the admin API: one JSON call per request, with the admin token as a bearer
 * credential. An answer other than 2xx, or no answer, becomes PCL_ERR_ADMIN (exit 1) with the
 * API's code, message and problems.
 */
import { PortcullisError } from '../errors.js'

/** An admin call that hangs this long is abandoned: the API answers at once or not at all. */
const TIMEOUT_MS = 30_000

export class AdminClient {
  readonly #base: string
  readonly #token: string

  constructor(url: string, token: string) {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new PortcullisError(
        'PCL_ERR_CLI_USAGE',
        `--admin-url takes a URL such as http://127.0.0.1:8082 (got "${url}")`,
      )
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new PortcullisError(
        'PCL_ERR_CLI_USAGE',
        `--admin-url takes an http:// or https:// URL (got "${url}")`,
      )
    }
    this.#base = parsed.href.replace(/\/+$/, '')
    this.#token = token
  }

  /** The parsed JSON body of a 2xx answer (null for 204). */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    let response: Response
    try {
      response = await fetch(`${this.#base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause
      throw new PortcullisError(
        'PCL_ERR_ADMIN',
        `cannot reach the admin API at ${this.#base}: ${cause?.code ?? cause?.message ?? (error as Error).message}`,
      )
    }
    const text = await response.text()
    const parsed: unknown = text === '' ? null : safeJson(text)
    if (response.ok) return parsed
    const failure = (parsed ?? {}) as {
      error?: string
      message?: string
      problems?: { path: string; reason: string }[]
    }
    const problems = (failure.problems ?? []).map((p) => `\n  - ${p.path || '(body)'}: ${p.reason}`)
    throw new PortcullisError(
      'PCL_ERR_ADMIN',
      `${method} ${path}: ${response.status} ${failure.error ?? response.statusText}: ${failure.message ?? text}${problems.join('')}`,
    )
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return null
  }
}
