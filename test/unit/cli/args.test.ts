import { describe, expect, it } from 'vitest'

import { parseArgs } from '../../../src/cli/args.js'

describe('parseArgs', () => {
  it('leaves the verifier to the gateway unless --verifier names one', () => {
    expect(parseArgs(['start']).verifier).toBeNull()
    expect(parseArgs(['start', '--verifier', 'native']).verifier).toBe('native')
    expect(parseArgs(['start', '--verifier=node']).verifier).toBe('node')
  })

  it('refuses a verifier it does not know, naming the flag', () => {
    expect(() => parseArgs(['start', '--verifier', 'wasm'])).toThrow(
      '--verifier takes native or node (got "wasm")',
    )
  })

  it('leaves the upstream sockets to the gateway unless --upstream-sockets names them', () => {
    expect(parseArgs(['start']).upstreamSockets).toBeNull()
    expect(parseArgs(['start', '--upstream-sockets', 'node']).upstreamSockets).toBe('node')
    expect(parseArgs(['start', '--upstream-sockets=native']).upstreamSockets).toBe('native')
    expect(() => parseArgs(['start', '--upstream-sockets', 'io_uring'])).toThrow(
      '--upstream-sockets takes native or node (got "io_uring")',
    )
  })

  it('answers --help and --version whatever else the line holds', () => {
    expect(parseArgs(['start', '--help', '--bogus']).command).toBe('help')
    expect(parseArgs(['--version', 'start']).command).toBe('version')
  })

  it('runs the native uws front unless --front node is given', () => {
    expect(parseArgs(['start']).front).toBe('uws')
    expect(parseArgs(['start', '--front', 'node']).front).toBe('node')
    expect(() => parseArgs(['start', '--front', 'h2'])).toThrow('--front takes uws or node')
  })
})
