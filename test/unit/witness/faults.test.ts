import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { FaultyKv, LevelKv, MemoryKv, type KvStore } from '../../../src/storage/index.ts'
import { TestLog, expectCosigned, makeWitness, post, refusal, snapshot } from './fixture.ts'

const ORIGIN = 'log.example.org/actions'

describe('storage faults (FaultyKv over MemoryKv)', () => {
  async function at10(): Promise<{ log: TestLog; inner: MemoryKv; faulty: FaultyKv; w: ReturnType<typeof makeWitness>; errors: unknown[] }> {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const inner = new MemoryKv()
    const faulty = new FaultyKv(inner)
    const errors: unknown[] = []
    const w = makeWitness([log], { kv: faulty, errors })
    await expectCosigned(await post(w.app, await log.body(0, 10)), await log.checkpoint(10))
    return { log, inner, faulty, w, errors }
  }

  it("'before': answers 503 with Retry-After, issues no cosignature, leaves the state unchanged; a retry succeeds", async () => {
    const { log, faulty, w } = await at10()
    const before = await snapshot(w.kv)
    faulty.failAt(1, 'before')
    const res = await post(w.app, await log.body(10, 20))
    const r = await refusal(res)
    expect(r.status).toBe(503)
    expect(res.headers.get('retry-after')).toBe('1')
    expect(r.text).not.toMatch(/^\u2014/m)
    expect(r.text).toContain('no cosignature')
    expect(await snapshot(w.kv)).toEqual(before)
    await expectCosigned(await post(w.app, await log.body(10, 20)), await log.checkpoint(20))
    const metrics = await (await w.app.request('/metrics')).text()
    expect(metrics).toContain('actlog_witness_store_write_failures_total{persisted="false"} 1')
    expect(metrics).toContain('actlog_witness_http_responses_total{status="503"} 1')
  })

  it("a full disk (every write fails): 503 every time, state unchanged", async () => {
    const { log, faulty, w } = await at10()
    const before = await snapshot(w.kv)
    faulty.failAll()
    for (let i = 0; i < 3; i++) expect((await post(w.app, await log.body(10, 20 + i))).status).toBe(503)
    expect(await snapshot(w.kv)).toEqual(before)
    faulty.heal()
    await expectCosigned(await post(w.app, await log.body(10, 25)), await log.checkpoint(25))
  })

  it("'after': answers 500 with no cosignature; the state read back (now and after a restart) is the new one, consistent", async () => {
    const { log, inner, faulty, w, errors } = await at10()
    faulty.failAt(1, 'after')
    const r = await refusal(await post(w.app, await log.body(10, 20)))
    expect(r.status).toBe(500)
    expect(r.text).toContain('no cosignature')
    expect(errors.length).toBe(1)
    // The write did land: the next check reads it from the store, so the
    // client that still believes 10 is told 20 and resyncs.
    const res = await post(w.app, await log.body(10, 30))
    expect(res.status).toBe(409)
    expect(await res.text()).toBe('20\n')
    await expectCosigned(await post(w.app, await log.body(20, 30)), await log.checkpoint(30))
    // A restart over the same data finds the same, consistent state.
    const w2 = makeWitness([log], { kv: MemoryKv.reopen(inner) })
    const stored = await w2.state.latest(ORIGIN)
    expect(stored?.treeSize).toBe(30)
    await expectCosigned(await post(w2.app, await log.body(30, 31)), await log.checkpoint(31))
  })

  it('a failed evidence write does not change the answer, and is counted', async () => {
    const { log, faulty, w, errors } = await at10()
    faulty.failAll()
    const r = await refusal(await post(w.app, await log.fork('evil').body(10, 10)))
    expect(r.status).toBe(422)
    expect(errors.length).toBe(1)
    faulty.heal()
    expect(await w.state.evidence()).toEqual([])
    const metrics = await (await w.app.request('/metrics')).text()
    expect(metrics).toContain('actlog_witness_evidence_write_failures_total 1')
    expect((await post(w.app, await log.fork('evil').body(10, 10))).status).toBe(422)
    expect((await w.state.evidence()).map((e) => e.reason)).toEqual(['split-view'])
  })
})

describe('LevelDB: durable state across restarts', () => {
  let dir: string
  const open: KvStore[] = []
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'actlog-witness-'))
  })
  afterEach(async () => {
    for (const kv of open.splice(0)) await kv.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  async function openKv(): Promise<LevelKv> {
    const kv = await LevelKv.open(dir)
    open.push(kv)
    return kv
  }

  it('never lets the size go down across restarts', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    let kv = await openKv()
    let w = makeWitness([log], { kv })
    await expectCosigned(await post(w.app, await log.body(0, 100)), await log.checkpoint(100))
    await kv.close()
    kv = await openKv()
    w = makeWitness([log], { kv })
    // After the restart, a smaller checkpoint is refused with the stored size.
    const res = await post(w.app, await log.body(0, 50))
    expect(res.status).toBe(409)
    expect(await res.text()).toBe('100\n')
    await expectCosigned(await post(w.app, await log.body(100, 150)), await log.checkpoint(150))
    await kv.close()
    kv = await openKv()
    w = makeWitness([log], { kv })
    expect((await w.state.latest(ORIGIN))?.treeSize).toBe(150)
    expect((await w.state.evidence(ORIGIN)).map((e) => e.reason)).toEqual(['rollback'])
  })

  it("'after' on LevelDB: the reopened store holds the new state, and the witness goes on from it", async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const kv = await openKv()
    const faulty = new FaultyKv(kv)
    const w = makeWitness([log], { kv: faulty })
    await expectCosigned(await post(w.app, await log.body(0, 10)), await log.checkpoint(10))
    faulty.failAt(1, 'after')
    expect((await post(w.app, await log.body(10, 40))).status).toBe(500)
    await kv.close()
    const kv2 = await openKv()
    const w2 = makeWitness([log], { kv: kv2 })
    expect((await w2.state.latest(ORIGIN))?.treeSize).toBe(40)
    await expectCosigned(await post(w2.app, await log.body(40, 41)), await log.checkpoint(41))
  })

  it("'before' on LevelDB: the reopened store holds the old state", async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const kv = await openKv()
    const faulty = new FaultyKv(kv)
    const w = makeWitness([log], { kv: faulty })
    await expectCosigned(await post(w.app, await log.body(0, 10)), await log.checkpoint(10))
    faulty.failAt(1, 'before')
    expect((await post(w.app, await log.body(10, 40))).status).toBe(503)
    await kv.close()
    const w2 = makeWitness([log], { kv: await openKv() })
    expect((await w2.state.latest(ORIGIN))?.treeSize).toBe(10)
  })
})
