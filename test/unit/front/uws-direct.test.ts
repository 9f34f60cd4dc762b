import { request } from 'node:http'
import { connect } from 'node:net'
import type { HttpRequest, HttpResponse, us_listen_socket } from 'uWebSockets.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadNativeUws } from '../../../src/front/load-uws.js'
import { bindUwsDirect, UwsDirect } from '../../../src/front/uws-direct.js'
import { UwsHeadReader } from '../../../src/front/uws-request.js'
import { FakeExchange } from '../../helpers/exchange.js'
import { ipv6Text, peerAddress, uwsPeerAddress } from '../../../src/front/uws-peer.js'
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

describe('src/native/uws_direct on the uws front', () => {
  const { uws, file } = loadNativeUws()
  const seen: { native: string; uws: string }[] = []
  const heads: { native: string[] | undefined; uws: string[] }[] = []
  const copies: { direct: unknown; fallback: unknown }[] = []
  let compareCopies = false

  /** What copyRequestHead fills, but the request id (random when the client sends none). */
  function copiedFields(exchange: FakeExchange): unknown {
    const { method, rawPath, query, headers, host, hostHeader, contentLength, clientAddress } =
      exchange
    return { method, rawPath, query, headers, host, hostHeader, contentLength, clientAddress }
  }
  const warnings: string[] = []
  const direct = bindUwsDirect(file, (why) => warnings.push(why))
  const reader = new UwsHeadReader(direct)
  // The path without the build: uWS.js's calls.
  const fallbackHeads = new UwsHeadReader(new UwsDirect(null, 'uWS.js calls', () => undefined))
  let sockets: us_listen_socket[] = []
  let port4 = 0
  let port6 = 0

  function answer(res: HttpResponse, req: HttpRequest): void {
    if (compareCopies) {
      // The same head copied natively, then through uWS.js's calls (the path without the build).
      const copied = new FakeExchange()
      reader.copyRequestHead(copied, res, req)
      const fallback = new FakeExchange()
      fallbackHeads.copyRequestHead(fallback, res, req)
      copies.push({ direct: copiedFields(copied), fallback: copiedFields(fallback) })
    }
    const native = direct.addon?.head(req)
    const expected: string[] = []
    req.forEach((name, value) => expected.push(name, value))
    expected.push(req.getCaseSensitiveMethod(), req.getUrl(), req.getQuery() ?? '')
    heads.push({ native, uws: expected })
    seen.push({ native: peerAddress(res, direct), uws: uwsPeerAddress(res) })
    res.end('ok')
  }

  /** Sends `head` as written on a connection of its own; resolves when the server closes it. */
  function sendRaw(port: number, head: string): Promise<string> {
    return new Promise((resolve, reject) => {
      let answer = ''
      const socket = connect(port, '127.0.0.1', () => socket.end(Buffer.from(head, 'latin1')))
      socket.setEncoding('latin1')
      socket.on('data', (chunk: string) => (answer += chunk))
      socket.on('close', () => resolve(answer))
      socket.on('error', reject)
    })
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
    expect(direct.description).toBe('native (src/native uws_direct)')
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

  it.each([
    ['one header', 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n'],
    [
      'a query with another ? in it, and spaces around a value',
      'GET /a/b?x=1&y=%20?z HTTP/1.1\r\nHost: example.com\r\nX-Foo:  bar baz \r\n\r\n',
    ],
    ['an empty query', 'GET /? HTTP/1.1\r\nHost: h\r\n\r\n'],
    [
      'repeated and empty fields',
      'POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nX-A: 1\r\nX-A: 2\r\nX-E:\r\n\r\n',
    ],
    ['a UTF-8 value', 'GET /u HTTP/1.1\r\nHost: h\r\nX-Name: caf\xc3\xa9\r\n\r\n'],
    ['a long value', `GET /l HTTP/1.1\r\nHost: h\r\nX-Long: ${'v'.repeat(6000)}\r\n\r\n`],
    [
      '48 fields, the most uWS takes',
      `DELETE /many HTTP/1.1\r\nHost: h\r\n${Array.from({ length: 47 }, (_, i) => `X-F${i}: ${i}\r\n`).join('')}\r\n`,
    ],
  ])('reads a request head with %s as uWS.js does', async (_name, head) => {
    heads.length = 0
    await sendRaw(port4, head)
    expect(heads).toHaveLength(1)
    expect(heads[0]!.native).toEqual(heads[0]!.uws)
  })

  it('fills the exchange the same way as the path through uWS.js calls', async () => {
    compareCopies = true
    copies.length = 0
    try {
      await sendRaw(
        port4,
        'PUT /a/b?x=1 HTTP/1.1\r\nHost: Example.COM:81\r\nContent-Length: 0\r\nX-A: 1\r\nX-A: 2\r\n\r\n',
      )
    } finally {
      compareCopies = false
    }
    expect(copies).toHaveLength(1)
    expect(copies[0]!.direct).toEqual(copies[0]!.fallback)
    expect(copies[0]!.direct).toMatchObject({
      method: 'PUT',
      rawPath: '/a/b',
      query: 'x=1',
      host: 'example.com',
      clientAddress: '127.0.0.1',
    })
  })

  it('never disagreed with uWS', () => {
    expect(warnings).toEqual([])
  })
})
