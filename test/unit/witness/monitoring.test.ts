import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { openNote, parseCheckpoint, parseNote } from '../../../src/core/index.ts'
import { TestLog, WITNESS_NAME, expectCosigned, makeWitness, post, refusal, witnessVerifier } from './fixture.ts'

const ORIGIN = 'log.example.org/actions'

/** The monitoring path of an origin, computed with Node's SHA-256 (independent of core). */
function pathOf(origin: string): string {
  return `/${createHash('sha256').update(origin, 'utf8').digest('hex')}/checkpoint`
}

describe('GET /<hex SHA-256 of the origin>/checkpoint', () => {
  it('serves the latest cosigned checkpoint with the log signature and the cosignature', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    await expectCosigned(await post(w.app, await log.body(0, 10)), await log.checkpoint(10))
    const cp = await log.checkpoint(25)
    const [sig] = await expectCosigned(await post(w.app, await log.body(10, 25)), cp)
    const res = await w.app.request(pathOf(ORIGIN))
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(res.headers.get('cache-control')).toBe('no-store')
    const text = await res.text()
    expect(text).toBe((await w.state.latest(ORIGIN))!.note)
    const opened = await openNote(text, [log.verifier, witnessVerifier])
    expect(parseCheckpoint(opened.note.text).treeSize).toBe(25)
    expect(opened.verified.map((v) => v.signature.name)).toEqual([ORIGIN, WITNESS_NAME])
    expect(parseNote(text).signatures[1]).toEqual(sig)
    // The note is exactly the checkpoint the log signed, plus our line.
    expect(text.startsWith(cp)).toBe(true)
  })

  it('stays at the cosigned checkpoint after refusals', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    await post(w.app, await log.body(0, 10))
    const before = await (await w.app.request(pathOf(ORIGIN))).text()
    await post(w.app, await log.fork('x').body(10, 10))
    await post(w.app, await log.body(10, 20, { proof: [] }))
    expect(await (await w.app.request(pathOf(ORIGIN))).text()).toBe(before)
  })

  it('answers 404 for a known log with nothing cosigned, an unknown hash and malformed hash paths', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    expect((await refusal(await w.app.request(pathOf(ORIGIN)))).status).toBe(404)
    await post(w.app, await log.body(0, 3))
    expect((await w.app.request(pathOf(ORIGIN))).status).toBe(200)
    const hex = pathOf(ORIGIN).slice(1, 65)
    for (const path of [
      pathOf('unknown.example/log'),
      `/${hex.toUpperCase()}/checkpoint`,
      `/${hex.slice(0, 63)}/checkpoint`,
      `/${hex}0/checkpoint`,
      `/${hex.slice(0, 63)}g/checkpoint`,
      `/${encodeURIComponent(ORIGIN)}/checkpoint`,
      `/${hex}/checkpoint/extra`,
    ]) {
      const r = await refusal(await w.app.request(path))
      expect(r.status, path).toBe(404)
    }
  })
})
