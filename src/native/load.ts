/**
 * Finds a module of src/native that `npm install` built (scripts/build-native.mjs), from the
 * sources (tests) and from dist/src/native alike. A missing build is not an error here: each
 * caller has a JavaScript fallback and names the one it runs, with this reason, at startup.
 */
import { createRequire } from 'node:module'

/** Where node-gyp leaves its output, seen from src/native and from dist/src/native. */
const BUILD_DIRECTORIES = ['./build/Release/', '../../../src/native/build/Release/']

export type NativeAddon<T> =
  { readonly addon: T; readonly failure: null } | { readonly addon: null; readonly failure: string }

/** Loads `<name>.node`; the failure says why not ("not built", or the loader's own message). */
export function loadNativeAddon<T>(name: string): NativeAddon<T> {
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
