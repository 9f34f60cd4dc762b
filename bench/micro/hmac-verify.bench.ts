/**
 * What checking a signed GET (RFC 9421, hmac-sha256 over @method @path @query, created) costs
 * per request, in its parts: reading Signature-Input and Signature (the Dictionary parser against
 * the one-pass reader of src/hmac/signature-input.ts), building the base, and the MAC (createHmac
 * with a KeyObject against src/hmac/mac.ts's padded keys). Run with
 * `npx vitest bench --run bench/micro/hmac-verify.bench.ts`; wall-clock figures on a shared
 * machine are noisy, so compare candidates within one run.
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import { bench, describe } from 'vitest'

import type { HmacKey } from '../../src/hmac/keys.js'
import { SignatureMac } from '../../src/hmac/mac.js'
import {
  commonSignatureBase,
  signatureBase,
  type SignedMessage,
} from '../../src/hmac/signature-base.js'
import { CommonSignatureInput, readSignature } from '../../src/hmac/signature-input.js'
import { isInnerList, parseDictionary } from '../../src/hmac/structured-fields.js'

const SECRET = 'bench-shared-secret-of-at-least-32-bytes'
const KEY: HmacKey = {
  id: 'bench-1',
  consumer: 'bench',
  algorithm: 'hmac-sha256',
  secret: createSecretKey(Buffer.from(SECRET)),
  scopes: new Set(),
  identity: null,
  expiresAt: Infinity,
}
const CREATED = 1_765_148_000

/** 100 signed GETs as the front hands them: flat one-byte strings. */
const REQUESTS = Array.from({ length: 100 }, (_, n) => {
  const flat = (s: string): string => Buffer.from(s, 'latin1').toString('latin1')
  const params = `("@method" "@path" "@query");created=${CREATED};keyid="bench-1";alg="hmac-sha256"`
  const message: SignedMessage = {
    method: 'GET',
    rawPath: '/signed/bench',
    query: flat(`n=${n}`),
    headers: [],
    hostHeader: 'x',
    host: 'x',
    listener: 'http',
  }
  const base = `"@method": GET\n"@path": /signed/bench\n"@query": ?n=${n}\n"@signature-params": ${params}`
  const mac = createHmac('sha256', SECRET).update(base).digest('base64')
  return { message, base, input: flat(`sig1=${params}`), signature: flat(`sig1=:${mac}:`) }
})

let i = 0
const next = (): (typeof REQUESTS)[number] => REQUESTS[i++ % REQUESTS.length]!
const reader = new CommonSignatureInput()
const presented = Buffer.alloc(32)
const signer = new SignatureMac()

describe('fields and base of a signed GET', () => {
  bench('Dictionary parser, serialized @signature-params', () => {
    const request = next()
    const list = parseDictionary(request.input)!.get('sig1')!
    const signature = parseDictionary(request.signature)!.get('sig1')!
    if (!isInnerList(list) || isInnerList(signature)) throw new Error('unexpected shape')
    void signatureBase(list, request.message)
  })
  bench('one-pass reader, the field text as @signature-params', () => {
    const request = next()
    if (!reader.read(request.input)) throw new Error('unexpected shape')
    if (readSignature(request.signature, 'sig1', presented) < 0) throw new Error('unexpected')
    void commonSignatureBase(reader, request.message)
  })
})

describe('MAC of a signed GET and its comparison', () => {
  bench('createHmac with a KeyObject', () => {
    const expected = createHmac('sha256', KEY.secret).update(next().base).digest()
    void timingSafeEqual(presented, expected)
  })
  bench('two one-shot hashes over padded keys (mac.ts)', () => {
    void timingSafeEqual(presented, signer.sign(KEY, next().base))
  })
})
