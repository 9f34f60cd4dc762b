import { apiKey } from './api-key.js'
import { hmac } from './hmac.js'
import { introspection } from './introspection.js'
import { jwtEddsa, jwtEs256, jwtRs256 } from './jwt.js'
import { metrics } from './metrics.js'
import { passthrough } from './passthrough.js'
import { ratelimit } from './ratelimit.js'
import { tracing } from './tracing.js'
import { tls, tlsHandshake } from './tls.js'
import type { Scenario } from './types.js'
import { validate } from './validate.js'

/** Every scenario `--scenario` accepts, in the order `--peers` runs them. A new scenario is one
 * file plus one line here. */
export const scenarios: ReadonlyMap<string, Scenario> = new Map(
  [
    passthrough,
    jwtRs256,
    jwtEs256,
    jwtEddsa,
    ratelimit,
    apiKey,
    hmac,
    introspection,
    validate,
    metrics,
    tracing,
    tls,
    tlsHandshake,
  ].map((scenario) => [scenario.name, scenario]),
)
