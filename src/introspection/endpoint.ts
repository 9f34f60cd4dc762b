/**
 * One introspection call (RFC 7662 §2.1): `POST token=…&token_type_hint=access_token` as a form,
 * the gateway authenticated as a client, over a keep-alive undici agent of its own. Resolves with
 * the parsed JSON body of a 200; any other outcome (status, garbage, a body too large, a timeout,
 * a refused connection) rejects with an {@link EndpointFailure} naming why.
 */
import { Agent, request } from 'undici'
import type { ClientAuthenticator } from './client-auth.js'
import { formEncode } from './client-auth.js'

/** An introspection answer is a few claims; a larger body is not one. */
const MAX_BODY_BYTES = 64 * 1024
/**
 * A server that cannot introspect this kind of token (a JWT, at some servers) says so with 400
 * `unsupported_token_type` (RFC 7009 §2.2.1, the error RFC 7662 servers reuse): a statement
 * about the token, not a failure of the server, so it counts as an inactive answer.
 */
const UNSUPPORTED_TOKEN_TYPE = 'unsupported_token_type'
const INACTIVE = Object.freeze({ active: false })

export class EndpointFailure extends Error {
  override readonly name = 'EndpointFailure'
}

export class IntrospectionEndpoint {
  readonly url: string
  readonly #timeoutMs: number
  readonly #authenticate: ClientAuthenticator
  readonly #agent: Agent

  constructor(url: string, timeoutMs: number, authenticate: ClientAuthenticator) {
    this.url = url
    this.#timeoutMs = timeoutMs
    this.#authenticate = authenticate
    this.#agent = new Agent({ connect: { timeout: timeoutMs }, keepAliveTimeout: 30_000 })
  }

  /** The parsed body of the endpoint's answer for `token`. */
  async call(token: string): Promise<unknown> {
    const signal = AbortSignal.timeout(this.#timeoutMs)
    let credentials
    try {
      credentials = await this.#authenticate()
    } catch (error) {
      throw new EndpointFailure(`client assertion not signed: ${(error as Error).message}`)
    }
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    }
    if (credentials.authorization !== null) headers['authorization'] = credentials.authorization
    let answer
    try {
      answer = await request(this.url, {
        method: 'POST',
        dispatcher: this.#agent,
        signal,
        headers,
        body: `token=${formEncode(token)}&token_type_hint=access_token${credentials.form}`,
      })
    } catch (error) {
      throw new EndpointFailure(
        signal.aborted ? `no answer within ${this.#timeoutMs} ms` : (error as Error).message,
      )
    }
    const { statusCode, body } = answer
    // Destroying an unfinished body emits an error: with no listener it would end the process.
    body.on('error', () => undefined)
    const chunks: Buffer[] = []
    try {
      if (statusCode !== 200 && statusCode !== 400) {
        throw new EndpointFailure(`status ${statusCode}, 200 expected`)
      }
      let size = 0
      for await (const chunk of body as AsyncIterable<Buffer>) {
        size += chunk.length
        if (size > MAX_BODY_BYTES) throw new EndpointFailure(`body exceeds ${MAX_BODY_BYTES} bytes`)
        chunks.push(chunk)
      }
    } catch (error) {
      if (error instanceof EndpointFailure) throw error
      throw new EndpointFailure(
        signal.aborted ? `no answer within ${this.#timeoutMs} ms` : (error as Error).message,
      )
    } finally {
      body.destroy()
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new EndpointFailure(statusCode === 200 ? 'body is not JSON' : `status ${statusCode}`)
    }
    if (statusCode === 200) return parsed
    const error = (parsed as { error?: unknown } | null)?.error
    if (error === UNSUPPORTED_TOKEN_TYPE) return INACTIVE
    throw new EndpointFailure(`status ${statusCode} (${String(error)}), 200 expected`)
  }

  close(): void {
    void this.#agent.close()
  }
}
