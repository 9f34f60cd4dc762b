import { describe, expect, it } from 'vitest'
import { parseAdminArgs } from '../../../src/cli/admin-args.js'

const ENV = { PORTCULLIS_ADMIN_URL: 'http://127.0.0.1:8082', PORTCULLIS_ADMIN_TOKEN: 't' }

describe('admin command lines', () => {
  it('reads verb, positionals, repeated flags and --json', () => {
    const args = parseAdminArgs(
      ['keys', 'create', 'acme', '--scope', 'a', '--scope=b', '--label', 'ci', '--json'],
      ENV,
    )
    expect(args).toMatchObject({
      command: 'keys',
      verb: 'create',
      positionals: ['acme'],
      json: true,
    })
    expect(args.flags.get('--scope')).toEqual(['a', 'b'])
    expect(args.adminUrl).toBe('http://127.0.0.1:8082')
  })

  it('prefers flags to the environment for the endpoint and token', () => {
    const args = parseAdminArgs(
      ['consumers', 'list', '--admin-url', 'http://h:1', '--admin-token', 'x'],
      ENV,
    )
    expect([args.adminUrl, args.adminToken]).toEqual(['http://h:1', 'x'])
  })

  it.each([
    [['consumers'], 'takes one of add, list, show, rm'],
    [['consumers', 'drop', 'x'], 'got "drop"'],
    [['consumers', 'show'], 'usage: portcullis consumers show NAME'],
    [['consumers', 'show', 'a', 'b'], 'usage:'],
    [['keys', 'list', '--scope', 'x'], 'keys list takes no --scope'],
    [['keys', 'rotate', 'k', '--grace'], '--grace needs a value'],
    [['keys', 'rotate', 'k', '--grace', '1h', '--grace', '2h'], 'given twice'],
    [['revoke', '--jti', 'j'], 'one of --exp or --ttl'],
    [['revoke', '--config', 'g.yaml', '--jti', 'j', '--ttl', '1h'], 'not --config'],
    [['revoke', '--jti', 'j', '--exp', '1', '--ttl', '1h'], 'one of --exp or --ttl'],
  ])('refuses %j with a usage error', (argv, message) => {
    expect(() => parseAdminArgs(argv, ENV)).toThrow(
      expect.objectContaining({
        code: 'PCL_ERR_CLI_USAGE',
        message: expect.stringContaining(message),
      }),
    )
  })

  it('needs the endpoint and token, except for keys hash', () => {
    expect(() => parseAdminArgs(['consumers', 'list'], {})).toThrow(/--admin-url and --admin-token/)
    expect(parseAdminArgs(['keys', 'hash'], {}).adminUrl).toBeNull()
  })
})
