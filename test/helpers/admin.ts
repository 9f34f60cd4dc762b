/** The admin API for the suites: a token and its digest, listeners with an admin port, calls. */
import { createHash } from 'node:crypto'
import { send } from './http.js'
import { freePort } from './ports.js'

export const ADMIN_TOKEN = 'test-admin-token-4f1c9a'
export const ADMIN_DIGEST = createHash('sha256').update(ADMIN_TOKEN).digest('hex')

export interface AdminPorts {
  readonly listeners: Record<string, unknown>
  /** `http://127.0.0.1:PORT` of the admin listener. */
  readonly adminUrl: string
}

/** Traffic, status and admin listeners on free loopback ports. */
export async function adminListeners(): Promise<AdminPorts> {
  const admin = await freePort()
  return {
    listeners: {
      http: { host: '127.0.0.1', port: await freePort() },
      status: { host: '127.0.0.1', port: await freePort() },
      admin: { host: '127.0.0.1', port: admin },
    },
    adminUrl: `http://127.0.0.1:${admin}`,
  }
}

export interface AdminAnswer<T> {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  /** The parsed JSON body, of the shape the caller expects; null when there is none. */
  readonly json: T
}

/** An error body of the admin API. */
export interface AdminErrorBody {
  readonly error: string
  readonly message: string
  readonly request_id: string
  readonly problems?: readonly { readonly path: string; readonly reason: string }[]
}

export async function adminCall<T = AdminErrorBody>(
  baseUrl: string,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ADMIN_TOKEN,
): Promise<AdminAnswer<T>> {
  const result = await send(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(token === null ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  })
  return {
    status: result.status,
    headers: result.headers,
    json: (result.text === '' ? null : JSON.parse(result.text)) as T,
  }
}
