/**
 * What makes a request a CORS preflight (Fetch standard, "CORS-preflight request"): OPTIONS with
 * Origin and Access-Control-Request-Method. Read by the cors stage and by the request path,
 * which matches a preflight by the method it asks about.
 */
import type { StageExchange } from '../../pipeline/stage.js'

export const ACCESS_CONTROL_REQUEST_METHOD = 'access-control-request-method'
export const ACCESS_CONTROL_REQUEST_HEADERS = 'access-control-request-headers'

/** The method a preflight asks about; undefined when the request is not a preflight. */
export function preflightMethod(exchange: StageExchange): string | undefined {
  if (exchange.method !== 'OPTIONS' || exchange.header('origin') === undefined) return undefined
  return exchange.header(ACCESS_CONTROL_REQUEST_METHOD)
}
