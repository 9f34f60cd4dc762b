import { describe, expect, it } from 'vitest'
import { workerExecArgv } from '../../../src/cluster/primary.js'

describe('workerExecArgv', () => {
  it('gives workers 8 MiB semi-spaces, keeping the primary’s own flags', () => {
    expect(workerExecArgv(['--enable-source-maps'], undefined)).toEqual([
      '--enable-source-maps',
      '--max-semi-space-size=8',
    ])
  })

  it('leaves the size to the operator who chose one, on the command line or in NODE_OPTIONS', () => {
    expect(workerExecArgv(['--max-semi-space-size=32'], undefined)).toEqual([
      '--max-semi-space-size=32',
    ])
    expect(workerExecArgv([], '--inspect --max-semi-space-size=2')).toEqual([])
  })
})
