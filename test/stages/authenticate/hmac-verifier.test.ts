/**
 * The signature check with the one-pass reader of the common field shape against the same check
 * with every field parsed as an RFC 8941 Dictionary: on generated signed requests (valid ones,
 * and ones with a tampered field, a wrong key, alg or MAC, a stale or future `created`, a
 * missing component, a repeated one, a replay), both give the same verdict, the same reason
 * and the same key, key id and label for the audit line.
 */
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CredentialDirectory } from '../../../src/consumers/directory.js'
import { SignatureMemory } from '../../../src/hmac/replay.js'
import { signatureBase } from '../../../src/hmac/signature-base.js'
import { CommonSignatureInput } from '../../../src/hmac/signature-input.js'
import { isInnerList, parseDictionary } from '../../../src/hmac/structured-fields.js'
import {
  SignatureVerifier,
  type SignaturePolicy,
  type SignedRequest,
} from '../../../src/stages/authenticate/hmac.js'

const NOW = 1_700_000_000
const SECRETS: Record<string, string> = {
  'key-0': 'a-shared-secret-of-at-least-32-bytes!!',
  'key-1': 'another-shared-secret-of-32-bytes-or-more',
  'key-2': 'the-retired-consumer-secret-of-32-bytes',
}
const COMPONENTS = [
  '@method',
  '@path',
  '@query',
  '@authority',
  'content-digest',
  'date',
  'x-absent',
]
const EDITS = [' ', ',', ';', '"', '(', ')', '=', 'x', '1', ':', ';sf']

function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function pick<T>(next: () => number, items: readonly T[]): T {
  return items[Math.floor(next() * items.length)]!
}

function directory(): CredentialDirectory {
  const credentials = new CredentialDirectory()
  const problems: unknown[] = []
  const consumer = (name: string, disabled: boolean, keys: string[]) => ({
    name,
    groups: [],
    metadata: {},
    disabled,
    keys: [],
    certificates: [],
    hmac_credentials: keys.map((key_id) => ({
      key_id,
      secret: SECRETS[key_id]!,
      secret_encoding: 'utf8' as const,
      algorithm: 'hmac-sha256' as const,
      scopes: [],
    })),
  })
  credentials.setConfigured(
    [consumer('acme', false, ['key-0', 'key-1']), consumer('retired', true, ['key-2'])] as never,
    problems as never,
  )
  expect(problems).toEqual([])
  return credentials
}

function request(next: () => number): SignedRequest {
  return {
    method: pick(next, ['GET', 'POST']),
    rawPath: pick(next, ['/orders/42', '/a/../b%2F', '']),
    query: pick(next, ['', 'n=1', 'a=b&c=d']),
    headers: [
      'host',
      'api.example.com',
      'date',
      'Tue, 20 Apr 2021 02:07:55 GMT',
      'content-digest',
      'sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:',
    ],
    hostHeader: 'api.example.com',
    host: 'api.example.com',
    listener: pick(next, ['http', 'https']),
    contentLength: next() < 0.3 ? 18 : 0,
  }
}

/** Signature-Input and Signature for `message`, signed right unless the generator says not. */
function signed(next: () => number, message: SignedRequest): [string, string | null] {
  const names: string[] = []
  const count = 1 + Math.floor(next() * 4)
  for (let i = 0; i < count; i++) names.push(pick(next, COMPONENTS.slice(0, next() < 0.9 ? 5 : 7)))
  if (next() < 0.7) names.unshift('@method', '@path')
  const label = next() < 0.9 ? 'sig1' : 'proxy_sig'
  const keyId = next() < 0.7 ? 'key-0' : pick(next, ['key-1', 'key-2', 'unknown'])
  const params = [
    next() < 0.95 ? `created=${NOW + Math.floor(next() * 500) - 350}` : '',
    next() < 0.9 ? `keyid="${keyId}"` : '',
    next() < 0.6 ? `alg="${next() < 0.9 ? 'hmac-sha256' : 'rsa-pss-sha512'}"` : '',
    next() < 0.1 ? `expires=${NOW + Math.floor(next() * 200) - 100}` : '',
    next() < 0.1 ? `nonce="n${Math.floor(next() * 1e6)}"` : '',
  ].filter((p) => p !== '')
  let input = `${label}=(${names.map((n) => `"${n}"`).join(' ')})${params.map((p) => ';' + p).join('')}`
  if (next() < 0.1) input = `other=("@method");keyid="other", ` + input
  if (next() < 0.15) {
    const at = Math.floor(next() * (input.length + 1))
    input = input.slice(0, at) + pick(next, EDITS) + input.slice(at)
  }
  if (next() < 0.03) return [input, null]
  // The MAC the client would send: over the base of the member as the full parser reads it.
  const member = parseDictionary(input)?.get(label)
  let mac = Buffer.alloc(32, 7)
  if (member !== undefined && isInnerList(member)) {
    const base = signatureBase(member, message)
    const secret = SECRETS[keyId] ?? 'unknown'
    if (typeof base === 'string') mac = createHmac('sha256', secret).update(base).digest()
  }
  if (next() < 0.1) mac[Math.floor(next() * 32)]! ^= 1
  let signature = `${label}=:${mac.toString('base64')}:`
  if (next() < 0.05) signature = `${label}=:${mac.toString('base64').replace(/=$/, '')}:`
  if (next() < 0.05) signature += `, other=:AAAA:`
  return [input, signature]
}

describe('SignatureVerifier: the common-shape reader', () => {
  it('gives the full parser’s verdict, reason, key and label on generated requests', () => {
    const credentials = directory()
    for (const replay of [true, false]) {
      const policy: SignaturePolicy = {
        components: ['@method', '@path'],
        contentDigest: true,
        maxAgeSeconds: 300,
        replay,
        clockSkewSeconds: 60,
      }
      const fast = new SignatureVerifier(credentials, new SignatureMemory(), policy)
      const full = new SignatureVerifier(credentials, new SignatureMemory(), policy, false)
      const next = random(replay ? 1 : 2)
      const reasons = new Map<string | null, number>()
      const common = new CommonSignatureInput()
      let read = 0
      const sent: [SignedRequest, string, string | null][] = []
      for (let n = 0; n < 6_000; n++) {
        // Now and then a request sent before, for the replay memory.
        const before = sent.length > 0 && next() < 0.05 ? pick(next, sent) : null
        const message = before?.[0] ?? request(next)
        const [input, signature] = before === null ? signed(next, message) : [before[1], before[2]]
        if (before === null) sent.push([message, input, signature])
        if (common.read(input)) read++
        const expected = full.check(message, input, signature, NOW)
        const actual = fast.check(message, input, signature, NOW)
        const context = `${input} | ${signature}`
        expect(actual, context).toBe(expected)
        expect(fast.keyId, context).toBe(full.keyId)
        expect(fast.label, context).toBe(full.label)
        expect(fast.key, context).toBe(full.key)
        expect(fast.consumer, context).toBe(full.consumer)
        reasons.set(expected, (reasons.get(expected) ?? 0) + 1)
      }
      // Most fields take the reader's path; both paths admit and refuse, for every reason.
      expect(read).toBeGreaterThan(3_000)
      expect(reasons.get(null)).toBeGreaterThan(200)
      expect(reasons.size).toBe(replay ? 14 : 13)
    }
  })
})
