import { afterEach, describe, expect, it } from 'vitest'
import { loadNativeAddon, NATIVE_ENV, nativeOff } from '../../../src/native/load.js'

describe('loadNativeAddon', () => {
  afterEach(() => {
    delete process.env[NATIVE_ENV]
  })

  it('loads a built module', () => {
    expect(nativeOff()).toBe(false)
    expect(loadNativeAddon('jwt_verify')).toMatchObject({
      addon: expect.any(Object),
      failure: null,
    })
  })

  it.each(['jwt_verify', 'upstream_socket', 'uws_direct'])(
    'loads no module under --native off, even a built one (%s), and says why',
    (name) => {
      process.env[NATIVE_ENV] = 'off'
      expect(nativeOff()).toBe(true)
      expect(loadNativeAddon(name)).toEqual({ addon: null, failure: 'chosen with --native off' })
    },
  )

  it('says a module that was never built is not built', () => {
    expect(loadNativeAddon('no_such_module')).toEqual({ addon: null, failure: 'not built' })
  })
})
