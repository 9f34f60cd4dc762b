import { describe, expect, it } from 'vitest'

import { REJECT, type Rejection } from '../../../src/errors.js'
import { normalizePath, splitTarget } from '../../../src/gateway/normalize-path.js'

function accepts(raw: string, expected: string): void {
  expect(normalizePath(raw), JSON.stringify(raw)).toBe(expected)
}

function rejects(raw: string, rejection: Rejection): void {
  expect(normalizePath(raw), JSON.stringify(raw)).toBe(rejection)
}

describe('normalizePath', () => {
  describe('when the path is plain ASCII with nothing to normalize', () => {
    it.each([
      '/',
      '/api',
      '/api/users/42',
      '/a-b_c.d~e/',
      '/.well-known/x',
      '/a/.b/..c/...',
      "/a:b@c!$&'()*+,=",
    ])('returns the very same string for %s', (raw) => {
      expect(normalizePath(raw)).toBe(raw)
    })

    it('keeps a trailing slash', () => {
      accepts('/api/users/', '/api/users/')
    })
  })

  describe('when the path does not start with a slash', () => {
    it.each(['', 'api', '*', '.', '%2Fapi', 'http://h/a', '?x'])(
      'rejects %j as bad_request',
      (raw) => {
        rejects(raw, REJECT.badRequest)
      },
    )
  })

  describe('when an unreserved character is percent-encoded', () => {
    it('decodes it', () => {
      accepts('/%7Euser', '/~user')
      accepts('/%7euser', '/~user')
      accepts('/%41', '/A')
      accepts('/%61%62c', '/abc')
      accepts('/a%2Db%5Fc%30', '/a-b_c0')
    })

    it('decodes a dot inside a longer segment', () => {
      accepts('/%2ewell-known/x', '/.well-known/x')
      accepts('/file%2Ejson', '/file.json')
      accepts('/a/%2e%2e%2e', '/a/...')
    })
  })

  describe('when a reserved or other character is percent-encoded', () => {
    it('keeps it encoded with uppercase hex digits', () => {
      accepts('/a%20b', '/a%20b')
      accepts('/a%2ab', '/a%2Ab')
      accepts('/a%3fb%23c', '/a%3Fb%23c')
      accepts('/100%25', '/100%25')
      accepts('/a%3bb', '/a%3Bb')
    })
  })

  describe('when a percent sign is not followed by two hex digits', () => {
    it.each(['/%', '/a%', '/a%2', '/a%zz', '/a%2g', '/%%41', '/a%-1'])(
      'rejects %j as bad_request',
      (raw) => {
        rejects(raw, REJECT.badRequest)
      },
    )
  })

  describe('when a separator is percent-encoded', () => {
    it.each([
      '/a%2Fb',
      '/a%2fb',
      '/..%2f',
      '/..%2Fadmin',
      '/%2e%2e%2f',
      '/%2E%2E%2Fetc/passwd',
      '/api/..%5cadmin',
      '/api/..%5Cadmin',
      '/a%5cb',
    ])('rejects %j as invalid_path', (raw) => {
      rejects(raw, REJECT.invalidPath)
    })
  })

  describe('when the path holds a literal backslash', () => {
    it.each(['/a\\b', '/api/..\\admin', '/\\'])('rejects %j as invalid_path', (raw) => {
      rejects(raw, REJECT.invalidPath)
    })
  })

  describe('when the path holds a control character', () => {
    it.each(['/a%00', '/a%00.json', '/a%01b', '/a%0Ab', '/a%0db', '/a%1F', '/a%7f', '/a%7F'])(
      'rejects the encoded form %j as invalid_path',
      (raw) => {
        rejects(raw, REJECT.invalidPath)
      },
    )

    it.each(['/a\u0000', '/a\tb', '/a\nb', '/a\rb', '/a\u001fb', '/a\u007fb'])(
      'rejects the literal form %j as invalid_path',
      (raw) => {
        rejects(raw, REJECT.invalidPath)
      },
    )
  })

  describe('when a separator, dot or percent is double-encoded', () => {
    it.each([
      '/a%252Fb',
      '/a%252fb',
      '/api/%252e%252e/admin',
      '/api/%252E%252E/admin',
      '/a%255Cb',
      '/a%255cb',
      '/a%2500',
      '/a%25252F',
      '/a%25%32%46',
      '/a%253Bb',
      '/a%25c0%25ae',
      '/a%250a',
    ])('rejects %j as invalid_path', (raw) => {
      rejects(raw, REJECT.invalidPath)
    })

    it('accepts a double encoding of an ordinary character', () => {
      accepts('/a%2541', '/a%2541')
      accepts('/a%2520b', '/a%2520b')
      accepts('/a%25zz', '/a%25zz')
    })
  })

  describe('when an overlong UTF-8 sequence could decode to a separator or dot', () => {
    it.each([
      '/%c0%ae%c0%ae/',
      '/%C0%AE%C0%AE/etc',
      '/a%C0%AFb',
      '/a%c0%afb',
      '/a%C1%9Cb',
      '/a%E0%80%AFb',
      '/a%e0%80%ae',
      '/a%F0%80%80%AFb',
      '/a%F8%80%80%80%AFb',
      '/a%FC%80%80%80%80%AFb',
      '/a\xC0\xAFb',
      '/a%E0\x80\xAF',
    ])('rejects %j as invalid_path', (raw) => {
      rejects(raw, REJECT.invalidPath)
    })
  })

  describe('when a dot segment is reached through an encoding', () => {
    it.each([
      '/a/%2e%2e/b',
      '/a/%2e%2E/b',
      '/a/%2E%2E/b',
      '/a/.%2E/b',
      '/a/%2e./b',
      '/a/%2e/b',
      '/api/%2e%2e/admin',
      '/api/%2e%2e',
      '/%2e',
    ])('rejects %j as invalid_path', (raw) => {
      rejects(raw, REJECT.invalidPath)
    })
  })

  describe('when a dot segment carries path parameters', () => {
    it.each([
      '/a/..;/b',
      '/api/..;/admin',
      '/a/.;x/b',
      '/..;jsessionid=1/',
      '/a/..;',
      '/a/%2e%2e;x/b',
      '/a/..%3Bx/b',
      '/a/..%3b/b',
    ])('rejects %j as invalid_path', (raw) => {
      rejects(raw, REJECT.invalidPath)
    })

    it('keeps path parameters on other segments', () => {
      accepts('/a;x=1/b', '/a;x=1/b')
      accepts('/a/b;jsessionid=1', '/a/b;jsessionid=1')
      accepts('/a/...;x', '/a/...;x')
      accepts('/a/;/b', '/a/;/b')
    })

    it('resolves a literal .. after a segment with parameters', () => {
      accepts('/api;/../admin', '/admin')
    })
  })

  describe('when the path has literal dot segments', () => {
    it('removes them as RFC 3986 §5.2.4 does', () => {
      accepts('/a/./b', '/a/b')
      accepts('/a/b/../c', '/a/c')
      accepts('/a/../../b', '/b')
      accepts('/../a', '/a')
      accepts('/./a', '/a')
      accepts('/a/b/c/./../../g', '/a/g')
    })

    it('keeps the trailing slash of a final dot segment', () => {
      accepts('/a/b/..', '/a/')
      accepts('/a/b/.', '/a/b/')
      accepts('/a/..', '/')
      accepts('/..', '/')
      accepts('/.', '/')
      accepts('/a/../..', '/')
    })

    it('leaves names that only start or end with dots alone', () => {
      accepts('/a/.b/c..', '/a/.b/c..')
      accepts('/a/.../b', '/a/.../b')
    })
  })

  describe('when the path has duplicate slashes', () => {
    it('collapses them', () => {
      accepts('//a///b', '/a/b')
      accepts('//api//users', '/api/users')
      accepts('//', '/')
      accepts('/a//', '/a/')
      accepts('/a/.//../b', '/b')
    })
  })

  describe('when the path holds raw bytes outside ASCII', () => {
    it('percent-encodes them with uppercase hex digits', () => {
      accepts('/caf\xC3\xA9', '/caf%C3%A9')
      accepts('/\xE2\x82\xAC/x', '/%E2%82%AC/x')
      accepts('/caf%c3%a9', '/caf%C3%A9')
      accepts('/\xE0\xA0\x80', '/%E0%A0%80')
    })

    it('encodes as UTF-8 a string that was decoded instead of latin1', () => {
      accepts('/日本', '/%E6%97%A5%E6%9C%AC')
      accepts('/😀', '/%F0%9F%98%80')
    })

    it('rejects a lone surrogate as bad_request', () => {
      rejects('/a\uD800b', REJECT.badRequest)
      rejects('/a\uDC00', REJECT.badRequest)
    })
  })

  describe('when the path holds a character not allowed in a request-target', () => {
    it.each([
      '/a b',
      '/a"b',
      '/a<b',
      '/a>b',
      '/a`b',
      '/a{b',
      '/a}b',
      '/a|b',
      '/a^b',
      '/a[b',
      '/a]b',
      '/a#b',
      '/a?b',
    ])('rejects %j as bad_request', (raw) => {
      rejects(raw, REJECT.badRequest)
    })

    it('never lets a question mark through', () => {
      rejects('/api?x=1', REJECT.badRequest)
      accepts('/api%3Fx=1', '/api%3Fx=1')
    })
  })

  describe('when its own output is normalized again', () => {
    it.each([
      '/a/./b/../c//d/',
      '/%7Euser/%41%2a',
      '/caf\xC3\xA9/%e2%82%ac',
      '/a/b/..',
      '/api;/../admin',
      '/a%2541',
      '/%2ewell-known',
      '/日本',
    ])('returns the same path for %j', (raw) => {
      const once = normalizePath(raw)
      expect(typeof once).toBe('string')
      expect(normalizePath(once as string)).toBe(once)
    })
  })

  describe('for a few hundred random paths', () => {
    // Deterministic PRNG (mulberry32) so a failure reproduces.
    function mulberry32(seed: number): () => number {
      let a = seed
      return () => {
        a = (a + 0x6d2b79f5) | 0
        let t = Math.imul(a ^ (a >>> 15), 1 | a)
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296
      }
    }
    const weighted: [string, number][] = [
      ['/', 6],
      ['.', 6],
      ['%', 5],
      ['2', 4],
      ['e', 4],
      ['f', 3],
      ['5', 2],
      ['c', 2],
      [';', 1],
      ['a', 3],
      ['b', 2],
    ]
    const alphabet = weighted.flatMap(([ch, w]) => Array<string>(w).fill(ch))
    const random = mulberry32(0x5eed)
    const paths = Array.from({ length: 600 }, () => {
      let p = '/'
      const n = 1 + Math.floor(random() * 16)
      for (let i = 0; i < n; i++) p += alphabet[Math.floor(random() * alphabet.length)]
      return p
    })
    const accepted = paths
      .map((raw) => ({ raw, out: normalizePath(raw) }))
      .filter((r): r is { raw: string; out: string } => typeof r.out === 'string')

    it('accepts a meaningful share of them', () => {
      expect(accepted.length).toBeGreaterThan(100)
    })

    it('only ever returns one of the two rejections otherwise', () => {
      for (const raw of paths) {
        const out = normalizePath(raw)
        if (typeof out !== 'string') expect([REJECT.badRequest, REJECT.invalidPath]).toContain(out)
      }
    })

    it('returns paths that start with a slash, without empty or dot segments', () => {
      for (const { raw, out } of accepted) {
        expect(out.startsWith('/'), raw).toBe(true)
        expect(out.includes('//'), raw).toBe(false)
        const segments = out.slice(1).split('/')
        for (const s of segments) {
          const name = s.split(';')[0]
          expect(name === '.' || name === '..', `${raw} -> ${out}`).toBe(false)
        }
      }
    })

    it('returns paths without encoded separators, encoded dots or backslashes', () => {
      for (const { raw, out } of accepted) {
        expect(out, raw).not.toMatch(/%2F|%5C|%2E/i)
        expect(out.includes('\\'), raw).toBe(false)
        expect(out, raw).not.toMatch(/%(?![0-9A-F]{2})/)
        expect(out, raw).toMatch(/^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]+$/)
      }
    })

    it('is idempotent on every accepted path', () => {
      for (const { raw, out } of accepted) {
        expect(normalizePath(out), raw).toBe(out)
      }
    })
  })
})

