/**
 * `npm start`: the demo upstream on 127.0.0.1:3000 and the gateway on the default config, side by
 * side, with a curl line that works. Ctrl-C stops both.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { startDemoUpstream } from './demo-upstream.js'

const CONFIG = process.env['PORTCULLIS_CONFIG'] ?? 'config/gateway.yaml'
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url))

const upstream = await startDemoUpstream({ host: '127.0.0.1', port: 3000 })
const gateway = spawn(process.execPath, [cli, 'start', '--config', CONFIG, ...process.argv.slice(2)], {
  stdio: ['ignore', 'pipe', 'inherit'],
})

createInterface({ input: gateway.stdout! }).on('line', (line) => {
  process.stdout.write(`${line}\n`)
  if (line.includes('"msg":"portcullis started"')) {
    process.stdout.write(
      '\nportcullis is serving the demo. Try:\n\n' +
        '  curl -i http://127.0.0.1:8080/api/hello?name=portcullis\n' +
        '  curl -i http://127.0.0.1:8081/readyz\n\n' +
        'Ctrl-C stops the gateway and the demo upstream.\n\n',
    )
  }
})

const stop = () => gateway.kill('SIGTERM')
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
gateway.on('exit', (code) => {
  void upstream.close().then(() => process.exit(code ?? 0))
})
