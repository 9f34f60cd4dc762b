/**
 * The config rules of a route's `ip:`: accepted lists, and every refusal with its path and reason.
 */
import { describe, expect, it } from 'vitest'
import { configProblems, loadTestConfig } from '../../helpers/config.js'

function route(ip: unknown): Record<string, unknown> {
  return { name: 'api', match: { paths: ['/api/*'] }, upstream: 'u', auth: 'none', ip }
}

describe('ip-restriction config', () => {
  it('accepts IPv4 and IPv6 addresses and blocks, mapped ones included', () => {
    const { config, runtime } = loadTestConfig({
      routes: [
        route({
          allow: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::ffff:10.0.0.0/104'],
          deny: ['::1'],
        }),
      ],
    })
    expect(runtime).toBeDefined()
    expect(config.routes[0]!.ip?.deny).toEqual(['::1'])
  })

  it('names the path of each entry that is not an address or block', () => {
    const found = configProblems({
      routes: [
        route({ allow: ['10.0.0.0/8', '::1', 'example.com'] }),
        route({
          deny: ['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/8', '10.0.0.0/-1', 'fe80::1%eth0'],
        }),
      ].map((r, i) => ({ ...r, name: `api${i}`, match: { paths: [`/api${i}/*`] } })),
    })
    expect(found.map((p) => p.path)).toEqual([
      'routes[0].ip.allow[2]',
      'routes[1].ip.deny[0]',
      'routes[1].ip.deny[1]',
      'routes[1].ip.deny[3]',
      'routes[1].ip.deny[4]',
    ])
    expect(found[0]!.reason).toMatch(/IPv4 or IPv6 address or CIDR block.*example\.com/)
    expect(found[1]!.reason).toMatch(/prefix length must be a whole number from 0 to 32/)
    expect(found[2]!.reason).toMatch(/from 0 to 128/)
  })

  it('refuses an unknown key under ip with its path', () => {
    const found = configProblems({ routes: [route({ allow: ['10.0.0.0/8'], block: ['1.2.3.4'] })] })
    expect(found.map((p) => p.path)).toContain('routes[0].ip.block')
  })

  it('refuses an entry that is not a string with its path', () => {
    const found = configProblems({ routes: [route({ deny: ['10.0.0.0/8', 10] })] })
    expect(found.map((p) => p.path)).toContain('routes[0].ip.deny[1]')
  })
})
