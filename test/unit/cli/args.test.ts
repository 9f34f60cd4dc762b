import { availableParallelism } from 'node:os'
import { describe, expect, it } from 'vitest'

import { parseArgs, resolveVerifyThreads } from '../../../src/cli/args.js'
import { PortcullisError } from '../../../src/errors.js'

describe('parseArgs', () => {
  it('leaves the verifier to the gateway unless --verifier names one', () => {
    expect(parseArgs(['start', '--config', 'g.yaml']).verifier).toBeNull()
    expect(parseArgs(['start', '--config', 'g.yaml', '--verifier', 'native']).verifier).toBe(
      'native',
    )
    expect(parseArgs(['start', '--config', 'g.yaml', '--verifier=node']).verifier).toBe('node')
  })

  it('refuses a verifier it does not know, naming the flag', () => {
    expect(() => parseArgs(['start', '--config', 'g.yaml', '--verifier', 'wasm'])).toThrow(
      '--verifier takes native or node (got "wasm")',
    )
  })

  it('leaves the upstream sockets to the gateway unless --upstream-sockets names them', () => {
    expect(parseArgs(['start', '--config', 'g.yaml']).upstreamSockets).toBeNull()
    expect(
      parseArgs(['start', '--config', 'g.yaml', '--upstream-sockets', 'node']).upstreamSockets,
    ).toBe('node')
    expect(
      parseArgs(['start', '--config', 'g.yaml', '--upstream-sockets=native']).upstreamSockets,
    ).toBe('native')
    expect(() =>
      parseArgs(['start', '--config', 'g.yaml', '--upstream-sockets', 'io_uring']),
    ).toThrow('--upstream-sockets takes native or node (got "io_uring")')
  })

  it('leaves each native module to the gateway unless --native off turns them all off', () => {
    expect(parseArgs(['start', '--config', 'g.yaml']).native).toBe('auto')
    expect(parseArgs(['start', '--config', 'g.yaml', '--native', 'off']).native).toBe('off')
    expect(parseArgs(['start', '--config', 'g.yaml', '--native=auto']).native).toBe('auto')
    expect(() => parseArgs(['start', '--config', 'g.yaml', '--native', 'no'])).toThrow(
      '--native takes auto or off (got "no")',
    )
  })

  it.each([
    ['--verifier', 'native'],
    ['--upstream-sockets', 'native'],
  ])('refuses --native off with %s %s, which asks for a native module', (flag, value) => {
    expect(() =>
      parseArgs(['start', '--config', 'g.yaml', '--native', 'off', flag, value]),
    ).toThrow(`--native off runs no native module: it cannot go with ${flag} native`)
  })

  it('takes --native off with the node choices it implies', () => {
    const args = parseArgs([
      'start',
      '--config',
      'g.yaml',
      '--native',
      'off',
      '--verifier',
      'node',
      '--upstream-sockets',
      'node',
    ])
    expect(args).toMatchObject({ native: 'off', verifier: 'node', upstreamSockets: 'node' })
  })

  it('answers --help and --version whatever else the line holds', () => {
    expect(parseArgs(['start', '--config', 'g.yaml', '--help', '--bogus']).command).toBe('help')
    expect(parseArgs(['--version', 'start']).command).toBe('version')
  })

  it('runs the native uws front unless --front node is given', () => {
    expect(parseArgs(['start', '--config', 'g.yaml']).front).toBe('uws')
    expect(parseArgs(['start', '--config', 'g.yaml', '--front', 'node']).front).toBe('node')
    expect(() => parseArgs(['start', '--config', 'g.yaml', '--front', 'h2'])).toThrow(
      '--front takes uws or node',
    )
  })

  describe('when a command that reads a config has no --config', () => {
    it.each(['start', 'check'])('refuses %s as a usage error naming the flag', (command) => {
      let error: unknown
      try {
        parseArgs([command], {})
      } catch (caught) {
        error = caught
      }
      expect(error).toBeInstanceOf(PortcullisError)
      expect((error as PortcullisError).code).toBe('PCL_ERR_CLI_USAGE')
      expect((error as PortcullisError).message).toMatch(new RegExp(`^${command} needs --config`))
    })

    it('takes $PORTCULLIS_CONFIG as the explicit choice it is', () => {
      expect(parseArgs(['start'], { PORTCULLIS_CONFIG: 'mine.yaml' }).config).toBe('mine.yaml')
    })
  })

  describe('token', () => {
    it('needs a key, an issuer and an audience, and names what is missing', () => {
      expect(() => parseArgs(['token', '--issuer', 'https://idp'], {})).toThrow(
        'token needs --key FILE, --audience AUD',
      )
    })

    it('collects repeated audiences and scopes, splitting scopes on spaces', () => {
      const args = parseArgs(
        ['token', '--key', 'k.pem', '--issuer', 'i', '--audience', 'a', '--audience=b'].concat([
          '--scope',
          'read write',
          '--scope',
          'admin',
          '--scope',
          'read',
        ]),
        {},
      )
      expect(args.config).toBeNull()
      expect(args.token.audiences).toEqual(['a', 'b'])
      expect(args.token.scopes).toEqual(['read', 'write', 'admin'])
    })
  })
})

describe('resolveVerifyThreads', () => {
  it('gives auto the cores the gateway workers leave idle, never fewer than 0', () => {
    const cores = availableParallelism()
    // --workers 0 serves from one process: it takes a core too.
    expect(resolveVerifyThreads('auto', 0, 0)).toBe(Math.max(0, cores - 1))
    expect(resolveVerifyThreads(null, 'auto', 1)).toBe(Math.max(0, cores - 1))
    expect(resolveVerifyThreads('auto', 0, cores + 4)).toBe(0)
  })

  it('takes the flag over the config, and a number as it is', () => {
    expect(resolveVerifyThreads(3, 'auto', 1)).toBe(3)
    expect(resolveVerifyThreads(null, 2, 1)).toBe(2)
  })
})
