/**
 * Loads the native uWebSockets.js binding directly. The package we install it from falls back to
 * a slow JavaScript shim when its binary does not load; a gateway that silently became several
 * times slower would be worse than one that refuses to start, so this never takes that path.
 */
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type * as Uws from 'uWebSockets.js'
import { PortcullisError } from '../errors.js'

export type UwsModule = typeof Uws

export interface LoadedUws {
  readonly uws: UwsModule
  /** For the startup line: which binary runs. */
  readonly description: string
  /** The binary's path. */
  readonly file: string
}

const require = createRequire(import.meta.url)

export function loadNativeUws(): LoadedUws {
  let packageDir: string
  let version = 'unknown'
  try {
    const manifest = require.resolve('uWebSockets.js/package.json')
    packageDir = dirname(manifest)
    version = (require(manifest) as { version: string }).version
  } catch (error) {
    throw new PortcullisError(
      'PCL_ERR_FRONT_UNAVAILABLE',
      `uWebSockets.js is not installed (${(error as Error).message}); run npm install, or start with --front node`,
    )
  }
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`
  const file = join(packageDir, 'binaries', binary)
  try {
    const uws = require(file) as UwsModule
    return { uws, description: `uws (native ${binary}, uWebSockets.js ${version})`, file }
  } catch (error) {
    throw new PortcullisError(
      'PCL_ERR_FRONT_UNAVAILABLE',
      `the native uWebSockets.js binding ${binary} does not load on this machine ` +
        `(Node ${process.version}, ABI ${process.versions.modules}): ${(error as Error).message}. ` +
        'uWebSockets.js 20.30 ships binaries for Node 16/18/20 on glibc Linux, macOS and Windows. ' +
        'Start with --front node to run the node:http front instead.',
    )
  }
}