describe('splitTarget', () => {
  describe('when the target is in origin-form', () => {
    it('returns the raw path, an empty query and no authority', () => {
      expect(splitTarget('/a/../b')).toEqual({ path: '/a/../b', query: '', authority: null })
    })

    it('splits the query off at the first question mark', () => {
      expect(splitTarget('/a?x=1&y=2')).toEqual({ path: '/a', query: 'x=1&y=2', authority: null })
      expect(splitTarget('/a?b?c')).toEqual({ path: '/a', query: 'b?c', authority: null })
    })

    it('returns an empty query for a lone question mark', () => {
      expect(splitTarget('/a?')).toEqual({ path: '/a', query: '', authority: null })
    })
  })

  describe('when the target is in absolute-form', () => {
    it('returns the lowercased authority with its port', () => {
      expect(splitTarget('http://Example.COM:8080/p?q=1')).toEqual({
        path: '/p',
        query: 'q=1',
        authority: 'example.com:8080',
      })
      expect(splitTarget('HTTPS://api.example.com/v1/x')).toEqual({
        path: '/v1/x',
        query: '',
        authority: 'api.example.com',
      })
    })

    it('uses / for an empty path', () => {
      expect(splitTarget('http://h')).toEqual({ path: '/', query: '', authority: 'h' })
      expect(splitTarget('https://h:443?x')).toEqual({ path: '/', query: 'x', authority: 'h:443' })
    })

    it('accepts an IPv6 literal', () => {
      expect(splitTarget('http://[::1]:8080/x')).toEqual({
        path: '/x',
        query: '',
        authority: '[::1]:8080',
      })
    })

    it.each([
      'http://user:pw@host/',
      'http://user@host/',
      'http://@host/',
      'ftp://host/',
      'http:///p',
      'http://:80/p',
      'http://host:8o/',
      'http://ho st/',
      'http://[::1/',
      'http://host/a#frag',
    ])('rejects %j as bad_request', (raw) => {
      expect(splitTarget(raw)).toBe(REJECT.badRequest)
    })
  })

  describe('when the target is in asterisk-form', () => {
    it('returns * as the path', () => {
      expect(splitTarget('*')).toEqual({ path: '*', query: '', authority: null })
    })

    it('rejects anything after the asterisk', () => {
      expect(splitTarget('*?x')).toBe(REJECT.badRequest)
    })
  })

  describe('when the target is in no known form', () => {
    it.each(['', 'example.com:443', 'a/b', '/a#frag'])('rejects %j as bad_request', (raw) => {
      expect(splitTarget(raw)).toBe(REJECT.badRequest)
    })
  })
})
