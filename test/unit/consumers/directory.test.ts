import { describe, expect, it } from 'vitest'
import { CredentialDirectory } from '../../../src/consumers/directory.js'
import { createHmacKey } from '../../../src/hmac/keys.js'
import type { ConsumersConfig } from '../../../src/consumers/schema.js'
import type { ConfigProblem } from '../../../src/errors.js'
import { hashOf, storedConsumer, storedKey } from './fixtures.js'

function configured(consumers: ConsumersConfig): CredentialDirectory {
  const directory = new CredentialDirectory()
  const problems: ConfigProblem[] = []
  directory.setConfigured(consumers, problems)
  expect(problems).toEqual([])
  return directory
}

function configConsumer(name: string, keys: ConsumersConfig[number]['keys'] = []) {
  return { name, groups: ['config'], metadata: {}, disabled: false, keys, hmac_credentials: [] }
}

describe('CredentialDirectory', () => {
  describe('when the config and the store name the same consumer', () => {
    it('answers with the config’s', () => {
      const directory = configured([configConsumer('acme')])
      directory.replaceStored([storedConsumer('acme', { groups: ['store'] })], [])
      expect(directory.consumer('acme')).toMatchObject({ source: 'config', groups: ['config'] })
      directory.applyConsumer('acme', storedConsumer('acme', { groups: ['changed'] }))
      expect(directory.consumer('acme')?.source).toBe('config')
    })

    it('answers with the store’s once the config drops it', () => {
      const directory = configured([configConsumer('acme')])
      directory.replaceStored([storedConsumer('acme', { groups: ['store'] })], [])
      directory.setConfigured([], [])
      expect(directory.consumer('acme')).toMatchObject({ source: 'store', groups: ['store'] })
    })
  })

  describe('when the config and the store hold the same key hash', () => {
    it('answers with the config’s key', () => {
      const hash = hashOf('shared')
      const directory = configured([
        configConsumer('acme', [{ hash, scopes: ['config'], allow_ips: [] }]),
      ])
      directory.replaceStored([], [storedKey('key_a', 'other', { hash })])
      expect(directory.keyByHash(hash)).toMatchObject({ consumer: 'acme' })
      expect(directory.sizes).toEqual({ consumers: 1, keys: 1 })
    })
  })

  describe('when the config and the store hold the same HMAC key id', () => {
    const storeKey = (keyId: string) =>
      createHmacKey(
        'other',
        { key_id: keyId, algorithm: 'hmac-sha256', scopes: ['store'] },
        Buffer.alloc(32, 2),
      )

    it('answers with the config’s credential, and the store’s once the config drops it', () => {
      const directory = configured([
        {
          ...configConsumer('acme'),
          hmac_credentials: [
            {
              key_id: 'shared',
              secret: 'c'.repeat(32),
              secret_encoding: 'utf8',
              algorithm: 'hmac-sha256',
              scopes: ['config'],
            },
          ],
        },
      ])
      directory.replaceStored([], [], [storeKey('shared')])
      expect(directory.hmacKey('shared')?.consumer).toBe('acme')
      expect(directory.isConfigHmacKey('shared')).toBe(true)
      directory.applyHmacKey('shared', storeKey('shared'))
      expect(directory.hmacKey('shared')?.consumer).toBe('acme')
      directory.setConfigured([], [])
      expect(directory.hmacKey('shared')?.consumer).toBe('other')
      expect(directory.isConfigHmacKey('shared')).toBe(false)
    })

    it('forgets a store credential revoked or deleted (applied as null)', () => {
      const directory = configured([])
      directory.applyHmacKey('hk_1', storeKey('hk_1'))
      expect(directory.hmacKey('hk_1')).toBeDefined()
      directory.applyHmacKey('hk_1', null)
      expect(directory.hmacKey('hk_1')).toBeUndefined()
    })
  })

  describe('replaceStored', () => {
    it('replaces the whole store part, keeping the config part', () => {
      const configHash = hashOf('config')
      const directory = configured([
        configConsumer('cfg', [{ hash: configHash, scopes: [], allow_ips: [] }]),
      ])
      directory.replaceStored(
        [storedConsumer('a'), storedConsumer('b')],
        [storedKey('key_a', 'a'), storedKey('key_b', 'b')],
      )
      directory.replaceStored([storedConsumer('b')], [storedKey('key_b', 'b')])
      expect(directory.consumer('a')).toBeUndefined()
      expect(directory.keyByHash(hashOf('key_a'))).toBeUndefined()
      expect(directory.keyByHash(hashOf('key_b'))?.id).toBe('key_b')
      expect(directory.keyByHash(configHash)?.consumer).toBe('cfg')
      expect(directory.sizes).toEqual({ consumers: 2, keys: 2 })
    })

    it('takes a record handed over twice once', () => {
      const directory = new CredentialDirectory()
      directory.replaceStored([], [storedKey('key_a', 'a'), storedKey('key_a', 'a')])
      expect(directory.sizes.keys).toBe(1)
    })
  })

  describe('applyConsumer', () => {
    it('replaces a changed consumer with a new object', () => {
      const directory = new CredentialDirectory()
      directory.applyConsumer('acme', storedConsumer('acme', { tier: 'free' }))
      const before = directory.consumer('acme')
      directory.applyConsumer('acme', storedConsumer('acme', { tier: 'pro' }))
      const after = directory.consumer('acme')
      expect(after).not.toBe(before)
      expect(before?.tier).toBe('free')
      expect(after?.tier).toBe('pro')
    })

    it('forgets a deleted consumer', () => {
      const directory = new CredentialDirectory()
      directory.applyConsumer('acme', storedConsumer('acme'))
      directory.applyConsumer('acme', null)
      expect(directory.consumer('acme')).toBeUndefined()
    })

    it('compiles groups into a set and freezes the consumer', () => {
      const directory = new CredentialDirectory()
      directory.applyConsumer('acme', storedConsumer('acme', { groups: ['a', 'b'] }))
      const consumer = directory.consumer('acme')!
      expect(consumer.groupSet.has('b')).toBe(true)
      expect(Object.isFrozen(consumer)).toBe(true)
    })
  })

  describe('applyKey', () => {
    it('adds, revokes and deletes a key by its id', () => {
      const directory = new CredentialDirectory()
      const hash = hashOf('key_a')
      directory.applyKey('key_a', storedKey('key_a', 'acme'))
      expect(directory.keyByHash(hash)?.revoked).toBe(false)
      directory.applyKey('key_a', storedKey('key_a', 'acme', { state: 'revoked' }))
      expect(directory.keyByHash(hash)?.revoked).toBe(true)
      directory.applyKey('key_a', null)
      expect(directory.keyByHash(hash)).toBeUndefined()
      expect(directory.sizes.keys).toBe(0)
    })

    it('deletes a key loaded by a full read', () => {
      const directory = new CredentialDirectory()
      directory.replaceStored([], [storedKey('key_a', 'acme')])
      directory.applyKey('key_a', null)
      expect(directory.keyByHash(hashOf('key_a'))).toBeUndefined()
    })

    it('holds a key whose consumer is unknown, for the stage to refuse', () => {
      const directory = new CredentialDirectory()
      directory.applyKey('key_a', storedKey('key_a', 'ghost'))
      expect(directory.keyByHash(hashOf('key_a'))?.consumer).toBe('ghost')
      expect(directory.consumer('ghost')).toBeUndefined()
    })
  })

  describe('setConfigured', () => {
    it('leaves the directory unchanged when the config has problems', () => {
      const hash = hashOf('config')
      const directory = configured([configConsumer('acme', [{ hash, scopes: [], allow_ips: [] }])])
      const problems: ConfigProblem[] = []
      directory.setConfigured([configConsumer('other'), configConsumer('other')], problems)
      expect(problems).toHaveLength(1)
      expect(directory.consumer('acme')?.source).toBe('config')
      expect(directory.consumer('other')).toBeUndefined()
      expect(directory.keyByHash(hash)).toBeDefined()
    })
  })
})
