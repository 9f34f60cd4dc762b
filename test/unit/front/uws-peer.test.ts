import { request } from 'node:http'
import type { HttpResponse, us_listen_socket } from 'uWebSockets.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadNativeUws } from '../../../src/front/load-uws.js'
import {
  bindPeerAddress,
  ipv6Text,
  peerAddress,
  uwsPeerAddress,
} from '../../../src/front/uws-peer.js'
import { freePort } from '../../helpers/ports.js'

function bytes(...groups: number[]): Uint8Array {
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8
    out[i * 2 + 1] = g & 255
  })
  return out
}

describe('ipv6Text writes RFC 5952 text', () => {
  it.each([
    [bytes(0, 0, 0, 0, 0, 0, 0, 1), '::1'],
    [bytes(0, 0, 0, 0, 0, 0, 0, 0), '::'],
    [bytes(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), '2001:db8::1'],
    // §4.2.2: a single zero group is not shortened
    [bytes(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), '2001:db8:0:1:1:1:1:1'],
    // §4.2.3: the longest run, and the first of equal runs
    [bytes(0x2001, 0, 0, 1, 0, 0, 0, 1), '2001:0:0:1::1'],
    [bytes(0x2001, 0xdb8, 0, 0, 1, 0, 0, 1), '2001:db8::1:0:0:1'],
    // §4.3: lowercase, no leading zeros
    [bytes(0xfe80, 0, 0, 0, 0xabcd, 0x0ef0, 0x12, 0x3), 'fe80::abcd:ef0:12:3'],
    [bytes(1, 2, 3, 4, 5, 6, 7, 0), '1:2:3:4:5:6:7:0'],
  ])('%s → %s', (input, text) => {
    expect(ipv6Text(input)).toBe(text)
  })
})

describe('the client address on the uws front', () => {
  const { uws, file } = loadNativeUws()
  const seen: { native: string; uws: string }[] = []
  const warnings: string[] = []
  let sockets: us_listen_socket[] = []
  let port4 = 0
  let port6 = 0

  function answer(res: HttpResponse): void {
    seen.push({ native: peerAddress(res), uws: uwsPeerAddress(res) })
    res.end('ok')
  }

  function listen(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      uws
        .App()
        .any('/*', answer)
        .listen(host, port, (socket) => {
          if (socket === false) reject(new Error(`cannot listen on ${host}:${port}`))
          else {
            sockets.push(socket)
            resolve()
          }
        })
    })
  }

  function get(host: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      request({ host, port, path: '/', agent: false }, (response) => {
        response.resume()
        response.on('end', resolve)
      })
        .on('error', reject)
        .end()
    })
  }

  beforeAll(async () => {
    expect(bindPeerAddress(file, (why) => warnings.push(why))).toBe('native (src/native)')
    port4 = await freePort()
    port6 = await freePort()
    await listen('127.0.0.1', port4)
    await listen('::', port6)
  })

  afterAll(() => {
    for (const socket of sockets) uws.us_listen_socket_close(socket)
    sockets = []
  })

  it('reads an IPv4 peer as dotted text, the same as uWS', async () => {
    seen.length = 0
    await get('127.0.0.1', port4)
    expect(seen).toEqual([{ native: '127.0.0.1', uws: '127.0.0.1' }])
  })

  it('reads an IPv4 peer of a dual-stack listener as IPv4, not as ::ffff:a.b.c.d', async () => {
    seen.length = 0
    await get('127.0.0.1', port6)
    expect(seen).toEqual([{ native: '127.0.0.1', uws: '127.0.0.1' }])
  })

  it('reads an IPv6 peer as RFC 5952 text, as the node front does', async () => {
    seen.length = 0
    await get('::1', port6)
    expect(seen).toEqual([{ native: '::1', uws: '::1' }])
  })

  it('never disagreed with uWS', () => {
    expect(warnings).toEqual([])
  })
})
