import { describe, expect, it } from 'vitest'

import { checkClaims, checkType, tokenExpiry, type ClaimPolicy } from '../../../src/jwt/claims.js'

const NOW = 1_700_000_000
const SKEW = 60
const ISS = 'https://issuer.example'

const POLICY: ClaimPolicy = {
  issuer: ISS,
  audiences: new Set(['api', 'admin-api']),
  clockSkewS: SKEW,
  maxTokenAgeS: null,
  requiredClaims: ['exp'],
}

const VALID = { iss: ISS, sub: 'alice', aud: 'api', exp: NOW + 300, iat: NOW - 10 }

function claims(
  overrides: Record<string, unknown>,
  policy: Partial<ClaimPolicy> = {},
): ReturnType<typeof checkClaims> {
  const payload: Record<string, unknown> = { ...VALID }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete payload[name]
    else payload[name] = value
  }
  return checkClaims(payload, { ...POLICY, ...policy }, NOW)
}

describe('checkClaims', () => {
  it('accepts a token that meets the policy', () => {
    expect(claims({})).toBeNull()
  })

  describe('iss (RFC 7519 §4.1.1)', () => {
    it('refuses a token without iss', () => {
      expect(claims({ iss: undefined })).toBe('missing_claim')
    })
    it('refuses an iss that is not a string', () => {
      expect(claims({ iss: [ISS] })).toBe('invalid_claim')
    })
    it('refuses another issuer, compared exactly', () => {
      expect(claims({ iss: 'https://ISSUER.example' })).toBe('unknown_issuer')
      expect(claims({ iss: `${ISS}/` })).toBe('unknown_issuer')
    })
  })

  describe('aud (RFC 7519 §4.1.3)', () => {
    it('accepts a string naming an accepted audience', () => {
      expect(claims({ aud: 'admin-api' })).toBeNull()
    })
    it('accepts an array when any member is accepted', () => {
      expect(claims({ aud: ['other', 'api'] })).toBeNull()
    })
    it('refuses an audience it does not accept', () => {
      expect(claims({ aud: 'other' })).toBe('wrong_audience')
      expect(claims({ aud: ['other', 'API'] })).toBe('wrong_audience')
      expect(claims({ aud: [] })).toBe('wrong_audience')
    })
    it('refuses an aud of the wrong type', () => {
      expect(claims({ aud: 42 })).toBe('invalid_claim')
      expect(claims({ aud: { api: true } })).toBe('invalid_claim')
      expect(claims({ aud: null })).toBe('invalid_claim')
      expect(claims({ aud: ['api', 7] })).toBe('invalid_claim')
    })
    it('refuses a token without aud when audiences are configured', () => {
      expect(claims({ aud: undefined })).toBe('missing_claim')
    })
    it('accepts any aud, or none, when no audience is configured', () => {
      expect(claims({ aud: 'anything' }, { audiences: new Set() })).toBeNull()
      expect(claims({ aud: undefined }, { audiences: new Set() })).toBeNull()
      expect(claims({ aud: 3 }, { audiences: new Set() })).toBe('invalid_claim')
    })
  })

  describe('exp (RFC 7519 §4.1.4)', () => {
    it('accepts a token expired less than the skew ago', () => {
      expect(claims({ exp: NOW - SKEW + 1 })).toBeNull()
      expect(claims({ exp: NOW - SKEW + 0.001 })).toBeNull()
    })
    it('refuses a token from the moment now - skew reaches exp', () => {
      expect(claims({ exp: NOW - SKEW })).toBe('expired')
      expect(claims({ exp: NOW - SKEW - 0.5 })).toBe('expired')
    })
    it('uses no leeway when the skew is 0', () => {
      expect(claims({ exp: NOW }, { clockSkewS: 0 })).toBe('expired')
      expect(claims({ exp: NOW + 0.001 }, { clockSkewS: 0 })).toBeNull()
    })
    it('refuses an exp that is not a finite number', () => {
      expect(claims({ exp: String(NOW + 300) })).toBe('invalid_claim')
      expect(claims({ exp: null })).toBe('invalid_claim')
      expect(claims({ exp: true })).toBe('invalid_claim')
      // JSON.parse reads 1e400 as Infinity.
      expect(claims({ exp: JSON.parse('1e400') })).toBe('invalid_claim')
      expect(claims({ exp: Number.NaN })).toBe('invalid_claim')
    })
    it('refuses a token without exp when exp is required (the default)', () => {
      expect(claims({ exp: undefined })).toBe('missing_claim')
      expect(claims({ exp: undefined }, { requiredClaims: [] })).toBeNull()
    })
  })

  describe('nbf (RFC 7519 §4.1.5)', () => {
    it('accepts a token valid from within the skew', () => {
      expect(claims({ nbf: NOW + SKEW })).toBeNull()
      expect(claims({ nbf: NOW - 1000 })).toBeNull()
    })
    it('refuses a token valid only beyond the skew', () => {
      expect(claims({ nbf: NOW + SKEW + 1 })).toBe('not_yet_valid')
      expect(claims({ nbf: NOW + SKEW + 0.01 })).toBe('not_yet_valid')
    })
    it('refuses an nbf that is not a number', () => {
      expect(claims({ nbf: '0' })).toBe('invalid_claim')
    })
  })

  describe('iat (RFC 7519 §4.1.6)', () => {
    it('accepts a token issued up to the skew in the future', () => {
      expect(claims({ iat: NOW + SKEW })).toBeNull()
    })
    it('refuses a token issued further in the future', () => {
      expect(claims({ iat: NOW + SKEW + 1 })).toBe('issued_in_future')
    })
    it('refuses an iat that is not a number', () => {
      expect(claims({ iat: [NOW] })).toBe('invalid_claim')
    })
  })

  describe('with a maximum token age', () => {
    const aged = { maxTokenAgeS: 3600 }
    it('requires iat', () => {
      expect(claims({ iat: undefined }, aged)).toBe('missing_claim')
    })
    it('accepts a token up to max age + skew old', () => {
      expect(claims({ iat: NOW - 3600 - SKEW }, aged)).toBeNull()
    })
    it('refuses an older token', () => {
      expect(claims({ iat: NOW - 3600 - SKEW - 1 }, aged)).toBe('too_old')
    })
  })

  describe('required claims', () => {
    it('refuses a token lacking one', () => {
      expect(claims({}, { requiredClaims: ['exp', 'jti'] })).toBe('missing_claim')
      expect(claims({ jti: 'id-1' }, { requiredClaims: ['exp', 'jti'] })).toBeNull()
    })
    it('accepts a required claim whose value is null or false', () => {
      expect(claims({ tenant: null }, { requiredClaims: ['tenant'] })).toBeNull()
    })
    it('never finds a required claim on Object.prototype', () => {
      expect(claims({}, { requiredClaims: ['constructor'] })).toBe('missing_claim')
      expect(claims({}, { requiredClaims: ['__proto__'] })).toBe('missing_claim')
    })
  })

  describe('sub and jti', () => {
    it('refuses a sub or jti that is not a string', () => {
      expect(claims({ sub: 42 })).toBe('invalid_claim')
      expect(claims({ jti: { id: 1 } })).toBe('invalid_claim')
    })
  })

  describe('against prototype pollution', () => {
    it('reads claims as own properties only', () => {
      const proto = Object.prototype as Record<string, unknown>
      Object.defineProperty(proto, 'iss', { value: ISS, configurable: true })
      Object.defineProperty(proto, 'aud', { value: 'api', configurable: true })
      try {
        expect(checkClaims({ exp: NOW + 300 }, POLICY, NOW)).toBe('missing_claim')
      } finally {
        delete proto.iss
        delete proto.aud
      }
    })

    it('treats a __proto__ claim from JSON as an ordinary own claim', () => {
      const payload = JSON.parse(`{"iss":"${ISS}","aud":"api","exp":${NOW + 300},"__proto__":{}}`)
      expect(checkClaims(payload, { ...POLICY, requiredClaims: ['__proto__'] }, NOW)).toBeNull()
    })
  })
})

