// The upstream-socket suite again on node:net, which carries the transport where src/native is
// not built: both implementations must keep the same contract.
process.env['PORTCULLIS_UPSTREAM_SOCKETS'] = 'node'
await import('./upstream-socket.test.js')
