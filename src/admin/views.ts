/**
 * Records as the admin API shows them: a key never with its hash, an HMAC credential never with
 * its secret, a consumer with its owner.
 */
import type { Consumer } from '../consumers/consumer.js'
import type { StoredConsumer, StoredHmacCredential, StoredKey } from '../keys/records.js'
import type { ConsumerViewOf, HmacViewOf, KeyViewOf } from './api-schemas.js'

export function configConsumerView(consumer: Consumer): ConsumerViewOf {
  return consumerView(consumer, 'config', null, null)
}

export function storedConsumerView(consumer: StoredConsumer): ConsumerViewOf {
  return consumerView(consumer, 'store', consumer.created_at, consumer.updated_at)
}

function consumerView(
  consumer: Consumer | StoredConsumer,
  source: ConsumerViewOf['source'],
  createdAt: string | null,
  updatedAt: string | null,
): ConsumerViewOf {
  return {
    name: consumer.name,
    groups: [...consumer.groups],
    tier: consumer.tier,
    metadata: { ...consumer.metadata },
    disabled: consumer.disabled,
    ip:
      consumer.ip === undefined || consumer.ip === null
        ? null
        : { allow: [...(consumer.ip.allow ?? [])], deny: [...(consumer.ip.deny ?? [])] },
    source,
    created_at: createdAt,
    updated_at: updatedAt,
  }
}

export function keyView(key: StoredKey): KeyViewOf {
  return {
    id: key.id,
    consumer: key.consumer,
    prefix: key.prefix,
    last4: key.last4,
    label: key.label,
    scopes: [...key.scopes],
    not_before: key.not_before,
    expires_at: key.expires_at,
    allow_ips: [...key.allow_ips],
    deny_ips: [...(key.deny_ips ?? [])],
    state: key.state,
    created_at: key.created_at,
    revoked_at: key.revoked_at,
    rotated_from: key.rotated_from,
    rotated_to: key.rotated_to,
  }
}

export function hmacView(credential: StoredHmacCredential): HmacViewOf {
  return {
    key_id: credential.key_id,
    consumer: credential.consumer,
    algorithm: credential.algorithm,
    scopes: [...credential.scopes],
    label: credential.label,
    state: credential.state,
    expires_at: credential.expires_at,
    encryption_key: credential.secret.key,
    created_at: credential.created_at,
    revoked_at: credential.revoked_at,
    rotated_from: credential.rotated_from,
    rotated_to: credential.rotated_to,
  }
}
