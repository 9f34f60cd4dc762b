/**
 * The API key format: `<prefix>_<random>_<checksum>`, as GitHub's and Stripe's keys are built, so
 * a typo or a truncated key is refused without any lookup and secret scanners can recognise a
 * leaked key by its shape.
 *
 * - prefix: a short tag (`pc_live`, `pc_test`) that says what the key is for;
 * - random: {@link RANDOM_LENGTH} base62 characters from the CSPRNG, drawn without modulo bias;
 * - checksum: CRC32 of `<prefix>_<random>` as {@link CHECKSUM_LENGTH} base62 characters.
 *
 * @example
 * const key = generateApiKey('pc_live') // pc_live_3xK…_0Ab9Zq
 * isWellFormedApiKey(key, ['pc_live'])  // true
 */
import { randomBytes } from 'node:crypto'
import { crc32 } from 'node:zlib'

/** A lowercase tag, optionally with one `_` part: `pc_live`, `acme`, `pc_test`. */
export const API_KEY_PREFIX_PATTERN = '^[a-z][a-z0-9]{0,15}(_[a-z0-9]{1,16})?$'
export const API_KEY_PREFIX_REASON =
  'must be lowercase letters and digits starting with a letter (at most 16), optionally followed ' +
  'by "_" and at most 16 more, such as pc_live'

/** 30 base62 characters carry log2(62) × 30 ≈ 178 bits, above the 160 the issue asks for. */
export const RANDOM_LENGTH = 30
/** 62^6 > 2^32: six base62 characters hold any CRC32. */
export const CHECKSUM_LENGTH = 6
/** What a key adds to its prefix: `_`, the random part, `_`, the checksum. */
const SUFFIX_LENGTH = 1 + RANDOM_LENGTH + 1 + CHECKSUM_LENGTH

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'
/** The largest multiple of 62 a byte can hold: bytes at or above it are drawn again. */
const UNBIASED_LIMIT = 256 - (256 % 62)
const UNDERSCORE = 0x5f

const prefixPattern = new RegExp(API_KEY_PREFIX_PATTERN)

export function isApiKeyPrefix(prefix: string): boolean {
  return prefixPattern.test(prefix)
}

/** A new key under `prefix`; throws when the prefix is not one {@link isApiKeyPrefix} accepts. */
export function generateApiKey(prefix: string): string {
  if (!isApiKeyPrefix(prefix))
    throw new TypeError(`API key prefix "${prefix}" ${API_KEY_PREFIX_REASON}`)
  let random = ''
  while (random.length < RANDOM_LENGTH) {
    // Rejection sampling: `byte % 62` alone would favour the first 8 characters.
    const bytes = randomBytes(RANDOM_LENGTH + 8)
    for (let i = 0; i < bytes.length && random.length < RANDOM_LENGTH; i++) {
      const byte = bytes[i]!
      if (byte < UNBIASED_LIMIT) random += BASE62[byte % 62]
    }
  }
  const body = `${prefix}_${random}`
  return `${body}_${encodeChecksum(crc32(body))}`
}

/**
 * Whether `key` has the shape of a key under one of `prefixes`: lengths, charset, separators and
 * checksum. Runs on every request before any hashing, so it allocates nothing but the CRC's
 * input and uses no regular expression.
 */
export function isWellFormedApiKey(key: string, prefixes: readonly string[]): boolean {
  const prefixLength = matchingPrefixLength(key, prefixes)
  if (prefixLength < 0) return false
  const randomEnd = prefixLength + 1 + RANDOM_LENGTH
  for (let i = prefixLength + 1; i < randomEnd; i++) {
    if (base62Value(key.charCodeAt(i)) < 0) return false
  }
  if (key.charCodeAt(randomEnd) !== UNDERSCORE) return false
  let checksum = 0
  for (let i = randomEnd + 1; i < key.length; i++) {
    const value = base62Value(key.charCodeAt(i))
    if (value < 0) return false
    checksum = checksum * 62 + value
  }
  // Every character checked so far is ASCII, so the CRC of the string is that of its bytes.
  return checksum === crc32(key.slice(0, randomEnd))
}

/** What a key may be shown as once it is stored: its prefix and its last four characters. */
export function keyDisplay(key: string): { prefix: string; last4: string } {
  const prefixLength = Math.max(0, key.length - SUFFIX_LENGTH)
  return { prefix: key.slice(0, prefixLength), last4: key.slice(-4) }
}

/** Length of the prefix of `prefixes` that `key` starts with, followed by `_`, at the right length; -1: none. */
function matchingPrefixLength(key: string, prefixes: readonly string[]): number {
  for (let p = 0; p < prefixes.length; p++) {
    const prefix = prefixes[p]!
    if (
      key.length === prefix.length + SUFFIX_LENGTH &&
      key.startsWith(prefix) &&
      key.charCodeAt(prefix.length) === UNDERSCORE
    ) {
      return prefix.length
    }
  }
  return -1
}

/** 0–61 for `0-9A-Za-z`, -1 otherwise. */
function base62Value(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x41 && code <= 0x5a) return code - 0x41 + 10
  if (code >= 0x61 && code <= 0x7a) return code - 0x61 + 36
  return -1
}

function encodeChecksum(crc: number): string {
  let text = ''
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    text = BASE62[crc % 62]! + text
    crc = Math.floor(crc / 62)
  }
  return text
}
