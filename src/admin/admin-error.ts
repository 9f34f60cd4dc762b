/**
 * What the admin API answers when a call fails: the project's JSON error shape (docs/errors.md)
 * with, for invalid_request, every problem with its path. The admin API is control plane: its
 * handlers throw these, and the server turns them into answers.
 */
import type { ConfigProblem, WireErrorCode } from '../errors.js'

export class AdminError extends Error {
  readonly status: number
  readonly code: WireErrorCode
  readonly problems: readonly ConfigProblem[]
  /** Flat [name, value…] list of extra response fields. */
  readonly headers: readonly string[]

  constructor(
    status: number,
    code: WireErrorCode,
    message: string,
    options: { problems?: readonly ConfigProblem[]; headers?: readonly string[] } = {},
  ) {
    super(message)
    this.name = 'AdminError'
    this.status = status
    this.code = code
    this.problems = options.problems ?? []
    this.headers = options.headers ?? []
  }
}

/** 400 invalid_request for one problem. */
export function invalidRequest(path: string, reason: string): AdminError {
  return new AdminError(400, 'invalid_request', `${path}: ${reason}`, {
    problems: [{ path, reason }],
  })
}

/** Refuses a request whose fields have problems, listing every one. */
export function refuseProblems(problems: readonly ConfigProblem[]): void {
  if (problems.length === 0) return
  throw new AdminError(400, 'invalid_request', 'The request is invalid.', { problems })
}

export function notFound(what: string): AdminError {
  return new AdminError(404, 'not_found', `${what} does not exist.`)
}

export function storeUnavailable(reason: string): AdminError {
  return new AdminError(503, 'store_unavailable', reason, { headers: ['retry-after', '5'] })
}
