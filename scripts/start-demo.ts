/**
 * `npm start`: the demo upstream on 127.0.0.1:3000 and the gateway on the default config, side by
 * side, with a curl line that works. Ctrl-C stops both.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startDemoIdp } from './demo-idp.js'
import { startDemoUpstream } from './demo-upstream.js'

const CONFIG = process.env['PORTCULLIS_CONFIG'] ?? 'config/gateway.yaml'
/** The key config/gateway.yaml declares by hash for the consumer demo-partner: the demo's only. */
const DEMO_KEY = 'pc_live_aMxQ9VjTBPwKD9CkgBK8Ae8Bi40UKZ_0rSWyA'
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url))

const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 3000 })
// The JWKS must be up before the gateway starts: workers load their keys before they listen.
const idp = await startDemoIdp(3001)
const reader = await idp.mint({ sub: 'alice', tid: 'acme', scope: 'profile:read' })
const stranger = await idp.mint({ sub: 'bob', scope: 'other' })
const gateway = spawn(
  process.execPath,
  [cli, 'start', '--config', CONFIG, ...process.argv.slice(2)],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)

createInterface({ input: gateway.stdout! }).on('line', (line) => {
  process.stdout.write(`${line}\n`)
  if (line.includes('"msg":"portcullis started"')) {
    process.stdout.write(
      '\nportcullis is serving the demo. Try:\n\n' +
        '  curl -i http://127.0.0.1:8080/api/hello?name=portcullis\n' +
        '  curl -i http://127.0.0.1:8081/readyz\n\n' +
        'A route that needs a JWT with scope profile:read (the demo identity provider on :3001\n' +
        'signed these tokens; the upstream echo shows X-User-Id and no Authorization header):\n\n' +
        `  curl -i http://127.0.0.1:8080/me -H 'Authorization: Bearer ${reader}'\n` +
        '  curl -i http://127.0.0.1:8080/me                       # 401, WWW-Authenticate\n' +
        `  curl -i http://127.0.0.1:8080/me -H 'Authorization: Bearer ${stranger}'   # 403\n\n` +
        'A route that needs an API key (the demo consumer demo-partner holds this one; the\n' +
        'upstream echo shows X-Consumer-Id and no X-API-Key):\n\n' +
        `  curl -i http://127.0.0.1:8080/orders/42 -H 'X-API-Key: ${DEMO_KEY}'\n` +
        `  curl -i http://127.0.0.1:8080/orders/42 -H 'X-API-Key: ${DEMO_KEY.slice(0, -1)}x'   # 401\n\n` +
        'Ctrl-C stops the gateway and the demo upstream.\n\n',
    )
  }
})

const stop = () => gateway.kill('SIGTERM')
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
gateway.on('exit', (code) => {
  void Promise.all([upstream.close(), idp.close()]).then(() => process.exit(code ?? 0))
})
