/** Config schema of the `tls:` section: what applies to the certificates of every TLS listener. */
import { Type, type Static } from '@sinclair/typebox'
import { Duration } from '../config/fragments.js'

export const TlsSchema = Type.Object(
  {
    warn_expiry: Duration({
      description:
        'A listener certificate that expires within this time is logged as a warning at ' +
        'start and on every reload, naming its file; an expired one is a config error. 14d ' +
        'leaves two weeks for a renewal that failed, as common ACME clients renew 30 days ahead.',
      default: '14d',
    }),
  },
  { additionalProperties: false, default: {} },
)

export type TlsConfig = Static<typeof TlsSchema>
