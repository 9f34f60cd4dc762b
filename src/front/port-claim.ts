/**
 * Checks that no other process holds a listener's port before any worker binds it.
 *
 * uSockets binds with SO_REUSEPORT so that a host's workers share a port, and the kernel lets any
 * process of the same user join that group. A second gateway started on a port in use would
 * then not fail: it would quietly take a share of the first one's connections, under its own
 * config. Binding each port once without SO_REUSEPORT fails while any socket listens on it.
 */
import { createServer } from 'node:net'
import { PortcullisError } from '../errors.js'
import type { ListenersConfig } from './schema.js'

interface NamedAddress {
  readonly name: string
  readonly host: string
  readonly port: number
}

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE:
    'the port is in use by another process (a second gateway would share its connections)',
  EADDRNOTAVAIL: 'the address is not one of this host',
  EACCES: 'a port below 1024 needs privilege (CAP_NET_BIND_SERVICE)',
}

/** Throws PCL_ERR_LISTEN naming the first listener whose address cannot be bound now. */
export async function assertListenersFree(listeners: ListenersConfig): Promise<void> {
  const { http, https, mtls, status, admin } = listeners
  const addresses: NamedAddress[] = []
  if (http !== undefined) addresses.push({ name: 'listeners.http', ...http })
  if (https !== undefined) addresses.push({ name: 'listeners.https', ...https })
  if (mtls !== undefined) addresses.push({ name: 'listeners.mtls', ...mtls })
  if (status !== undefined) addresses.push({ name: 'listeners.status', ...status })
  if (admin !== undefined) addresses.push({ name: 'listeners.admin', ...admin })
  // Port 0 asks for a new port: nothing holds it.
  for (const address of addresses) if (address.port !== 0) await claimOnce(address)
}

function claimOnce({ name, host, port }: NamedAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', (error: NodeJS.ErrnoException) => {
      const reason = REASONS[error.code ?? ''] ?? error.message
      reject(
        new PortcullisError(
          'PCL_ERR_LISTEN',
          `${name}: cannot bind ${host}:${port} (${error.code}): ${reason}`,
        ),
      )
    })
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve()))
  })
}
