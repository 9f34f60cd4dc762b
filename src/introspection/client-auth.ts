/**
 * How the gateway authenticates to an introspection endpoint (RFC 7662 §2.1: the endpoint
 * requires client authentication): what each call adds to its Authorization header and form
 * body. Secrets are read once at config load; a private_key_jwt assertion is signed per call,
 * since each carries its own jti and a short lifetime.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-2.3.1 client_secret_basic / _post
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.2 private_key_jwt
 */
import { createPrivateKey, randomUUID, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { SignJWT } from 'jose'
import type { ConfigProblem } from '../errors.js'
import type { IntrospectorConfig } from './schema.js'

/** What one call carries to authenticate the gateway. */
export interface ClientCredentials {
  /** The Authorization field value, or null. */
  readonly authorization: string | null
  /** Form fields to append to the body, already encoded, starting with `&`; '' for none. */
  readonly form: string
}

export type ClientAuthenticator = () => ClientCredentials | Promise<ClientCredentials>

/** RFC 7523 §3: the assertion's lifetime; short, since it is made for one call. */
const ASSERTION_LIFETIME_S = 60
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** The authenticator of `config`, or null with problems (a missing secret, an unreadable key). */
export function createClientAuthenticator(
  config: IntrospectorConfig,
  path: string,
  problems: ConfigProblem[],
): ClientAuthenticator | null {
  const id = config.client_id
  if (config.client_auth === 'private_key_jwt') {
    if (config.client_secret !== undefined) {
      problems.push({
        path: `${path}.client_secret`,
        reason: 'private_key_jwt signs with private_key; remove client_secret',
      })
    }
    if (config.private_key === undefined) {
      problems.push({ path: `${path}.private_key`, reason: 'private_key_jwt needs a private_key' })
      return null
    }
    let key: KeyObject
    try {
      key = createPrivateKey(readFileSync(config.private_key))
    } catch (error) {
      problems.push({
        path: `${path}.private_key`,
        reason: `cannot read a private key from ${config.private_key}: ${(error as Error).message}`,
      })
      return null
    }
    const alg = config.assertion_algorithm
    const audience = config.assertion_audience ?? config.endpoint
    const kid = config.key_id ?? null
    return async () => ({
      authorization: null,
      form:
        `&client_id=${formEncode(id)}&client_assertion_type=${formEncode(JWT_BEARER)}` +
        `&client_assertion=${await createAssertion(key, alg, id, audience, kid, Date.now() / 1000)}`,
    })
  }
  if (config.private_key !== undefined) {
    problems.push({
      path: `${path}.private_key`,
      reason: `${config.client_auth} authenticates with client_secret; remove private_key`,
    })
  }
  const secret = config.client_secret
  if (secret === undefined) {
    problems.push({
      path: `${path}.client_secret`,
      reason: `${config.client_auth} needs a client_secret (use \${ENV})`,
    })
    return null
  }
  const fixed: ClientCredentials =
    config.client_auth === 'client_secret_basic'
      ? {
          // RFC 6749 §2.3.1: id and secret are form-encoded before they are joined by ':'.
          authorization: `Basic ${Buffer.from(`${formEncode(id)}:${formEncode(secret)}`).toString('base64')}`,
          form: '',
        }
      : {
          authorization: null,
          form: `&client_id=${formEncode(id)}&client_secret=${formEncode(secret)}`,
        }
  return () => fixed
}

/**
 * A client assertion (RFC 7523 §3): iss and sub are the client id, aud the endpoint (or the
 * configured audience), a fresh jti, a lifetime of a minute.
 */
export function createAssertion(
  key: KeyObject,
  alg: string,
  clientId: string,
  audience: string,
  kid: string | null,
  nowSeconds: number,
): Promise<string> {
  const iat = Math.floor(nowSeconds)
  return new SignJWT({})
    .setProtectedHeader(kid === null ? { alg, typ: 'JWT' } : { alg, typ: 'JWT', kid })
    .setIssuer(clientId)
    .setSubject(clientId)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_S)
    .sign(key)
}

/** application/x-www-form-urlencoded (WHATWG URL §5.2): also encodes ! ' ( ) * and a space as +. */
export function formEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}
