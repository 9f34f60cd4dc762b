import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { migrateReqWarning, readMigrateReq } from '../../../src/front/migrate-req.js'

const dir = mkdtempSync(join(tmpdir(), 'pcl-migrate-req-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const https = { https: { proxy_protocol: false } }

describe('net.ipv4.tcp_migrate_req at start on the uws front', () => {
  it('reads the setting, or null where the kernel has none', () => {
    const file = join(dir, 'tcp_migrate_req')
    writeFileSync(file, '1\n')
    expect(readMigrateReq(file)).toBe('1')
    expect(readMigrateReq(join(dir, 'absent'))).toBeNull()
  })

  it('warns for an https listener when the setting is off, naming it and what it protects', () => {
    const warning = migrateReqWarning(https, '0')
    expect(warning?.fields).toEqual({
      sysctl: 'net.ipv4.tcp_migrate_req',
      value: '0',
      listener: 'listeners.https',
    })
    expect(warning?.message).toMatch(/^net\.ipv4\.tcp_migrate_req is off: on a certificate reload/)
    expect(warning?.message).toContain('reset')
  })

  it('warns when the kernel has no such setting', () => {
    expect(migrateReqWarning(https, null)?.message).toMatch(/is not available on this kernel/)
  })

  it('says nothing when the setting is on, without https, or on a proxy_protocol listener', () => {
    expect(migrateReqWarning(https, '1')).toBeNull()
    expect(migrateReqWarning({}, '0')).toBeNull()
    expect(migrateReqWarning({ https: { proxy_protocol: true } }, '0')).toBeNull()
  })
})
