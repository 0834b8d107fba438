/** The auditor's HTTP client: gzip, redirects, retries, and bounded bodies against a real local server. */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TileClient } from '../../../src/audit/http.ts'

let server: Server
let base = ''
let flaky = 0
const tile = Uint8Array.from({ length: 256 * 32 }, (_, i) => i & 0xff)

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? ''
    if (path === '/plain') return res.end(Buffer.from(tile))
    if (path === '/gzip') {
      res.setHeader('content-encoding', 'gzip')
      return res.end(gzipSync(tile))
    }
    if (path === '/moved') {
      res.statusCode = 301
      res.setHeader('location', '/gzip')
      return res.end()
    }
    if (path === '/loop') {
      res.statusCode = 302
      res.setHeader('location', '/loop')
      return res.end()
    }
    if (path === '/flaky') {
      flaky++
      res.statusCode = flaky % 2 === 1 ? 503 : 200
      return res.end(flaky % 2 === 1 ? 'busy' : 'ok')
    }
    if (path === '/missing') {
      res.statusCode = 404
      return res.end('not here')
    }
    if (path === '/huge') {
      // More than any tile or bundle can be: 9 MiB, sent in pieces.
      const piece = Buffer.alloc(1024 * 1024)
      for (let i = 0; i < 9; i++) res.write(piece)
      return res.end()
    }
    if (path === '/bomb') {
      res.setHeader('content-encoding', 'gzip')
      return res.end(gzipSync(Buffer.alloc(64 * 1024 * 1024)))
    }
    if (path === '/brotli') {
      res.setHeader('content-encoding', 'br')
      return res.end('x')
    }
    res.statusCode = 500
    res.end()
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

describe('TileClient over HTTP', () => {
  const client = new TileClient('http://unused.example', { retries: 2 })

  it('returns bodies as sent, and gzip bodies decompressed', async () => {
    expect(await client.get(`${base}/plain`)).toEqual({ status: 200, body: new Uint8Array(tile) })
    expect(await client.get(`${base}/gzip`)).toEqual({ status: 200, body: new Uint8Array(tile) })
  })

  it('follows a redirect, and refuses an endless chain of them', async () => {
    expect((await client.get(`${base}/moved`)).body).toEqual(new Uint8Array(tile))
    await expect(client.get(`${base}/loop`)).rejects.toThrow(/more than 5 redirects/)
  })

  it('retries a 503 and returns other statuses to the caller', async () => {
    flaky = 0
    const r = await client.get(`${base}/flaky`)
    expect(r.status).toBe(200)
    expect(flaky).toBe(2)
    expect((await client.get(`${base}/missing`)).status).toBe(404)
  })

  it('refuses a body, or a decompressed body, larger than any tile, bundle or checkpoint', async () => {
    const once = new TileClient('http://unused.example', { retries: 0 })
    await expect(once.get(`${base}/huge`)).rejects.toThrow(/larger than 8388608 bytes/)
    await expect(once.get(`${base}/bomb`)).rejects.toThrow(/does not decompress/)
    await expect(once.get(`${base}/brotli`)).rejects.toThrow(/unexpected content-encoding br/)
  })
})
