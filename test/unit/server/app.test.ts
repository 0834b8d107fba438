import { gunzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import {
  CompactRange,
  decodeCbor,
  ed25519Verifier,
  encodeCbor,
  fromHex,
  leafHash,
  openNote,
  parseCheckpoint,
  parseEntryBundle,
  parseTlogProof,
  publicKeyFromSeed,
  toHex,
  verifyInclusion,
} from '../../../src/core/index.ts'
import { loadSharedStatementVectors } from '../../helpers/vectors.ts'
import { ISSUER_NAME, LOG_SEED, ORIGIN, agentCredential, makeLog, post, statement } from '../../helpers/log-fixture.ts'

const logVerifier = ed25519Verifier(ORIGIN, publicKeyFromSeed(LOG_SEED))

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string }> {
  const body = (await res.json()) as { code: string; message: string }
  expect(typeof body.message).toBe('string')
  expect(body.message.length).toBeGreaterThan(5)
  return { status: res.status, code: body.code, message: body.message }
}

/** Checks an /add reply: the proof verifies against the log-signed checkpoint. */
async function checkReply(body: { index: number; leafHash: string; checkpoint: string; proof: string }, entry: Uint8Array): Promise<void> {
  expect(body.leafHash).toBe(toHex(leafHash(entry)))
  const p = parseTlogProof(body.proof)
  expect(p.index).toBe(body.index)
  expect(toHex(p.extra!)).toBe(toHex(entry))
  expect(p.checkpoint).toBe(body.checkpoint)
  const c = parseCheckpoint((await openNote(p.checkpoint, [logVerifier])).note.text)
  expect(verifyInclusion(leafHash(entry), p.index, c.treeSize, p.proof, c.rootHash)).toBe(true)
}

