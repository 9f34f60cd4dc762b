import { describe, expect, it } from 'vitest'
import { configKeyId, KeyEntryCompiler } from '../../../src/consumers/key-entry.js'
import { hashOf, storedKey } from './fixtures.js'

describe('KeyEntryCompiler', () => {
  describe('fromStored', () => {
    it('keeps what the request path checks, times in milliseconds', () => {
      const entry = new KeyEntryCompiler().fromStored(
        storedKey('key_a', 'acme', {
          scopes: ['orders:read'],
          not_before: '2026-01-01T00:00:00Z',
          expires_at: '2027-01-01T00:00:00+01:00',
          allow_ips: ['10.0.0.0/8'],
        }),
      )
      expect(entry).toMatchObject({ id: 'key_a', consumer: 'acme', revoked: false, identity: null })
      expect([...entry.scopes]).toEqual(['orders:read'])
      expect(entry.notBeforeMs).toBe(Date.UTC(2026, 0, 1))
      expect(entry.expiresAtMs).toBe(Date.UTC(2026, 11, 31, 23))
      expect(entry.addresses?.admits('10.1.1.1')).toBe(true)
      expect(entry.addresses?.admits('11.1.1.1')).toBe(false)
    })

    it('reads no dates as 0 and Infinity, and no addresses as any', () => {
      const entry = new KeyEntryCompiler().fromStored(storedKey('key_a', 'acme'))
      expect(entry.notBeforeMs).toBe(0)
      expect(entry.expiresAtMs).toBe(Infinity)
      expect(entry.addresses).toBeNull()
    })

    it('marks a revoked key revoked', () => {
      const entry = new KeyEntryCompiler().fromStored(
        storedKey('key_a', 'acme', { state: 'revoked' }),
      )
      expect(entry.revoked).toBe(true)
    })

    it('refuses a record it cannot read rather than loosening it', () => {
      const compiler = new KeyEntryCompiler()
      expect(
        compiler.fromStored(storedKey('key_a', 'acme', { allow_ips: ['bogus'] })).revoked,
      ).toBe(true)
      expect(
        compiler.fromStored(storedKey('key_b', 'acme', { expires_at: 'tomorrow' })).revoked,
      ).toBe(true)
    })

    it('shares scope sets, consumer names and allow-lists between keys', () => {
      const compiler = new KeyEntryCompiler()
      const a = compiler.fromStored(
        storedKey('key_a', 'acme', { scopes: ['b', 'a'], allow_ips: ['10.0.0.0/8'] }),
      )
      const b = compiler.fromStored(
        storedKey('key_b', `${'ac'}me`, { scopes: ['a', 'b'], allow_ips: ['10.0.0.0/8'] }),
      )
      const c = compiler.fromStored(storedKey('key_c', 'acme', { scopes: ['a'] }))
      expect(b.scopes).toBe(a.scopes)
      expect(b.addresses).toBe(a.addresses)
      expect(c.scopes).not.toBe(a.scopes)
      expect(b.consumer).toBe(a.consumer)
    })
  })

  describe('fromConfig', () => {
    it('names a config key cfg_ and the start of its hash, never like a store key', () => {
      const hash = hashOf('config-key')
      const entry = new KeyEntryCompiler().fromConfig('acme', {
        hash,
        scopes: ['orders:read'],
        allow_ips: [],
        expires_at: '2027-01-01T00:00:00Z',
      })
      expect(entry.id).toBe(configKeyId(hash))
      expect(entry.id).toBe(`cfg_${hash.slice(0, 16)}`)
      expect(entry.expiresAtMs).toBe(Date.UTC(2027, 0, 1))
      expect(entry.revoked).toBe(false)
    })
  })
})
