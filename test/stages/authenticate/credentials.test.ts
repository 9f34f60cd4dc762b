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
    ['Bearer', ''],
    ['Bearer ', ''],
    ['Bearer a b', 'a b'],
  ])('reads %j as %j', (value, token) => expect(bearerToken(value)).toBe(token))

  it.each(['Basic abc', 'Bearerx abc', 'Bear', '', 'Token abc'])(
    'ignores %j (another scheme)',
    (v) => expect(bearerToken(v)).toBeNull(),
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

  it('says Multiple for two tokens in one place or across places', () => {
    const many = [
      exchange(['authorization', 'Bearer a', 'authorization', 'Bearer b']),
      exchange(['cookie', 'session=a; session=b']),
      exchange(['cookie', 'session=a', 'cookie', 'session=b']),
      exchange([], 'access_token=a&access_token=b'),
      exchange(['authorization', 'Bearer a'], 'access_token=a'),
    ]
    for (const ex of many) expect(findToken(ex, ALL)).toBe(CredentialProblem.Multiple)
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