describe('POST /add', () => {
  it('sequences a statement and answers {index, leafHash, checkpoint, proof}', async () => {
    const { app, clock } = await makeLog()
    const e = await statement(1, clock.now)
    const res = await post(app, e)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/application\/json/)
    const body = (await res.json()) as { index: number; leafHash: string; checkpoint: string; proof: string }
    expect(Object.keys(body).sort()).toEqual(['checkpoint', 'index', 'leafHash', 'proof'])
    expect(body.index).toBe(0)
    await checkReply(body, e)
  })

  it('answers CBOR with the same keys for Accept: application/cbor', async () => {
    const { app, clock } = await makeLog()
    const e = await statement(2, clock.now)
    const res = await post(app, e, { accept: 'application/cbor' })
    expect(res.headers.get('content-type')).toBe('application/cbor')
    const m = decodeCbor(new Uint8Array(await res.arrayBuffer())) as Map<string, unknown>
    expect([...m.keys()].sort()).toEqual(['checkpoint', 'index', 'leafHash', 'proof'])
    await checkReply({ index: m.get('index') as number, leafHash: toHex(m.get('leafHash') as Uint8Array), checkpoint: m.get('checkpoint') as string, proof: m.get('proof') as string }, e)
  })

  it('answers a statement submitted again with the same index and proof checkpoint, even once stale', async () => {
    const { app, clock } = await makeLog()
    const e = await statement(3, clock.now)
    const first = (await (await post(app, e)).json()) as { index: number; checkpoint: string }
    for (let i = 0; i < 5; i++) await post(app, await statement(100 + i, clock.now))
    clock.now += 3_600_000
    const again = await post(app, e)
    expect(again.status).toBe(200)
    const body = (await again.json()) as { index: number; checkpoint: string }
    expect(body.index).toBe(first.index)
    expect(body.checkpoint).toBe(first.checkpoint)
  })

  it('accepts every valid shared vector and refuses every invalid one with its code', async () => {
    const V = loadSharedStatementVectors()
    const { app } = await makeLog({ issuersFile: V.issuers_file, now: V.now_ms })
    for (const v of V.valid) {
      const res = await post(app, fromHex(v.entry_hex))
      expect(res.status, v.name).toBe(200)
      const body = (await res.json()) as { leafHash: string }
      expect(body.leafHash).toBe(v.leaf_hash_hex)
    }
    const statusOf: Record<string, number> = { MALFORMED: 400, BAD_SIGNATURE: 403, UNTRUSTED: 403 }
    for (const v of V.invalid) {
      const r = await errorOf(await post(app, fromHex(v.entry_hex)))
      expect(r.code, v.name).toBe(v.wantError)
      expect(r.status, v.name).toBe(statusOf[v.wantError])
    }
  })

  it('refuses a skewed clock with 400 STALE, either way', async () => {
    const { app, clock } = await makeLog()
    for (const skew of [6 * 60_000, -6 * 60_000]) {
      const r = await errorOf(await post(app, await statement(4, clock.now + skew)))
      expect(r).toMatchObject({ status: 400, code: 'STALE' })
      expect(r.message).toMatch(skew > 0 ? /ahead/ : /behind/)
    }
    expect((await post(app, await statement(5, clock.now + 4 * 60_000))).status).toBe(200)
  })

  it('refuses an unknown issuer and an expired credential with 403 UNTRUSTED, saying why', async () => {
    const { app, clock } = await makeLog({ issuersFile: '# nobody is trusted\n' })
    const r1 = await errorOf(await post(app, await statement(6, clock.now)))
    expect(r1).toMatchObject({ status: 403, code: 'UNTRUSTED' })
    expect(r1.message).toContain(ISSUER_NAME)
    const { app: app2, clock: clock2 } = await makeLog()
    const expired = await agentCredential({ notAfter: clock2.now - 1000 })
    const r2 = await errorOf(await post(app2, await statement(7, clock2.now, {}, [expired])))
    expect(r2).toMatchObject({ status: 403, code: 'UNTRUSTED' })
    expect(r2.message).toMatch(/validity window/)
  })

  it('refuses a bad statement signature with 403 BAD_SIGNATURE', async () => {
    const { app, clock } = await makeLog()
    const e = await statement(8, clock.now)
    e[e.length - 1]! ^= 1
    expect(await errorOf(await post(app, e))).toMatchObject({ status: 403, code: 'BAD_SIGNATURE' })
  })

  it('refuses malformed bodies with 400 MALFORMED and loses nothing', async () => {
    const { app, clock, sequencer } = await makeLog()
    await post(app, await statement(9, clock.now))
    const bad = [new Uint8Array(0), new Uint8Array([0xd2]), new TextEncoder().encode('{"json":true}'), new Uint8Array(100).fill(0xff)]
    for (const b of bad) expect(await errorOf(await post(app, b))).toMatchObject({ status: 400, code: 'MALFORMED' })
    expect(sequencer.treeSize).toBe(1)
  })

  it('refuses another content type with 415 and an oversized body with 413, before reading it', async () => {
    const { app, clock } = await makeLog()
    const e = await statement(10, clock.now)
    for (const type of ['application/json', 'application/cbor', 'text/plain', '']) {
      const res = await app.request('/add', { method: 'POST', headers: type === '' ? {} : { 'content-type': type }, body: e as BodyInit })
      expect(await errorOf(res)).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' })
    }
    expect((await post(app, e, { 'content-type': 'application/cose; cose-type="cose-sign1"' })).status).toBe(200)
    expect(await errorOf(await post(app, new Uint8Array(16 * 1024 + 1)))).toMatchObject({ status: 413, code: 'TOO_LARGE' })
    // A body streamed without a length is cut off at the cap too.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 40; i++) c.enqueue(new Uint8Array(1024))
        c.close()
      },
    })
    const res = await app.request('/add', { method: 'POST', headers: { 'content-type': 'application/cose', 'transfer-encoding': 'chunked' }, body: stream, duplex: 'half' } as RequestInit)
    expect(await errorOf(res)).toMatchObject({ status: 413, code: 'TOO_LARGE' })
  })

  it('answers 503 at once beyond the in-flight bound, and recovers once the load passes', async () => {
    const f = await makeLog({ maxInFlight: 3, maxDelayMs: 50 })
    const es = await Promise.all(Array.from({ length: 8 }, (_, i) => statement(500 + i, f.clock.now)))
    const res = await Promise.all(es.map((e) => post(f.app, e)))
    const busy = res.filter((r) => r.status === 503)
    expect(busy.length).toBe(5)
    const r = await errorOf(busy[0]!)
    expect(r.code).toBe('OVERLOADED')
    expect(r.message).toMatch(/processing 3 statements/)
    // A batch counts each of its statements; one that can never fit is too large.
    const batch = await f.app.request('/add-batch', { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: encodeCbor(es.slice(0, 4)) as BodyInit })
    expect(await errorOf(batch)).toMatchObject({ status: 413, code: 'TOO_LARGE' })
    expect((await post(f.app, es[7]!)).status).toBe(200)
  })

  it('answers 503 OVERLOADED with Retry-After when the queue is full', async () => {
    const { app, clock } = await makeLog({ maxPending: 1, maxBatch: 1, maxDelayMs: 50 })
    const es = await Promise.all(Array.from({ length: 6 }, (_, i) => statement(200 + i, clock.now)))
    const res = await Promise.all(es.map((e) => post(app, e)))
    const busy = res.filter((r) => r.status === 503)
    expect(busy.length).toBeGreaterThan(0)
    expect(busy[0]!.headers.get('retry-after')).toBe('1')
    expect(await errorOf(busy[0]!)).toMatchObject({ code: 'OVERLOADED' })
  })

  it('answers 409 CONFLICT, saying why, once the restore guard halted signing', async () => {
    const { app, clock, sequencer } = await makeLog()
    const { TlogError } = await import('../../../src/core/index.ts')
    sequencer.halt(new TlogError('CONFLICT', 'witness W1 has cosigned a larger tree; this log refuses to sign'))
    const r = await errorOf(await post(app, await statement(13, clock.now)))
    expect(r).toMatchObject({ status: 409, code: 'CONFLICT' })
    expect(r.message).toMatch(/refuses to sign/)
    const health = await app.request('/healthz')
    expect(health.status).toBe(503)
    expect(await health.json()).toMatchObject({ status: 'stopped', reason: expect.stringMatching(/refuses to sign/) })
  })

  it('answers 500 CORRUPT and an unhealthy /healthz once the sequencer stopped', async () => {
    const { app, clock, faulty } = await makeLog()
    await post(app, await statement(11, clock.now))
    expect((await app.request('/healthz')).status).toBe(200)
    // A write whose outcome is unknown: the sequencer stops until a restart recovers.
    faulty.failAt(1, 'after')
    const r = await errorOf(await post(app, await statement(12, clock.now)))
    expect(r.status).toBe(500)
    expect(r.code).toBe('CORRUPT')
    const health = await app.request('/healthz')
    expect(health.status).toBe(503)
    expect(await health.json()).toMatchObject({ status: 'stopped' })
  })
})