describe('checkType', () => {
  it('accepts anything, or nothing, when no type is required', () => {
    expect(checkType(null, null)).toBe(true)
    expect(checkType('JWT', null)).toBe(true)
  })
  it('refuses a token without typ when one is required', () => {
    expect(checkType(null, 'at+jwt')).toBe(false)
  })
  it('compares case-insensitively, with or without application/ (RFC 7515 §4.1.9)', () => {
    expect(checkType('at+jwt', 'at+jwt')).toBe(true)
    expect(checkType('AT+JWT', 'at+jwt')).toBe(true)
    expect(checkType('application/at+JWT', 'at+jwt')).toBe(true)
    expect(checkType('at+jwt', 'Application/AT+jwt')).toBe(true)
  })
  it('refuses another type, or the same subtype under another top-level type', () => {
    expect(checkType('JWT', 'at+jwt')).toBe(false)
    expect(checkType('text/at+jwt', 'at+jwt')).toBe(false)
    expect(checkType('application/at+jwt; x=1', 'at+jwt')).toBe(false)
    expect(checkType('', 'at+jwt')).toBe(false)
  })
})

describe('tokenExpiry', () => {
  it('gives exp in seconds, fractions kept', () => {
    expect(tokenExpiry({ exp: NOW })).toBe(NOW)
    expect(tokenExpiry({ exp: NOW + 0.5 })).toBe(NOW + 0.5)
  })
  it('gives null without a usable exp', () => {
    expect(tokenExpiry({})).toBeNull()
    expect(tokenExpiry({ exp: '1' })).toBeNull()
    expect(tokenExpiry({ exp: Number.POSITIVE_INFINITY })).toBeNull()
  })
})
