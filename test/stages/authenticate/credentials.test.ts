import { describe, expect, it } from 'vitest'
import {
  bearerToken,
  CredentialProblem,
  findToken,
  withoutCookie,
  withoutQueryParameter,
} from '../../../src/stages/authenticate/credentials.js'
import { FakeExchange } from '../../helpers/exchange.js'

function exchange(headers: string[], query = ''): FakeExchange {
  const ex = new FakeExchange()
  ex.headers = headers
  ex.query = query
  return ex
}

const ALL = { header: true, cookie: 'session', query: 'access_token' }

describe('bearerToken', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer  abc ', 'abc'],
    ['BEARER\tabc', 'abc'],
    ['Bearer a.b-c_d~e+f/g==', 'a.b-c_d~e+f/g=='],
  ])('reads %j as %j', (value, token) => expect(bearerToken(value)).toBe(token))

  it.each(['Basic abc', 'Bearerx abc', 'Bear', '', 'Token abc', 'Digest realm="a, b", nonce=x'])(
    'ignores %j (one credential of another scheme)',
    (v) => expect(bearerToken(v)).toBeNull(),
  )

  it.each([
    'Bearer a, Bearer b',
    'Bearer a,Bearer b',
    'Bearer a, b',
    'Bearer a, Basic b',
    'Basic x, Bearer a',
    'Basic x,Negotiate',
    'Digest realm="a, Bearer b", nonce=x, Bearer c',
    'Bearer, Basic x',
  ])('says Multiple for %j (two credentials in one field)', (v) =>
    expect(bearerToken(v)).toBe(CredentialProblem.Multiple),
  )

  it.each([
    'Bearer',
    'Bearer ',
    'Bearer a b',
    'Bearer a\tb',
    'Bearer a,',
    'Bearer a, b=c',
    'Bearer"a"',
  ])('says Malformed for %j (not "Bearer" 1*SP b64token, RFC 6750 §2.1)', (v) =>
    expect(bearerToken(v)).toBe(CredentialProblem.Malformed),
  )
})

describe('findToken', () => {
  it('finds the token in the header, a cookie or the query', () => {
    expect(findToken(exchange(['authorization', 'Bearer h']), ALL)).toBe('h')
    expect(findToken(exchange(['cookie', 'a=1; session="c"']), ALL)).toBe('c')
    expect(findToken(exchange([], 'x=1&access_token=q%2Bq'), ALL)).toBe('q+q')
  })

  it('says Missing when there is none, or only another scheme', () => {
    expect(findToken(exchange(['authorization', 'Basic x']), ALL)).toBe(CredentialProblem.Missing)
    expect(findToken(exchange([], 'access_token=q'), { ...ALL, query: null })).toBe(
      CredentialProblem.Missing,
    )
  })

  it('says Missing for a bearer header on a route that does not read the header', () => {
    expect(findToken(exchange(['authorization', 'Bearer h']), { ...ALL, header: false })).toBe(
      CredentialProblem.Missing,
    )
  })

  it('says Multiple for two tokens in one place or across places', () => {
    const many = [
      exchange(['authorization', 'Bearer a', 'authorization', 'Bearer b']),
      exchange(['cookie', 'session=a; session=b']),
      exchange(['cookie', 'session=a', 'cookie', 'session=b']),
      exchange([], 'access_token=a&access_token=b'),
      exchange(['authorization', 'Bearer a'], 'access_token=a'),
      exchange(['authorization', 'Bearer a', 'cookie', 'session=b']),
      exchange(['cookie', 'session=b'], 'access_token=a'),
    ]
    for (const ex of many) expect(findToken(ex, ALL)).toBe(CredentialProblem.Multiple)
  })

  it('says Multiple for two Authorization fields, whatever their schemes and order', () => {
    const many = [
      ['authorization', 'Bearer a', 'authorization', 'Basic b'],
      ['authorization', 'Basic b', 'authorization', 'Bearer a'],
      ['authorization', 'Basic a', 'authorization', 'Basic b'],
      ['authorization', 'Bearer a', 'x-other', '1', 'authorization', 'Bearer a'],
    ]
    for (const headers of many) {
      expect(findToken(exchange(headers), ALL)).toBe(CredentialProblem.Multiple)
      expect(findToken(exchange(headers), { ...ALL, header: false })).toBe(
        CredentialProblem.Multiple,
      )
    }
  })

  it('says Multiple for an Authorization field of any scheme beside a cookie or query token', () => {
    for (const header of [true, false]) {
      const sources = { ...ALL, header }
      for (const value of ['Bearer a', 'Basic dXNlcjpwYXNz']) {
        expect(findToken(exchange(['authorization', value, 'cookie', 'session=c']), sources)).toBe(
          CredentialProblem.Multiple,
        )
        expect(findToken(exchange(['authorization', value], 'access_token=q'), sources)).toBe(
          CredentialProblem.Multiple,
        )
      }
    }
  })

  it('says Multiple or Malformed for one Authorization field that is not one credential', () => {
    expect(findToken(exchange(['authorization', 'Bearer a, Bearer b']), ALL)).toBe(
      CredentialProblem.Multiple,
    )
    expect(findToken(exchange(['authorization', 'Bearer a b']), ALL)).toBe(
      CredentialProblem.Malformed,
    )
  })
})

describe('credential stripping', () => {
  it('removes only the token cookie', () => {
    expect(withoutCookie('a=1; session=x; b=2', 'session')).toBe('a=1; b=2')
    expect(withoutCookie('session=x', 'session')).toBe('')
  })

  it('removes only the token parameter, encoded or not', () => {
    expect(withoutQueryParameter('a=1&access_token=x&b=2', 'access_token')).toBe('a=1&b=2')
    expect(withoutQueryParameter('access%5Ftoken=x', 'access_token')).toBe('')
  })
})
