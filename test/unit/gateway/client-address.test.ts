/**
 * gateway/client-address.ts: trusted_proxies compiled from the config (and refused when wrong),
 * and the one client address of an exchange, with the X-Forwarded-For its upstream gets.
 */
import { describe, expect, it } from 'vitest'
import { compileTrustedProxies, resolveClientAddress } from '../../../src/gateway/client-address.js'
import type { GatewayConfig } from '../../../src/config/schema.js'
import type { ConfigProblem } from '../../../src/errors.js'
import { configProblems, loadTestConfig } from '../../helpers/config.js'
import { FakeExchange } from '../../helpers/exchange.js'

function proxiesOf(entries: string[]) {
  const problems: ConfigProblem[] = []
  const config = { trusted_proxies: entries, listeners: {} } as unknown as GatewayConfig
  const proxies = compileTrustedProxies(config, problems)
  expect(problems).toEqual([])
  return proxies!
}

function exchangeFrom(peer: string, headers: string[] = []): FakeExchange {
  const exchange = new FakeExchange()
  exchange.peerAddress = exchange.clientAddress = peer
  exchange.headers = headers
  return exchange
}

const ROUTES = { routes: [{ name: 'r', match: { paths: ['/*'] }, upstream: 'u', auth: 'none' }] }

describe('trusted_proxies in the config', () => {
  it('names each entry that is not an address or block', () => {
    expect(
      configProblems({ ...ROUTES, trusted_proxies: ['10.0.0.0/8', '10.0.0.0/33', 'proxy.local'] }),
    ).toEqual([
      expect.objectContaining({ path: 'trusted_proxies[1]' }),
      expect.objectContaining({ path: 'trusted_proxies[2]' }),
    ])
  })

  it('refuses proxy_protocol without trusted_proxies', () => {
    const problems = configProblems({
      ...ROUTES,
      listeners: { http: { port: 8080, proxy_protocol: true } },
    })
    expect(problems).toEqual([
      expect.objectContaining({
        path: 'listeners.http.proxy_protocol',
        reason: expect.stringMatching(/trusted_proxies/),
      }),
    ])
  })

  it('compiles nothing when empty, so no request does any work', () => {
    expect(loadTestConfig(ROUTES).runtime.trustedProxies).toBeNull()
    expect(
      loadTestConfig({ ...ROUTES, trusted_proxies: ['10.0.0.0/8'] }).runtime.trustedProxies,
    ).not.toBeNull()
  })
})

describe('the client address', () => {
  const proxies = proxiesOf(['10.0.0.0/8', '::1'])

  it('is the peer when the peer is not trusted, whatever X-Forwarded-For says', () => {
    const exchange = exchangeFrom('192.0.2.1', ['x-forwarded-for', '203.0.113.7'])
    resolveClientAddress(exchange, proxies)
    expect([exchange.clientAddress, exchange.forwardedFor]).toEqual(['192.0.2.1', ''])
  })

  it('is the peer when a trusted peer sends no X-Forwarded-For', () => {
    const exchange = exchangeFrom('10.0.0.1')
    resolveClientAddress(exchange, proxies)
    expect([exchange.clientAddress, exchange.forwardedFor]).toEqual(['10.0.0.1', ''])
  })

  it('comes from the chain of a trusted peer; the upstream gets the chain and the peer', () => {
    const exchange = exchangeFrom('10.0.0.1', [
      'x-forwarded-for',
      '6.6.6.6, 203.0.113.7',
      'x-forwarded-for',
      '10.0.0.2',
    ])
    resolveClientAddress(exchange, proxies)
    expect(exchange.clientAddress).toBe('203.0.113.7')
    expect(exchange.peerAddress).toBe('10.0.0.1')
    expect(exchange.forwardedFor).toBe('203.0.113.7, 10.0.0.2, 10.0.0.1')
  })

  it('keeps a trusted peer as the client when its chain starts with garbage', () => {
    const exchange = exchangeFrom('::1', ['x-forwarded-for', 'unknown'])
    resolveClientAddress(exchange, proxies)
    expect([exchange.clientAddress, exchange.forwardedFor]).toEqual(['::1', ''])
  })
})
