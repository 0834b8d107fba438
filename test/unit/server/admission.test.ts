import { describe, expect, it } from 'vitest'
import { TlogError, encodeCbor, toHex, type SignedStatement } from '../../../src/core/index.ts'
import { ACTOR, PREFIX, agentCredential, makeLog, post, statement } from '../../helpers/log-fixture.ts'

describe('admission', () => {
  it('asks the revocation hook after the dedup lookup and before any signature check, with the parsed chain', async () => {
    const seen: SignedStatement[] = []
    let revoked = false
    const { app, clock, sequencer } = await makeLog({
      deps: {
        revocations: {
          check(s, chain) {
            seen.push(s as SignedStatement)
            expect(chain).toBe(s.credentials)
            if (revoked) throw new TlogError('UNTRUSTED', 'revoked (test hook)')
          },
        },
      },
    })
    const logged = await statement(1, clock.now)
    expect((await post(app, logged)).status).toBe(200)
    expect(seen.map((s) => s.statement.actor)).toEqual([ACTOR])
    revoked = true
    // Already logged: answered from the log, the hook is not asked.
    const again = await post(app, logged)
    expect(again.status).toBe(200)
    expect(seen.length).toBe(1)
    // New, with a broken signature: the hook refuses it before the signature is checked.
    const bad = await statement(2, clock.now)
    bad[bad.length - 1]! ^= 1
    const res = await post(app, bad)
    expect(res.status).toBe(403)
    expect(await res.json()).toEqual({ code: 'UNTRUSTED', message: 'revoked (test hook)' })
    expect(seen.length).toBe(2)
    expect(sequencer.treeSize).toBe(1)
    expect(toHex(seen[1]!.kid)).toBe(toHex(seen[0]!.kid))
  })

  it('answers 408 TIMEOUT, closing the connection, when a body does not arrive within its deadline, and keeps taking others', async () => {
    const { app, clock, sequencer } = await makeLog({ deps: { bodyTimeoutMs: 100, maxInFlight: 1 } })
    const stalled = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(10))
      },
    })
    const pending = app.request('/add', { method: 'POST', headers: { 'content-type': 'application/cose' }, body: stalled, duplex: 'half' } as RequestInit)
    // While that body trickles it holds no place in flight: another statement goes through.
    expect((await post(app, await statement(3, clock.now))).status).toBe(200)
    const res = await pending
    expect(res.status).toBe(408)
    expect(res.headers.get('connection')).toBe('close')
    const body = (await res.json()) as { code: string; message: string }
    expect(body.code).toBe('TIMEOUT')
    expect(body.message).toMatch(/within 0.1 s/)
    expect(sequencer.treeSize).toBe(1)
  })

  describe('quotas', () => {
    const status = async (res: Response): Promise<{ status: number; code?: string; retryAfter: string | null }> => {
      const body = (await res.json()) as { code?: string }
      return { status: res.status, code: body.code, retryAfter: res.headers.get('retry-after') }
    }

    it('limits each identity by its token bucket on the log clock, answering 429 with Retry-After, and a duplicate costs nothing', async () => {
      const { app, clock, sequencer, metrics } = await makeLog({ deps: { quotas: { identity: { perSecond: 0.5, burst: 2 }, organisation: { perSecond: 1000, burst: 1000 } } } })
      const first = await statement(1, clock.now)
      expect((await post(app, first)).status).toBe(200)
      expect((await post(app, await statement(2, clock.now))).status).toBe(200)
      expect(await status(await post(app, await statement(3, clock.now)))).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: '2' })
      // Already logged: answered as before however often, spending nothing, even over quota.
      for (let i = 0; i < 5; i++) expect((await post(app, first)).status).toBe(200)
      clock.now += 1000
      expect(await status(await post(app, await statement(4, clock.now)))).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: '1' })
      clock.now += 1000
      // One token back after 2 s at 0.5/s: one statement, then over quota again.
      expect((await post(app, await statement(5, clock.now))).status).toBe(200)
      for (let i = 0; i < 3; i++) expect((await post(app, first)).status).toBe(200)
      expect((await post(app, await statement(6, clock.now))).status).toBe(429)
      expect(sequencer.treeSize).toBe(3)
      // In a batch, each statement over quota is refused on its own.
      clock.now += 4000
      const batch = await app.request('/add-batch', {
        method: 'POST',
        headers: { 'content-type': 'application/cbor' },
        body: encodeCbor(await Promise.all([7, 8, 9].map((n) => statement(n, clock.now)))) as BodyInit,
      })
      const results = ((await batch.json()) as { results: { code?: string }[] }).results
      expect(results.map((r) => r.code ?? 'ok')).toEqual(['ok', 'ok', 'RATE_LIMITED'])
      const text = await metrics.text()
      expect(text).toContain('actlog_rate_limited_total{organisation="fixture",quota="identity"} 4')
      expect(text).toContain('actlog_admitted_total{organisation="fixture"} 5')
    })

    it('limits an organisation across its identities, keyed by the issuer the chain ends at', async () => {
      const { app, clock, metrics } = await makeLog({ deps: { quotas: { identity: { perSecond: 100, burst: 100 }, organisation: { perSecond: 1, burst: 3 } } } })
      const actors = [0, 1, 2, 3].map((i) => `${PREFIX}agent/${i}`)
      const chains = await Promise.all(actors.map((actor) => agentCredential({ subject: actor })))
      const of = (i: number, n: number): Promise<Uint8Array> => statement(n, clock.now, { actor: actors[i]! }, [chains[i]!])
      for (let i = 0; i < 3; i++) expect((await post(app, await of(i, 10 + i))).status).toBe(200)
      expect(await status(await post(app, await of(3, 20)))).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: '1' })
      clock.now += 1000
      expect((await post(app, await of(3, 21))).status).toBe(200)
      expect((await post(app, await of(0, 22))).status).toBe(429)
      expect(await metrics.text()).toContain('actlog_rate_limited_total{organisation="fixture",quota="organisation"} 2')
    })

    it('spends nothing for a statement that fails its checks, even one naming an identity over quota', async () => {
      const { app, clock } = await makeLog({ deps: { quotas: { identity: { perSecond: 0.001, burst: 1 }, organisation: { perSecond: 1000, burst: 1000 } } } })
      for (let i = 0; i < 3; i++) {
        const forged = await statement(30 + i, clock.now)
        forged[forged.length - 1]! ^= 1
        expect((await post(app, forged)).status).toBe(403)
      }
      expect((await post(app, await statement(40, clock.now))).status).toBe(200)
      // Now over quota: a forgery in its name is refused before any check, with 429.
      const forged = await statement(41, clock.now)
      forged[forged.length - 1]! ^= 1
      expect((await post(app, forged)).status).toBe(429)
    })
  })
})
