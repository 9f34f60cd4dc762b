import { createSecretKey, randomBytes } from 'node:crypto'
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'

import { parseToken, type ParsedToken } from '../../../src/jwt/compact.js'
import { JWT_FAILURES } from '../../../src/jwt/types.js'

const MAX = 8192
const SECRET = createSecretKey(randomBytes(32))
const CLAIMS = { iss: 'https://issuer.example', sub: 'alice', aud: 'api', exp: 2_000_000_000 }
const SIGNATURE = randomBytes(32).toString('base64url')

function b64(text: string): string {
  return Buffer.from(text).toString('base64url')
}

/** A token with this header and payload (JSON text or objects) and a dummy signature. */
function token(
  header: object | string,
  payload: object | string = CLAIMS,
  sig = SIGNATURE,
): string {
  const text = (value: object | string) =>
    typeof value === 'string' ? value : JSON.stringify(value)
  return `${b64(text(header))}.${b64(text(payload))}.${sig}`
}

function parsed(value: string): ParsedToken {
  const result = parseToken(value, MAX)
  if (typeof result === 'string') throw new Error(`refused: ${result}`)
  return result
}

describe('parseToken', () => {
  describe('with a well-formed token', () => {
    it('returns the header fields, claims, signing input and signature bytes', async () => {
      const jwt = await new SignJWT(CLAIMS)
        .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'at+jwt' })
        .sign(SECRET)
      const result = parsed(jwt)
      expect(result.header).toEqual({ alg: 'HS256', kid: 'k1', typ: 'at+jwt' })
      expect(result.payload).toEqual(CLAIMS)
      expect(result.signingInput).toBe(jwt.slice(0, jwt.lastIndexOf('.')))
      expect(result.signature.toString('base64url')).toBe(jwt.split('.')[2])
      expect(result.signature).toHaveLength(32)
      expect(result.iss).toBe('https://issuer.example')
    })

    it('gives null for an absent kid, typ or iss, and for an iss that is not a string', () => {
      const result = parsed(token({ alg: 'RS256' }, { sub: 'a' }))
      expect(result.header).toEqual({ alg: 'RS256', kid: null, typ: null })
      expect(result.iss).toBeNull()
      expect(parsed(token({ alg: 'RS256' }, { iss: 42 })).iss).toBeNull()
    })

    it('keeps an algorithm it does not know, for the allow-list to refuse', () => {
      expect(parsed(token({ alg: 'XS999' })).header.alg).toBe('XS999')
    })

    it('accepts a token exactly at the size bound', () => {
      const value = token({ alg: 'HS256' })
      expect(typeof parseToken(value, value.length)).toBe('object')
    })

    it('reads UTF-8 claims', () => {
      expect(parsed(token({ alg: 'HS256' }, { name: 'Zoë 🦊' })).payload.name).toBe('Zoë 🦊')
    })
  })

  describe('with key-bearing header parameters (RFC 8725 §3.10)', () => {
    it('ignores jwk, jku, x5u and x5c: they reach neither the result nor the key choice', () => {
      const header = {
        alg: 'RS256',
        kid: 'k1',
        jwk: { kty: 'oct', k: 'AAAA' },
        jku: 'https://attacker.example/jwks',
        x5u: 'https://attacker.example/cert',
        x5c: ['MIIB'],
      }
      expect(parsed(token(header)).header).toEqual({ alg: 'RS256', kid: 'k1', typ: null })
    })
  })

  describe('when the size bound is exceeded', () => {
    it('refuses as too_large before reading anything', () => {
      expect(parseToken(token({ alg: 'HS256' }), 10)).toBe('too_large')
      expect(parseToken('!'.repeat(MAX + 1), MAX)).toBe('too_large')
    })
  })

  describe('with a malformed serialization', () => {
    const good = token({ alg: 'HS256' })
    const [h, p, s] = good.split('.') as [string, string, string]
    it.each([
      ['one segment', h],
      ['two segments', `${h}.${p}`],
      ['four segments', `${h}.${p}.${s}.${s}`],
      ['five segments (a JWE)', `${h}.${p}.${s}.${s}.${s}`],
      ['an empty header', `.${p}.${s}`],
      ['an empty payload', `${h}..${s}`],
      ['an empty signature', `${h}.${p}.`],
      ['the empty string', ''],
      ['only dots', '..'],
      ['= padding', `${h}.${p}.${s}=`],
      ['standard base64 +', `${h}.${p}.${s.slice(0, -2)}+A`],
      ['standard base64 /', `${h}.${p}.${s.slice(0, -2)}/A`],
      ['a space', `${h}. ${p}.${s}`],
      ['a trailing newline', `${good}\n`],
      ['a leading Bearer', `Bearer ${good}`],
      ['non-ASCII characters', `${h}.${p}.${s}é`],
      ['an astral character', `${h}🦊.${p}.${s}`],
      ['a segment of 4n+1 characters', `${h}.${p}.${s.slice(0, -2)}`],
    ])('refuses %s', (_, value) => {
      expect(parseToken(value, MAX)).toBe('malformed')
    })

    it('refuses non-canonical base64url (trailing bits set)', () => {
      // 'eA' (2 chars, 4 spare bits) and 'eHk' (3 chars, 2 spare bits) are canonical; 'eB'/'eHl' are
      // other spellings of the same bytes.
      const canonical = `${h}.${p}.eHk`
      expect(typeof parseToken(canonical, MAX)).toBe('object')
      expect(parseToken(`${h}.${p}.eHl`, MAX)).toBe('malformed')
      expect(parseToken(`${h}.${p}.eB`, MAX)).toBe('malformed')
      const header = '{"alg":"HS256"} ' // 16 bytes: 22 characters, 4 spare bits
      const spelled = b64(header)
      const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const bumped = last[last.indexOf(spelled.at(-1)!) + 1]!
      expect(Buffer.from(spelled.slice(0, -1) + bumped, 'base64url').toString()).toBe(header)
      expect(parseToken(`${spelled.slice(0, -1)}${bumped}.${p}.${s}`, MAX)).toBe('malformed')
    })

    it.each([
      ['not JSON', 'alg: HS256'],
      ['truncated JSON', '{"alg":"HS256"'],
      ['a JSON array', '["alg","HS256"]'],
      ['JSON null', 'null'],
      ['a JSON string', '"HS256"'],
      ['a JSON number', '256'],
      ['JSON behind a byte order mark', '\uFEFF{"alg":"HS256"}'],
    ])('refuses a header that is %s', (_, header) => {
      expect(parseToken(token(header), MAX)).toBe('malformed')
    })

    it.each([
      ['not JSON', 'sub=alice'],
      ['a JSON array', '[1,2]'],
      ['JSON null', 'null'],
      ['JSON true', 'true'],
    ])('refuses a payload that is %s', (_, payload) => {
      expect(parseToken(token({ alg: 'HS256' }, payload), MAX)).toBe('malformed')
    })

    it('refuses header or payload bytes that are not UTF-8', () => {
      const latin1 = Buffer.from('{"alg":"HS256","x":"\xe9"}', 'latin1').toString('base64url')
      expect(parseToken(`${latin1}.${b64('{}')}.${SIGNATURE}`, MAX)).toBe('malformed')
      const payload = Buffer.from('{"sub":"\xff"}', 'latin1').toString('base64url')
      expect(parseToken(`${b64('{"alg":"HS256"}')}.${payload}.${SIGNATURE}`, MAX)).toBe('malformed')
    })

    it.each([
      ['no alg', {}],
      ['a numeric alg', { alg: 256 }],
      ['a null alg', { alg: null }],
      ['a numeric kid', { alg: 'HS256', kid: 1 }],
      ['an object typ', { alg: 'HS256', typ: {} }],
    ])('refuses a header with %s', (_, header) => {
      expect(parseToken(token(header), MAX)).toBe('malformed')
    })

    it('does not overflow on deeply nested JSON', () => {
      const deep = `{"alg":"HS256","x":${'['.repeat(3000)}${']'.repeat(3000)}}`
      expect(typeof parseToken(token(deep), 20_000)).toBe('object')
      expect(parseToken(token({ alg: 'HS256' }, '['.repeat(5000)), 20_000)).toBe('malformed')
    })
  })

  describe('with an unsecured token (RFC 8725 §3.1)', () => {
    it.each(['none', 'NONE', 'None', 'nOnE'])('refuses alg %s as algorithm_not_allowed', (alg) => {
      expect(parseToken(token({ alg }), MAX)).toBe('algorithm_not_allowed')
      expect(parseToken(token({ alg }, CLAIMS, ''), MAX)).toBe('algorithm_not_allowed')
    })
  })

  describe('with header parameters this gateway does not accept', () => {
    it('refuses b64 false (RFC 7797) and any b64 other than true', () => {
      expect(parseToken(token({ alg: 'HS256', b64: false, crit: ['b64'] }), MAX)).toBe(
        'unsupported_header',
      )
      expect(parseToken(token({ alg: 'HS256', b64: false }), MAX)).toBe('unsupported_header')
      expect(parseToken(token({ alg: 'HS256', b64: 'false' }), MAX)).toBe('unsupported_header')
    })

    it('refuses a well-formed crit: no extension is understood (RFC 7515 §4.1.11)', () => {
      const header = { alg: 'HS256', crit: ['exp'], exp: 1 }
      expect(parseToken(token(header), MAX)).toBe('unsupported_header')
    })

    it.each([
      ['an empty crit', { alg: 'HS256', crit: [] }],
      ['a crit that is not an array', { alg: 'HS256', crit: 'exp', exp: 1 }],
      ['a crit naming an absent parameter', { alg: 'HS256', crit: ['exp'] }],
      ['a crit naming a registered parameter', { alg: 'HS256', crit: ['alg'] }],
      ['a crit with a non-string member', { alg: 'HS256', crit: [1] }],
      ['a crit naming one parameter twice', { alg: 'HS256', crit: ['x', 'x'], x: 1 }],
      ['a null crit', { alg: 'HS256', crit: null }],
    ])('refuses %s as malformed', (_, header) => {
      expect(parseToken(token(header), MAX)).toBe('malformed')
    })
  })

  describe('against prototype pollution', () => {
    it('keeps __proto__ an own property and never takes a claim from it', () => {
      const result = parsed(token({ alg: 'HS256' }, '{"__proto__":{"iss":"evil","admin":true}}'))
      expect(Object.getPrototypeOf(result.payload)).toBe(Object.prototype)
      expect(Object.hasOwn(result.payload, '__proto__')).toBe(true)
      expect(result.iss).toBeNull()
      expect(({} as Record<string, unknown>).admin).toBeUndefined()
    })

    it('never reads a header parameter from a polluted Object.prototype', () => {
      const proto = Object.prototype as Record<string, unknown>
      Object.defineProperty(proto, 'b64', { value: false, configurable: true })
      Object.defineProperty(proto, 'alg', { value: 'HS256', configurable: true })
      try {
        expect(parsed(token({ alg: 'RS256' })).header.alg).toBe('RS256')
        expect(parseToken(token({ kid: 'k' }), MAX)).toBe('malformed')
      } finally {
        delete proto.b64
        delete proto.alg
      }
    })

    it('reads a header whose alg sits only in __proto__ as having none', () => {
      expect(parseToken(token('{"__proto__":{"alg":"HS256"}}'), MAX)).toBe('malformed')
    })
  })

  describe('under fuzzing', () => {
    it('never throws on thousands of mutated tokens', async () => {
      const seed = await new SignJWT(CLAIMS)
        .setProtectedHeader({ alg: 'HS256', kid: 'k' })
        .sign(SECRET)
      const random = mulberry32(0x5eed)
      const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n{}"é'
      const pick = (n: number) => Math.floor(random() * n)
      const outcomes = new Set<string>()
      const started = Date.now()
      for (let i = 0; i < 5000 && Date.now() - started < 5000; i++) {
        let value = seed
        for (let m = 1 + pick(4); m > 0; m--) {
          const at = pick(value.length + 1)
          const ch = ALPHABET[pick(ALPHABET.length)]!
          const op = pick(5)
          if (op === 0) value = value.slice(0, at) + ch + value.slice(at + 1)
          else if (op === 1) value = value.slice(0, at) + ch + value.slice(at)
          else if (op === 2) value = value.slice(0, at) + value.slice(at + 1)
          else if (op === 3) value = value.slice(0, at)
          else value = mutateJson(random, value)
        }
        const result = parseToken(value, MAX)
        if (typeof result === 'string') {
          expect(Object.hasOwn(JWT_FAILURES, result)).toBe(true)
          outcomes.add(result)
        } else {
          expect(typeof result.header.alg).toBe('string')
          expect(result.payload).toBeTypeOf('object')
          outcomes.add('parsed')
        }
      }
      expect(outcomes.has('malformed')).toBe(true)
      expect(outcomes.has('parsed')).toBe(true)
    })
  })

  describe('with headers seen before', () => {
    it('gives every token of one header the same verdict on it, however often it repeats', () => {
      const header = { alg: 'RS256', kid: 'repeat' }
      const first = parsed(token(header, { ...CLAIMS, sub: 'a' }))
      const second = parsed(token(header, { ...CLAIMS, sub: 'b' }))
      expect(second.header).toEqual({ alg: 'RS256', kid: 'repeat', typ: null })
      expect(second.payload['sub']).toBe('b')
      expect(first.payload['sub']).toBe('a')
      expect(Object.isFrozen(second.header)).toBe(true)
      for (let i = 0; i < 3; i++) {
        expect(parseToken(token({ alg: 'none' }), MAX)).toBe('algorithm_not_allowed')
        expect(parseToken(token({ alg: 'RS256', crit: ['exp'] }), MAX)).toBe('malformed')
      }
    })

    it('still parses correctly after a flood of distinct headers', () => {
      for (let i = 0; i < 1000; i++) parsed(token({ alg: 'RS256', kid: `flood-${i}` }))
      expect(parsed(token({ alg: 'ES256', kid: 'after' })).header.kid).toBe('after')
      expect(parseToken(token('{"alg":"RS256"'), MAX)).toBe('malformed')
    })
  })
})

/** Replaces the header or payload with random JSON-ish text, base64url-encoded. */
function mutateJson(random: () => number, value: string): string {
  const pieces = [
    '{',
    '}',
    '[',
    ']',
    '"alg"',
    '"none"',
    ':',
    ',',
    'null',
    '1e400',
    '"crit"',
    '"kid"',
  ]
  let text = ''
  for (let n = Math.floor(random() * 8); n > 0; n--) text += pieces[Math.floor(random() * 12)]
  const parts = value.split('.')
  parts[Math.floor(random() * Math.min(parts.length, 2))] = b64(text)
  return parts.join('.')
}

/** A small seeded PRNG, so a failing fuzz case can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
