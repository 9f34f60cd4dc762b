/** Every admin endpoint, in the order the OpenAPI document lists them. */
import { CONSUMER_ROUTES } from './consumer-routes.js'
import { HMAC_ROUTES } from './hmac-routes.js'
import { KEY_ROUTES } from './key-routes.js'
import type { AdminRoute } from './route.js'
import { SYSTEM_ROUTES } from './system-routes.js'

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  ...CONSUMER_ROUTES,
  ...KEY_ROUTES,
  ...HMAC_ROUTES,
  ...SYSTEM_ROUTES,
]
