/**
 * Finds a module of src/native that `npm install` built (scripts/build-native.mjs), from the
 * sources (tests) and from dist/src/native alike. A missing build is not an error here: each
 * caller has a JavaScript fallback and names the one it runs, with this reason, at startup.
 *
 * `portcullis start --native off` sets PORTCULLIS_NATIVE=off before anything is loaded (workers
 * and verify threads inherit it): then no module loads, and every caller runs its fallback.
 */
import { createRequire } from 'node:module'

export const NATIVE_ENV = 'PORTCULLIS_NATIVE'

/** Why a caller runs its fallback under `--native off`, for the startup line. */
export const NATIVE_OFF_REASON = 'chosen with --native off'

/** Whether `--native off` turned every native module off in this process. */
export function nativeOff(): boolean {
  return process.env[NATIVE_ENV] === 'off'
}

/** Where node-gyp leaves its output, seen from src/native and from dist/src/native. */
const BUILD_DIRECTORIES = ['./build/Release/', '../../../src/native/build/Release/']

export type NativeAddon<T> =
  { readonly addon: T; readonly failure: null } | { readonly addon: null; readonly failure: string }

/**
 * Loads `<name>.node`; the failure says why not ("not built", the loader's own message, or
 * `--native off`).
 */
export function loadNativeAddon<T>(name: string): NativeAddon<T> {
  if (nativeOff()) return { addon: null, failure: NATIVE_OFF_REASON }
  const require = createRequire(import.meta.url)
  const failures: string[] = []
  for (const directory of BUILD_DIRECTORIES) {
    const file = new URL(`${directory}${name}.node`, import.meta.url)
    try {
      return { addon: require(file.pathname) as T, failure: null }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'MODULE_NOT_FOUND') failures.push((error as Error).message)
    }
  }
  return { addon: null, failure: failures.length > 0 ? failures.join('; ') : 'not built' }
}
