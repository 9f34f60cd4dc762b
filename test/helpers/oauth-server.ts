/**
 * A real OAuth 2.0 authorization server for tests: oidc-provider (the certified Node.js OpenID
 * Provider) on loopback, with the client credentials grant and token introspection (RFC 7662)
 * enabled. It issues opaque access tokens (no resource indicator: no JWT format) to its clients,
 * and the gateway introspects them as a client of its own (client_secret_basic unless the
 * client's metadata says otherwise).
 */
import { createServer, type Server } from 'node:http'
import Provider from 'oidc-provider'
import { freePort } from './ports.js'

export interface OAuthClient {
  readonly client_id: string
  /** Absent for a client that authenticates with private_key_jwt. */
  readonly client_secret?: string
  /** Scopes the client may ask for, space-delimited. */
  readonly scope?: string
  /** More client metadata (RFC 7591): token_endpoint_auth_method, jwks… */
  readonly metadata?: Readonly<Record<string, unknown>>
}

export interface OAuthServer {
  readonly issuer: string
  readonly port: number
  /** `${issuer}/token/introspection` */
  readonly introspectionUrl: string
  /** An opaque access token for `client`, by the client credentials grant. */
  issueToken(client: OAuthClient, scope?: string): Promise<string>
  /**
   * Revokes a token at the server (RFC 7009), as the client it was issued to: its introspection
   * says active false from now on.
   */
  revoke(client: OAuthClient, token: string): Promise<void>
  /** Introspection calls the server answered so far. */
  readonly introspections: number
  close(): Promise<void>
}

/** @param clients those that introspect (the gateway's) and those that get tokens */
export async function startOAuthServer(
  clients: readonly OAuthClient[],
  scopes: readonly string[],
): Promise<OAuthServer> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const provider = new Provider(issuer, {
    clients: clients.map(({ metadata, ...client }) => ({
      ...client,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      ...metadata,
    })),
    scopes: [...scopes],
    features: {
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Any registered client (the gateway) may introspect any token of this server.
        allowedPolicy: () => Promise.resolve(true),
      },
      revocation: { enabled: true },
      devInteractions: { enabled: false },
    },
    ttl: { ClientCredentials: 600 },
  })
  // Its warnings about development defaults (keys, cookies) are for deployments, not tests.
  provider.on('server_error', (_ctx: unknown, error: Error) => console.error(error))
  let introspections = 0
  const callback = provider.callback()
  const server: Server = createServer((req, res) => {
    if (req.url?.startsWith('/token/introspection') === true) introspections++
    callback(req, res)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const basic = (client: OAuthClient) =>
    `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret ?? '')}`).toString('base64')}`
  return {
    issuer,
    port,
    introspectionUrl: `${issuer}/token/introspection`,
    get introspections() {
      return introspections
    },
    async issueToken(client, scope) {
      const form = new URLSearchParams({ grant_type: 'client_credentials' })
      if (scope !== undefined) form.set('scope', scope)
      const res = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: basic(client),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: form.toString(),
      })
      const body = (await res.json()) as { access_token?: string }
      if (res.status !== 200 || body.access_token === undefined) {
        throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`)
      }
      return body.access_token
    },
    async revoke(client, token) {
      const res = await fetch(`${issuer}/token/revocation`, {
        method: 'POST',
        headers: {
          authorization: basic(client),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
      })
      if (res.status !== 200) throw new Error(`revocation failed: ${res.status}`)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
