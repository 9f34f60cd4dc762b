// The transport suite again on node:net sockets (--upstream-sockets node), which carry it where
// src/native is not built.
process.env['PORTCULLIS_UPSTREAM_SOCKETS'] = 'node'

const { createUpstreamSockets } = await import('../../../src/proxy/h1/socket-choice.js')
const { description } = createUpstreamSockets()
if (!description.startsWith('node:net')) throw new Error(`expected node:net, got ${description}`)
await import('./h1-pool.test.js')
