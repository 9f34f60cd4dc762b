/**
 * Requests signed by an independent RFC 9421 implementation (the `http-message-signatures`
 * package), so the gateway is tested against signatures it did not make.
 */
import { createSigner, httpbis } from 'http-message-signatures'

export interface SignOptions {
  readonly method: string
  /** The full URL the client requests: the library derives @target-uri, @path… from it. */
  readonly url: string
  /** Request fields as the client sends them (covered ones must be among them). */
  readonly headers?: Record<string, string>
  readonly keyId: string
  readonly secret: Buffer | string
  /** Covered components, in order. */
  readonly components: readonly string[]
  /** Seconds since the epoch; null leaves created out; now by default. */
  readonly created?: number | null
  readonly expires?: number
  /** The alg parameter; omitted when null. */
  readonly alg?: string | null
  readonly label?: string
}

/** The request's fields with Signature-Input and Signature added, names in lower case. */
export async function signedHeaders(options: SignOptions): Promise<Record<string, string>> {
  const headers = options.headers ?? {}
  const params = ['keyid', 'created']
  if (options.alg !== null) params.push('alg')
  if (options.expires !== undefined) params.push('expires')
  const created =
    options.created === null ? null : new Date((options.created ?? nowSeconds()) * 1000)
  const signed = await httpbis.signMessage(
    {
      key: createSigner(options.secret, 'hmac-sha256', options.keyId),
      name: options.label ?? 'sig1',
      fields: [...options.components],
      params,
      paramValues: {
        created,
        ...(options.alg !== undefined && options.alg !== null ? { alg: options.alg } : {}),
        ...(options.expires !== undefined ? { expires: new Date(options.expires * 1000) } : {}),
      },
    },
    { method: options.method, url: options.url, headers: { ...headers } },
  )
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(signed.headers)) {
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000)
}
