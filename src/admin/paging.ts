/**
 * Cursor pagination of the admin API. A cursor is opaque to callers: base64url of the phase and
 * the position within it, so the store's own cursor (an HSCAN position) can change shape freely.
 */
import type { Page } from '../state/credential-store.js'
import { invalidRequest } from './admin-error.js'
import type { AdminReply } from './route.js'

/** Items of a page unless ?limit says otherwise: a screenful. */
export const DEFAULT_LIMIT = 50
/** Largest page: a few hundred records keep one answer small and one store read short. */
export const MAX_LIMIT = 500

export interface Cursor {
  /** config: consumers of the config file, from `position`; store: the store's cursor. */
  readonly phase: 'config' | 'store'
  readonly position: string
}

export function readLimit(query: URLSearchParams): number {
  const text = query.get('limit')
  if (text === null) return DEFAULT_LIMIT
  const limit = /^[0-9]{1,6}$/.test(text) ? Number(text) : NaN
  if (!(limit >= 1 && limit <= MAX_LIMIT)) {
    throw invalidRequest('limit', `must be a whole number from 1 to ${MAX_LIMIT} (got "${text}")`)
  }
  return limit
}

export function readCursor(query: URLSearchParams, first: Cursor): Cursor {
  const text = query.get('cursor')
  if (text === null || text === '') return first
  const decoded = /^[A-Za-z0-9_-]{1,1024}$/.test(text)
    ? Buffer.from(text, 'base64url').toString('utf8')
    : ''
  const phase = decoded.slice(0, 2)
  if (phase === 'c:' && /^c:[0-9]{1,9}$/.test(decoded)) {
    return { phase: 'config', position: decoded.slice(2) }
  }
  if (phase === 's:') return { phase: 'store', position: decoded.slice(2) }
  throw invalidRequest('cursor', 'is not a cursor this API returned (pass next_cursor as is)')
}

export function writeCursor(cursor: Cursor): string {
  return Buffer.from(`${cursor.phase === 'config' ? 'c' : 's'}:${cursor.position}`).toString(
    'base64url',
  )
}

/**
 * A page of a collection that only the store holds (keys, HMAC credentials), optionally of one
 * consumer (`?consumer=`), with the store's cursor wrapped in the API's.
 */
export async function storePage<T>(
  query: URLSearchParams,
  path: string,
  list: (consumer: string | null, cursor: string | null, limit: number) => Promise<Page<T>>,
  view: (record: T) => unknown,
): Promise<AdminReply> {
  const limit = readLimit(query)
  const cursor = readCursor(query, { phase: 'store', position: '' })
  if (cursor.phase !== 'store') {
    throw invalidRequest('cursor', `is a cursor of /consumers, not of ${path}`)
  }
  const page = await list(query.get('consumer') || null, cursor.position || null, limit)
  return {
    status: 200,
    body: {
      items: page.items.map(view),
      next_cursor:
        page.next_cursor === null
          ? null
          : writeCursor({ phase: 'store', position: page.next_cursor }),
    },
  }
}
