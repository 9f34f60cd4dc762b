// `npm install` runs this: builds src/native (the native JWT signature checks, upstream sockets
// and the uws front's direct reads of request heads and client addresses) with the node-gyp that npm ships, against the headers npm is configured with
// (npm_config_nodedir).
//
// A failed build does not fail the install: the gateway then checks signatures with node:crypto,
// carries upstream requests on node:net and reads requests through uWS.js's own calls, and its
// startup line says so, with the reason.
// `portcullis start --verifier native` or `--upstream-sockets native` refuses to start without
// the build.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const directory = fileURLToPath(new URL('../src/native/', import.meta.url))
const nodeGyp = process.env.npm_config_node_gyp
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp]] : ['node-gyp', []]
const result = spawnSync(command, [...args, 'rebuild'], { cwd: directory, stdio: 'inherit' })
if (result.status !== 0) {
  const why = result.error ? result.error.message : `node-gyp exited with ${result.status}`
  process.stderr.write(
    `portcullis: src/native was not built (${why}): JWT signatures will be ` +
      'checked with node:crypto, upstream requests carried by node:net and requests read ' +
      "through uWS.js's calls, each costing more CPU than the native path (bench/RESULTS.md, " +
      '"Native modules: what each saves"). It needs python3, make and a C compiler; ' +
      'run `npm run build:native` once they are installed.\n',
  )
}
