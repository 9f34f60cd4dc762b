/** `--port P --upstream http://host:port` for the floor servers (the bench's --gateway-cmd words). */
import { parseArgs } from 'node:util'

export function floorArgs(): { port: number; upstream: URL } {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      upstream: { type: 'string', default: 'http://127.0.0.1:18090' },
    },
  })
  if (values.port === undefined) throw new Error('--port is required')
  return { port: Number(values.port), upstream: new URL(values.upstream) }
}
