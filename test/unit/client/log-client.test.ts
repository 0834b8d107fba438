/**
 * The SDK's log client against a real HTTP server on 127.0.0.1 that answers
 * as a busy or failing log would: 503 and 429 with Retry-After, errors with
 * stable codes, replies that never come.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { LogClient, LogError, parseRetryAfter } from '../../../src/client/index.ts'
import { decodeCbor } from '../../../src/core/index.ts'

interface Seen {
  method: string
  url: string
  at: number
  body: Buffer
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number, body: Buffer) => void

const servers: Server[] = []
async function closeAll(): Promise<void> {
  await Promise.all(
    servers.splice(0).map((s) => {
      s.closeAllConnections()
      return new Promise((r) => s.close(r))
    }),
  )
}
afterEach(closeAll)

/** Starts a server whose n-th request (from 0) is answered by `handler`; returns its URL and the requests seen. */
async function serve(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.push({ method: req.method!, url: req.url!, at: Date.now(), body })
      handler(req, res, seen.length - 1, body)
    })
  })
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}/`, seen }
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

const ADDED = { index: 7, leafHash: 'ab'.repeat(32), checkpoint: 'cp\n', proof: 'c2sp.org/tlog-proof@v1\n' }
const ENTRY = new Uint8Array([0xd2, 1, 2, 3])

describe('LogClient retries', () => {
  it('waits what Retry-After says after a 503, then returns the reply', async () => {
    const { url, seen } = await serve((_req, res, n) => {
      if (n === 0) reply(res, 503, { code: 'OVERLOADED', message: 'busy' }, { 'retry-after': '1' })
      else reply(res, 200, ADDED)
    })
    const client = new LogClient({ url, random: () => 0 })
    const added = await client.submit(ENTRY)
    expect(added).toEqual(ADDED)
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['POST /add', 'POST /add'])
    expect([...seen[1]!.body]).toEqual([...ENTRY])
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(1000)
  })

  it('honours a 429 whose Retry-After is an HTTP date', async () => {
    const { url, seen } = await serve((_req, res, n) => {
      if (n === 0) reply(res, 429, { code: 'RATE_LIMITED', message: 'slow down' }, { 'retry-after': new Date(Date.now() + 2000).toUTCString() })
      else reply(res, 200, ADDED)
    })
    const added = await new LogClient({ url, random: () => 0 }).submit(ENTRY)
    expect(added.index).toBe(7)
    expect(seen).toHaveLength(2)
    // An HTTP date has whole seconds: at least one full second passed.
    expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(1000)
  })

  it('gives up after `retries` retries with the log\'s code, status and Retry-After', async () => {
    const { url, seen } = await serve((_req, res) => reply(res, 503, { code: 'OVERLOADED', message: 'the log is processing 8192 statements' }, { 'retry-after': '0' }))
    const err = await new LogClient({ url, retries: 2, backoffMs: 1 }).submit(ENTRY).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LogError)
    expect(err).toMatchObject({ code: 'OVERLOADED', status: 503, retryAfterMs: 0, message: 'the log is processing 8192 statements' })
    expect(seen).toHaveLength(3)
  })

  it('backs off with jitter when there is no Retry-After', async () => {
    const { url, seen } = await serve((_req, res, n) => (n < 3 ? reply(res, 503, { code: 'OVERLOADED', message: 'busy' }) : reply(res, 200, ADDED)))
    // With random() at its top, each wait is the full step: 100, 200, 400 ms.
    await new LogClient({ url, backoffMs: 100, random: () => 0.999 }).submit(ENTRY)
    const gaps = seen.slice(1).map((s, i) => s.at - seen[i]!.at)
    expect(gaps).toHaveLength(3)
    expect(gaps[0]).toBeGreaterThanOrEqual(99)
    expect(gaps[1]).toBeGreaterThanOrEqual(199)
    expect(gaps[2]).toBeGreaterThanOrEqual(399)
  })

  it('does not retry a refusal: the stable code comes back at once', async () => {
    const { url, seen } = await serve((_req, res) => reply(res, 403, { code: 'UNTRUSTED', message: 'no trusted issuer vouches for spiffe://x/' }))
    await expect(new LogClient({ url }).submit(ENTRY)).rejects.toMatchObject({ name: 'LogError', code: 'UNTRUSTED', status: 403 })
    expect(seen).toHaveLength(1)
  })

  it('names a non-JSON error by its status', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end('<html>bad gateway</html>')
    })
    await expect(new LogClient({ url, retries: 0 }).proof(3)).rejects.toMatchObject({ code: 'HTTP_502', status: 502 })
  })

  it('refuses a Retry-After longer than maxRetryAfterMs instead of sleeping through it', async () => {
    const { url, seen } = await serve((_req, res) => reply(res, 503, { code: 'OVERLOADED', message: 'busy' }, { 'retry-after': '3600' }))
    await expect(new LogClient({ url, maxRetryAfterMs: 5000 }).submit(ENTRY)).rejects.toMatchObject({ code: 'OVERLOADED', retryAfterMs: 3_600_000 })
    expect(seen).toHaveLength(1)
  })

  it('times out an attempt that gets no answer, and retries it', async () => {
    const { url, seen } = await serve(() => {
      // Never answers.
    })
    await expect(new LogClient({ url, timeoutMs: 100, retries: 1, backoffMs: 1 }).submit(ENTRY)).rejects.toMatchObject({ code: 'TIMEOUT', status: 0 })
    expect(seen).toHaveLength(2)
  })

  it('says UNREACHABLE when nothing listens', async () => {
    const { url } = await serve(() => {})
    await closeAll()
    await expect(new LogClient({ url, retries: 1, backoffMs: 1 }).checkpoint()).rejects.toMatchObject({ code: 'UNREACHABLE', status: 0 })
  })

  it('stops waiting for Retry-After as soon as the AbortSignal aborts', async () => {
    const { url, seen } = await serve((_req, res) => reply(res, 503, { code: 'OVERLOADED', message: 'busy' }, { 'retry-after': '30' }))
    const ac = new AbortController()
    const started = Date.now()
    const call = new LogClient({ url }).submit(ENTRY, { signal: ac.signal })
    setTimeout(() => ac.abort(new Error('caller gave up')), 100)
    await expect(call).rejects.toThrow('caller gave up')
    expect(seen).toHaveLength(1)
    expect(Date.now() - started).toBeLessThan(30_000)
  })

  it('a signal given to the client aborts its calls', async () => {
    const { url } = await serve(() => {})
    const ac = new AbortController()
    ac.abort(new Error('shutting down'))
    await expect(new LogClient({ url, signal: ac.signal }).proof(0)).rejects.toThrow('shutting down')
  })

  it('refuses a 200 reply without the fields of a submission', async () => {
    const { url } = await serve((_req, res) => reply(res, 200, { index: -1 }))
    await expect(new LogClient({ url }).submit(ENTRY)).rejects.toMatchObject({ code: 'BAD_REPLY' })
  })
})

describe('LogClient calls', () => {
  it('asks for a witnessed proof, and retries the log\'s 503 when its wait ran out', async () => {
    const { url, seen } = await serve((_req, res, n) => {
      if (n === 0) reply(res, 503, { code: 'OVERLOADED', message: 'no witnessed checkpoint yet' }, { 'retry-after': '0' })
      else {
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('proof text')
      }
    })
    expect(await new LogClient({ url, backoffMs: 1 }).waitWitnessed(12)).toBe('proof text')
    expect(seen.map((s) => s.url)).toEqual(['/proof/12?wait=witnessed', '/proof/12?wait=witnessed'])
  })

  it('asks for a proof against a given tree size', async () => {
    const { url, seen } = await serve((_req, res) => {
      res.writeHead(200)
      res.end('p')
    })
    const client = new LogClient({ url: url + '//' })
    await client.proof(4, { treeSize: 9 })
    await client.proof(4)
    await client.submit(ENTRY, { waitWitnessed: true }).catch(() => undefined)
    expect(seen.map((s) => s.url)).toEqual(['/proof/4?size=9', '/proof/4', '/add?wait=witnessed'])
  })

  it('sends a batch as a CBOR array and sends again only the statements refused as OVERLOADED', async () => {
    const a = new Uint8Array([1])
    const b = new Uint8Array([2])
    const c = new Uint8Array([3])
    const { url, seen } = await serve((_req, res, n) => {
      if (n === 0) {
        reply(res, 200, {
          results: [
            { ...ADDED, index: 1 },
            { code: 'OVERLOADED', message: 'busy' },
            { code: 'UNTRUSTED', message: 'not vouched for' },
          ],
        })
      } else reply(res, 200, { results: [{ ...ADDED, index: 2 }] })
    })
    const results = await new LogClient({ url, backoffMs: 1 }).submitBatch([a, b, c])
    expect(seen.map((s) => s.url)).toEqual(['/add-batch', '/add-batch'])
    expect(decodeCbor(new Uint8Array(seen[0]!.body))).toEqual([a, b, c])
    expect(decodeCbor(new Uint8Array(seen[1]!.body))).toEqual([b])
    expect(results[0]).toMatchObject({ index: 1 })
    expect(results[1]).toMatchObject({ index: 2 })
    expect(results[2]).toBeInstanceOf(LogError)
    expect(results[2]).toMatchObject({ code: 'UNTRUSTED' })
  })

  it('refuses URLs that are not http(s) and counts that are not non-negative integers', async () => {
    expect(() => new LogClient({ url: 'ftp://x/' })).toThrow(TypeError)
    expect(() => new LogClient({ url: 'not a url' })).toThrow(TypeError)
    expect(() => new LogClient({ url: 'http://x/', retries: -1 })).toThrow(RangeError)
    await expect(new LogClient({ url: 'http://x/' }).proof(1.5)).rejects.toThrow(RangeError)
  })
})

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, and ignores anything else', () => {
    expect(parseRetryAfter('3')).toBe(3000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', Date.UTC(2026, 0, 1))).toBe(10_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', Date.UTC(2027, 0, 1))).toBe(0)
    expect(parseRetryAfter(null)).toBeUndefined()
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter('-1')).toBeUndefined()
  })
})
