/**
 * ip-restriction on an in-memory exchange: deny wins, a non-empty allow admits only its blocks,
 * IPv4, IPv6 and IPv4-mapped clients, and the edges of blocks.
 */
import { describe, expect, it } from 'vitest'
import type { ConfigProblem } from '../../../src/errors.js'
import {
  compileIpRestriction,
  type IpRestrictionStage,
} from '../../../src/stages/ip-restriction/index.js'
import { FakeExchange } from '../../helpers/exchange.js'

function compile(ip: { allow?: string[]; deny?: string[] }): IpRestrictionStage {
  const problems: ConfigProblem[] = []
  const stage = compileIpRestriction({ ip }, { name: 'r', path: 'routes[0]', problems })
  expect(problems).toEqual([])
  expect(stage).not.toBeNull()
  return stage!
}

function from(address: string): FakeExchange {
  const exchange = new FakeExchange()
  exchange.clientAddress = address
  return exchange
}

/** Whether the stage lets each address through. */
function admits(stage: IpRestrictionStage, addresses: string[]): boolean[] {
  return addresses.map((address) => stage.onRequest(from(address)) === undefined)
}

describe('ip-restriction', () => {
  it('refuses with 403 forbidden naming no rule', () => {
    const verdict = compile({ deny: ['10.0.0.0/8'] }).onRequest(from('10.1.2.3'))
    expect(verdict).toMatchObject({ status: 403, code: 'forbidden' })
    expect(JSON.stringify(verdict)).not.toMatch(/10\./)
  })

  it('compiles to no stage without rules', () => {
    const problems: ConfigProblem[] = []
    const site = { name: 'r', path: 'routes[0]', problems }
    expect(compileIpRestriction({}, site)).toBeNull()
    expect(compileIpRestriction({ ip: { allow: [], deny: [] } }, site)).toBeNull()
  })

  describe('with an allow list only', () => {
    it('admits IPv4 clients in a block and refuses the others', () => {
      const stage = compile({ allow: ['192.0.2.0/24', '198.51.100.7'] })
      expect(
        admits(stage, ['192.0.2.0', '192.0.2.255', '198.51.100.7', '192.0.3.0', '198.51.100.8']),
      ).toEqual([true, true, true, false, false])
    })

    it('admits IPv6 clients in a block and refuses the others', () => {
      const stage = compile({ allow: ['2001:db8::/32', 'fe80::1'] })
      expect(
        admits(stage, [
          '2001:db8::',
          '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff',
          'fe80::1',
          '2001:db9::',
          'fe80::2',
        ]),
      ).toEqual([true, true, true, false, false])
    })

    it('refuses an IPv4 client when only IPv6 blocks are allowed, and the reverse', () => {
      expect(admits(compile({ allow: ['::/0'] }), ['10.0.0.1', '::1'])).toEqual([false, true])
      expect(admits(compile({ allow: ['0.0.0.0/0'] }), ['10.0.0.1', '::1'])).toEqual([true, false])
    })

    it('refuses an address it cannot read', () => {
      expect(
        admits(compile({ allow: ['0.0.0.0/0', '::/0'] }), ['', 'unix', 'fe80::1%eth0']),
      ).toEqual([false, false, false])
    })
  })

  describe('with a deny list only', () => {
    it('refuses clients in a block and admits the others', () => {
      const stage = compile({ deny: ['203.0.113.0/24', '2001:db8::/48'] })
      expect(
        admits(stage, ['203.0.113.9', '203.0.114.1', '2001:db8:0:1::', '2001:db8:1::']),
      ).toEqual([false, true, false, true])
    })
  })

  describe('with both lists', () => {
    it('refuses a client deny names, even inside an allowed block (deny wins)', () => {
      const stage = compile({ allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] })
      expect(admits(stage, ['10.1.0.1', '10.9.0.1', '11.0.0.1'])).toEqual([true, false, false])
    })
  })

  describe('with an IPv4-mapped IPv6 client', () => {
    it('matches it against the IPv4 blocks, in every spelling', () => {
      const stage = compile({ allow: ['10.0.0.0/8'] })
      expect(
        admits(stage, [
          '::ffff:10.1.2.3',
          '::FFFF:a01:203',
          '0:0:0:0:0:ffff:10.1.2.3',
          '::ffff:11.0.0.1',
        ]),
      ).toEqual([true, true, true, false])
    })

    it('matches an IPv4 client against a mapped block', () => {
      const stage = compile({ deny: ['::ffff:10.0.0.0/104'] })
      expect(admits(stage, ['10.200.0.1', '::ffff:10.0.0.1', '11.0.0.1'])).toEqual([
        false,
        false,
        true,
      ])
    })
  })

  describe('at the edges of blocks', () => {
    it('takes /0 as every address of its family', () => {
      const v4 = compile({ deny: ['0.0.0.0/0'] })
      expect(admits(v4, ['0.0.0.0', '255.255.255.255', '::ffff:1.2.3.4', '::'])).toEqual([
        false,
        false,
        false,
        true,
      ])
      const v6 = compile({ deny: ['::/0'] })
      expect(
        admits(v6, ['::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '2001:db8::1', '1.2.3.4']),
      ).toEqual([false, false, false, true])
    })

    it('takes /32 as one IPv4 address and /128 as one IPv6 address', () => {
      const stage = compile({ allow: ['192.0.2.7/32', '2001:db8::7/128'] })
      expect(
        admits(stage, [
          '192.0.2.7',
          '192.0.2.6',
          '192.0.2.8',
          '2001:db8::7',
          '2001:db8::6',
          '2001:db8::8',
        ]),
      ).toEqual([true, false, false, true, false, false])
    })

    it('clears host bits of an entry: 10.1.2.3/8 is 10.0.0.0/8', () => {
      expect(
        admits(compile({ allow: ['10.1.2.3/8'] }), ['10.0.0.0', '10.255.255.255', '11.0.0.0']),
      ).toEqual([true, true, false])
    })

    it('reads the first and last address of the space and of a block straddling a word', () => {
      const stage = compile({
        allow: [
          '255.255.255.255',
          'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
          '2001:db8:0:0:8000::/33',
        ],
      })
      expect(
        admits(stage, [
          '255.255.255.255',
          '255.255.255.254',
          'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
          'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe',
        ]),
      ).toEqual([true, false, true, false])
    })
  })
})