describe('POST /add-batch', () => {
  const batch = (items: Uint8Array[]): Uint8Array => encodeCbor(items)
  const postBatch = (app: Awaited<ReturnType<typeof makeLog>>['app'], body: Uint8Array | string, headers: Record<string, string> = {}) =>
    app.request('/add-batch', { method: 'POST', headers: { 'content-type': 'application/cbor', ...headers }, body: body as BodyInit })

  it('acknowledges and deduplicates each statement, and refuses each bad one on its own', async () => {
    const { app, clock, sequencer } = await makeLog()
    const good = await Promise.all(Array.from({ length: 5 }, (_, i) => statement(300 + i, clock.now)))
    const tampered = (await statement(399, clock.now)).slice()
    tampered[tampered.length - 1]! ^= 1
    const stale = await statement(398, clock.now - 3_600_000)
    const res = await postBatch(app, batch([good[0]!, good[1]!, tampered, good[0]!, new Uint8Array([1, 2]), stale, good[2]!]))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    // The body is assembled from per-result bytes: it must be exactly what JSON.stringify writes.
    const text = await res.text()
    expect(text).toBe(JSON.stringify(JSON.parse(text)))
    const { results } = JSON.parse(text) as { results: ({ index: number; leafHash: string; proof: string } | { code: string; message: string })[] }
    expect(results).toHaveLength(7)
    const codes = results.map((r) => ('code' in r ? r.code : 'ok'))
    expect(codes).toEqual(['ok', 'ok', 'BAD_SIGNATURE', 'ok', 'MALFORMED', 'STALE', 'ok'])
    const ok = results as { index: number; leafHash: string; checkpoint: string; proof: string }[]
    expect(ok[3]!.index).toBe(ok[0]!.index)
    expect(new Set([ok[0]!.index, ok[1]!.index, ok[6]!.index]).size).toBe(3)
    expect(sequencer.treeSize).toBe(3)
    for (const i of [0, 1, 6]) await checkReply(ok[i]!, [good[0]!, good[1]!, good[2]!][[0, 1, 6].indexOf(i)]!)
    // The same batch again: the same indices.
    const again = (await (await postBatch(app, batch([good[1]!, good[0]!]))).json()) as { results: { index: number }[] }
    expect(again.results.map((r) => r.index)).toEqual([ok[1]!.index, ok[0]!.index])
  })

  it('answers CBOR for Accept: application/cbor', async () => {
    const { app, clock } = await makeLog()
    const e = await statement(400, clock.now)
    const res = await postBatch(app, batch([e, new Uint8Array([0])]), { accept: 'application/cbor' })
    expect(res.headers.get('content-type')).toBe('application/cbor')
    const out = decodeCbor(new Uint8Array(await res.arrayBuffer())) as Map<string, unknown>[]
    expect([...out[0]!.keys()].sort()).toEqual(['checkpoint', 'index', 'leafHash', 'proof'])
    expect(out[1]!.get('code')).toBe('MALFORMED')
  })

  it('refuses a batch that is not one: 415, 413, 400', async () => {
    const { app, clock } = await makeLog()
    const e = await statement(401, clock.now)
    expect(await errorOf(await postBatch(app, batch([e]), { 'content-type': 'application/cose' }))).toMatchObject({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' })
    expect(await errorOf(await postBatch(app, new Uint8Array(4 * 1024 * 1024 + 1)))).toMatchObject({ status: 413, code: 'TOO_LARGE' })
    for (const bad of [encodeCbor([]), encodeCbor(new Map()), encodeCbor([1, 2]), encodeCbor([[e]]), new Uint8Array([0x81]), encodeCbor(Array.from({ length: 1025 }, () => new Uint8Array(1)))]) {
      expect(await errorOf(await postBatch(app, bad))).toMatchObject({ status: 400, code: 'MALFORMED' })
    }
  })
})

describe('read API', () => {
  async function filled(n: number) {
    const f = await makeLog({ maxBatch: 100 })
    const entries: Uint8Array[] = []
    for (let w = 0; w < n; w += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, n - w) }, (_, i) => statement(w + i, f.clock.now)))
      await Promise.all(batch.map((e) => post(f.app, e)))
      entries.push(...batch)
    }
    return { ...f, entries }
  }

  it('serves the checkpoint as text with short caching', async () => {
    const { app } = await filled(3)
    const res = await app.request('/checkpoint')
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('public, max-age=2')
    const c = parseCheckpoint((await openNote(await res.text(), [logVerifier])).note.text)
    expect(c.treeSize).toBe(3)
  })

  it('serves tiles and entry bundles per tlog-tiles, from which a client rebuilds the root', async () => {
    const { app, entries } = await filled(300)
    const full = await app.request('/tile/0/000')
    expect(full.status).toBe(200)
    expect(full.headers.get('content-type')).toBe('application/octet-stream')
    expect(full.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    const tile0 = new Uint8Array(await full.arrayBuffer())
    expect(tile0.length).toBe(8192)
    const partial = new Uint8Array(await (await app.request('/tile/0/001.p/44')).arrayBuffer())
    expect(partial.length).toBe(44 * 32)
    // A narrower partial tile is a prefix: clients holding an older checkpoint get theirs.
    expect(toHex(new Uint8Array(await (await app.request('/tile/0/001.p/10')).arrayBuffer()))).toBe(toHex(partial.subarray(0, 320)))
    const b0 = parseEntryBundle(new Uint8Array(await (await app.request('/tile/entries/000')).arrayBuffer()), 256)
    const b1 = parseEntryBundle(new Uint8Array(await (await app.request('/tile/entries/001.p/44')).arrayBuffer()), 44)
    const c = new CompactRange()
    const seen = new Set<string>()
    for (const [i, e] of [...b0, ...b1].entries()) {
      const h = leafHash(e)
      expect(toHex(h)).toBe(toHex(i < 256 ? tile0.subarray(i * 32, i * 32 + 32) : partial.subarray((i - 256) * 32, (i - 255) * 32)))
      c.append(h)
      seen.add(toHex(e))
    }
    expect(seen).toEqual(new Set(entries.map(toHex)))
    const cp = parseCheckpoint((await openNote(await (await app.request('/checkpoint')).text(), [logVerifier])).note.text)
    expect(toHex(c.root())).toBe(toHex(cp.rootHash))
    const level1 = new Uint8Array(await (await app.request('/tile/1/000.p/1')).arrayBuffer())
    expect(level1.length).toBe(32)
  })

  it('gzips entry bundles when the client accepts gzip', async () => {
    const { app } = await filled(20)
    const plain = new Uint8Array(await (await app.request('/tile/entries/000.p/20')).arrayBuffer())
    const res = await app.request('/tile/entries/000.p/20', { headers: { 'accept-encoding': 'gzip, identity' } })
    expect(res.headers.get('content-encoding')).toBe('gzip')
    expect(res.headers.get('vary')).toBe('Accept-Encoding')
    const gz = new Uint8Array(await res.arrayBuffer())
    expect(gz.length).toBeLessThan(plain.length)
    expect(toHex(new Uint8Array(gunzipSync(gz)))).toBe(toHex(plain))
  })

  it('answers 404 for tiles beyond the tree and 400 for malformed tile paths', async () => {
    const { app } = await filled(20)
    // A percent-encoded path names the same resource (RFC 3986 §6.2.2.2), so it is served or not like the plain one.
    for (const p of ['/tile/0/000', '/tile/0/000.p/21', '/tile/0/001.p/1', '/tile/1/000.p/1', '/tile/entries/000', '/tile/entries/000.p/21', '/tile/0/%30%30%30']) {
      expect(await errorOf(await app.request(p)), p).toMatchObject({ status: 404, code: 'NOT_FOUND' })
    }
    for (const p of ['/tile/0/0', '/tile/0/000.p/256', '/tile/x/000', '/tile/0/x000/001', '/tile/0/000.p/020', '/tile//0/000']) {
      expect(await errorOf(await app.request(p)), p).toMatchObject({ status: 400, code: 'MALFORMED' })
    }
    expect(await errorOf(await app.request('/nope'))).toMatchObject({ status: 404, code: 'NOT_FOUND' })
  })

  it('serves a .tlog-proof against the current checkpoint or the one of a given size', async () => {
    const { app, entries } = await filled(120)
    const res = await app.request('/proof/17')
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    const p = parseTlogProof(await res.text())
    const c = parseCheckpoint((await openNote(p.checkpoint, [logVerifier])).note.text)
    expect(c.treeSize).toBe(120)
    expect(verifyInclusion(leafHash(p.extra!), 17, 120, p.proof, c.rootHash)).toBe(true)
    expect(entries.map(toHex)).toContain(toHex(p.extra!))
    // The checkpoint handed out with entry 0 is re-signed byte for byte for ?size=.
    const first = (await (await post(app, entries[0]!)).json()) as { checkpoint: string }
    const firstSize = parseCheckpoint(first.checkpoint.split('\n\n')[0] + '\n').treeSize
    expect(firstSize).toBeLessThan(120)
    const small = parseTlogProof(await (await app.request(`/proof/0?size=${firstSize}`)).text())
    expect(small.checkpoint).toBe(first.checkpoint)
    expect(verifyInclusion(leafHash(small.extra!), 0, firstSize, small.proof, parseCheckpoint(first.checkpoint.split('\n\n')[0] + '\n').rootHash)).toBe(true)
    expect((await app.request('/proof/0?size=7')).status).toBe(200)
    expect(await errorOf(await app.request('/proof/120'))).toMatchObject({ status: 404 })
    expect(await errorOf(await app.request('/proof/0?size=121'))).toMatchObject({ status: 404 })
    expect(await errorOf(await app.request('/proof/7?size=7'))).toMatchObject({ status: 404 })
    expect(await errorOf(await app.request('/proof/x'))).toMatchObject({ status: 400, code: 'MALFORMED' })
    expect(await errorOf(await app.request('/proof/01'))).toMatchObject({ status: 400, code: 'MALFORMED' })
    expect(await errorOf(await app.request('/proof/99999999999999999999'))).toMatchObject({ status: 400, code: 'MALFORMED' })
  })

  it('exposes Prometheus metrics and health', async () => {
    const { app } = await filled(10)
    await app.request('/tile/9/000')
    const text = await (await app.request('/metrics')).text()
    for (const name of ['actlog_entries 10', 'actlog_batch_entries_count', 'actlog_commit_seconds_bucket', 'actlog_queue_depth 0', 'actlog_http_responses_total{status="200",code=""}', 'actlog_http_responses_total{status="404",code="NOT_FOUND"} 1']) {
      expect(text).toContain(name)
    }
    expect(await (await app.request('/healthz')).json()).toEqual({ status: 'ok', treeSize: 10 })
  })
})
