/**
 * /hmac-credentials and /consumers/{name}/hmac-credentials: shared secrets of the credential
 * store for requests signed per RFC 9421 (`auth: hmac`). A secret exists in clear only in the
 * answer that generates it (create, rotate without a `secret`); the store keeps it encrypted
 * (state/secret-box.ts) and no other answer, log or audit line shows it. A key id the config
 * declares is the config's: the config wins on a clash, so the API neither creates nor changes it.
 */
import type { ConfigProblem } from '../errors.js'
import { parseDuration } from '../config/units.js'
import { decodeSecret, MIN_SECRET_BYTES, type SecretEncoding } from '../hmac/keys.js'
import { parseRfc3339 } from '../keys/time.js'
import type { CredentialStore } from '../state/credential-store.js'
import { AdminError, notFound, refuseProblems } from './admin-error.js'
import {
  HmacRotateBody,
  HmacView,
  NewHmacBody,
  NewHmacView,
  Page,
  ReencryptionView,
  RotatedHmacView,
  type HmacRotateInput,
  type NewHmacInput,
} from './api-schemas.js'
import { requireStore } from './consumer-routes.js'
import { storePage } from './paging.js'
import type { AdminRoute } from './route.js'
import type { AdminServices } from './services.js'
import { hmacView } from './views.js'

export const HMAC_ROUTES: readonly AdminRoute[] = [
  {
    method: 'POST',
    path: '/consumers/{name}/hmac-credentials',
    operationId: 'createHmacCredential',
    summary:
      'Create an HMAC credential for a consumer; a generated secret is in the answer, this once.',
    body: NewHmacBody,
    ok: {
      status: 201,
      description: 'Created: the secret (if generated) and the record.',
      schema: NewHmacView,
    },
    failures: [404, 409, 503],
    change: 'hmac.create',
    async handle({ params, body, services }) {
      const consumer = params['name']!
      const input = body as NewHmacInput
      const problems: ConfigProblem[] = []
      const secret = readSecret(input.secret, input.secret_encoding, problems)
      checkExpiry(input.expires_at, problems)
      refuseProblems(problems)
      const store = sealingStore(services)
      if (input.key_id !== undefined) refuseConfigOwned(services, input.key_id)
      // The store, not this worker's copy of it: a consumer created a moment ago may not be here.
      if (
        services.consumer(consumer) === undefined &&
        (await store.getConsumer(consumer)) === null
      ) {
        throw notFound(`Consumer "${consumer}"`)
      }
      const issued = await store.createHmac({
        consumer,
        key_id: input.key_id ?? null,
        secret,
        algorithm: input.algorithm ?? 'hmac-sha256',
        label: input.label ?? null,
        scopes: input.scopes ?? [],
        expires_at: input.expires_at ?? null,
      })
      return {
        status: 201,
        body: { secret: shown(issued.secret), record: hmacView(issued.record) },
        target: issued.record.key_id,
      }
    },
  },
  {
    method: 'GET',
    path: '/hmac-credentials',
    operationId: 'listHmacCredentials',
    summary: 'List HMAC credentials of the store, or of one consumer; never their secrets.',
    query: [
      { name: 'consumer', kind: 'string', description: 'Only the credentials of this consumer.' },
      { name: 'cursor', kind: 'string', description: 'next_cursor of the previous page.' },
      { name: 'limit', kind: 'limit', description: 'Items per page, 1 to 500 (default 50).' },
    ],
    ok: { status: 200, description: 'A page.', schema: Page(HmacView) },
    failures: [503],
    change: null,
    handle({ query, services }) {
      const store = requireStore(services)
      return storePage(query, '/hmac-credentials', store.listHmac.bind(store), hmacView)
    },
  },
  {
    method: 'GET',
    path: '/hmac-credentials/{key_id}',
    operationId: 'getHmacCredential',
    summary: 'Read an HMAC credential of the store, without its secret.',
    ok: { status: 200, description: 'The record.', schema: HmacView },
    failures: [404, 503],
    change: null,
    async handle({ params, services }) {
      const keyId = params['key_id']!
      const found = await requireStore(services).getHmac(keyId)
      if (found === null) throw notFound(`HMAC credential "${keyId}"`)
      return { status: 200, body: hmacView(found) }
    },
  },
  {
    method: 'POST',
    path: '/hmac-credentials/{key_id}/revoke',
    operationId: 'revokeHmacCredential',
    summary: 'Revoke an HMAC credential: every worker refuses its signatures within a second.',
    ok: { status: 200, description: 'The revoked record.', schema: HmacView },
    failures: [404, 409, 503],
    change: 'hmac.revoke',
    async handle({ params, services }) {
      const keyId = params['key_id']!
      refuseConfigOwned(services, keyId)
      const revoked = await requireStore(services).revokeHmac(keyId)
      if (revoked === null) throw notFound(`HMAC credential "${keyId}"`)
      return { status: 200, body: hmacView(revoked), target: keyId }
    },
  },
  {
    method: 'POST',
    path: '/hmac-credentials/{key_id}/rotate',
    operationId: 'rotateHmacCredential',
    summary:
      'Replace an HMAC credential with a new key id and secret; the old one keeps verifying for ' +
      'the grace period. A generated secret is in the answer, this once.',
    body: HmacRotateBody,
    ok: {
      status: 201,
      description: 'The new secret (if generated), the new record and the old one.',
      schema: RotatedHmacView,
    },
    failures: [404, 409, 503],
    change: 'hmac.rotate',
    async handle({ params, body, services }) {
      const keyId = params['key_id']!
      const input = body as HmacRotateInput
      const problems: ConfigProblem[] = []
      const secret = readSecret(input.secret, input.secret_encoding, problems)
      refuseProblems(problems)
      refuseConfigOwned(services, keyId)
      if (input.key_id !== undefined) refuseConfigOwned(services, input.key_id)
      const rotated = await sealingStore(services).rotateHmac(keyId, parseDuration(input.grace), {
        key_id: input.key_id ?? null,
        secret,
      })
      if (rotated === null) throw notFound(`HMAC credential "${keyId}"`)
      return {
        status: 201,
        body: {
          secret: shown(rotated.secret),
          record: hmacView(rotated.record),
          previous: hmacView(rotated.previous),
        },
        target: `${keyId} -> ${rotated.record.key_id}`,
      }
    },
  },
  {
    method: 'POST',
    path: '/hmac-secrets/reencrypt',
    operationId: 'reencryptHmacCredentials',
    summary:
      'Re-encrypt every active HMAC secret with the first of redis.encryption_keys, so an older ' +
      'key can be removed; key ids and secrets stay.',
    ok: { status: 200, description: 'What was re-encrypted.', schema: ReencryptionView },
    failures: [503],
    change: 'hmac.reencrypt',
    async handle({ services }) {
      const outcome = await sealingStore(services).reencryptHmac()
      return { status: 200, body: outcome, target: outcome.encryption_key }
    },
  },
  {
    method: 'DELETE',
    path: '/hmac-credentials/{key_id}',
    operationId: 'deleteHmacCredential',
    summary: 'Delete an HMAC credential: every worker refuses its signatures within a second.',
    ok: { status: 204, description: 'Deleted.', schema: null },
    failures: [404, 409, 503],
    change: 'hmac.delete',
    async handle({ params, services }) {
      const keyId = params['key_id']!
      refuseConfigOwned(services, keyId)
      if (!(await requireStore(services).deleteHmac(keyId))) {
        throw notFound(`HMAC credential "${keyId}"`)
      }
      return { status: 204, body: null, target: keyId }
    },
  },
]

