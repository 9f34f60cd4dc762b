import { describe, expect, it } from 'vitest'
import pino from 'pino'
import { describeRouteTable } from '../../../src/cli/route-table.js'
import { loadGatewayConfig } from '../../../src/config/gateway-config.js'

const silent = pino({ level: 'silent' })

describe('portcullis check', () => {
  it.each(['config/gateway.yaml', 'config/examples/multi-host.yaml'])(
    'prints the compiled route table of %s',
    async (file) => {
      const { runtime } = loadGatewayConfig(file, silent)
      const name = file.replace(/^config\//, '').replace(/[/.]/g, '_')
      await expect(describeRouteTable(runtime) + '\n').toMatchFileSnapshot(
        `../../fixtures/route-table/${name}.txt`,
      )
    },
  )
})
