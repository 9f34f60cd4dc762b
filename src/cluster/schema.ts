/** Config schema of the process model: workers, respawn and shutdown. */
import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../config/fragments.js'

export const ClusterSchema = Type.Object(
  {
    workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 0, maximum: 1024 })], {
      description:
        'Worker processes. auto = one per core, since each worker runs one event loop. ' +
        '0 serves from the primary process alone (no cluster), for profiling.',
      default: 'auto',
    }),
    verify_threads: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 0, maximum: 64 })], {
      description:
        'Signature-verification threads per worker (piscina). 0 verifies on the event loop. ' +
        'auto = the cores no worker uses. Default 0: handing a check to a thread costs the ' +
        'event loop a round trip, which pays only when another core is really idle, and on a ' +
        'machine the workers keep busy it rarely is (bench/RESULTS.md, "Verify threads"). Use ' +
        'auto or N on machines with cores no process needs.',
      default: 0,
    }),
    shutdown_grace: Duration({
      description:
        'On SIGTERM, how long in-flight requests may take to finish before workers exit. ' +
        '25s stays under the 30s default stop timeouts of Kubernetes and systemd.',
      default: '25s',
    }),
    respawn_backoff_max: Duration({
      description:
        'A worker that dies is respawned after 100ms, doubling per crash in a row up to this.',
      default: '30s',
    }),
  },
  { additionalProperties: false, default: {} },
)

export type ClusterConfig = Static<typeof ClusterSchema>