/** The store, able to seal secrets: 503 encryption_not_configured without encryption keys. */
function sealingStore(services: AdminServices): CredentialStore {
  const store = requireStore(services)
  if (!store.canSealSecrets) {
    throw new AdminError(
      503,
      'encryption_not_configured',
      'redis.encryption_keys is empty: HMAC secrets are stored encrypted, so the config needs ' +
        'at least one key (32 bytes, base64) before the store can hold one.',
    )
  }
  return store
}

function refuseConfigOwned(services: AdminServices, keyId: string): void {
  if (services.isConfigHmacKey(keyId)) {
    throw new AdminError(
      409,
      'config_owned',
      `HMAC key id "${keyId}" is declared in the config file: change it there and reload.`,
    )
  }
}

/**
 * The bytes of a secret the request gave; null when it gave none (the store generates one). Its
 * problems never quote it.
 */
function readSecret(
  text: string | undefined,
  encoding: SecretEncoding | undefined,
  problems: ConfigProblem[],
): Buffer | null {
  if (text === undefined) {
    if (encoding !== undefined) {
      problems.push({ path: 'secret_encoding', reason: 'applies to a secret: give `secret` too' })
    }
    return null
  }
  const bytes = decodeSecret(text, encoding ?? 'utf8')
  if (bytes === null) {
    problems.push({
      path: 'secret',
      reason: `is not valid ${encoding ?? 'utf8'} (secret_encoding)`,
    })
    return null
  }
  if (bytes.length < MIN_SECRET_BYTES) {
    problems.push({
      path: 'secret',
      reason: `must be at least ${MIN_SECRET_BYTES} bytes once decoded, the HMAC's output length (got ${bytes.length})`,
    })
    return null
  }
  return bytes
}

function checkExpiry(expiresAt: string | null | undefined, problems: ConfigProblem[]): void {
  if (expiresAt === undefined || expiresAt === null) return
  if (Number.isNaN(parseRfc3339(expiresAt))) {
    problems.push({ path: 'expires_at', reason: 'is not a date that exists' })
  }
}

/** A generated secret as the answer shows it: base64url, the encoding with no escaping anywhere. */
function shown(secret: Buffer | null): string | null {
  return secret === null ? null : secret.toString('base64url')
}
