import { describe, expect, it } from 'vitest'
import { SniTable } from '../../../src/tls/sni.js'

describe('SniTable', () => {
  const table = new SniTable([
    { hosts: ['api.example.com'], value: 'exact' },
    { hosts: ['*.example.com', 'API.example.com'], value: 'wild' },
    { hosts: ['special.example.com'], value: 'special' },
  ])

  it('prefers an exact name to a wildcard, whatever the case', () => {
    expect(table.find('api.example.com')).toBe('exact')
    expect(table.find('API.Example.COM')).toBe('exact')
    expect(table.find('special.example.com')).toBe('special')
  })

  it('lets a wildcard stand for exactly one label', () => {
    expect(table.find('a.example.com')).toBe('wild')
    expect(table.find('a.b.example.com')).toBeUndefined()
    expect(table.find('example.com')).toBeUndefined()
  })

  it('keeps the first entry naming a host', () => {
    expect(
      new SniTable([
        { hosts: ['x.test'], value: 1 },
        { hosts: ['x.test'], value: 2 },
      ]).find('x.test'),
    ).toBe(1)
  })
})
