import { describe, expect, it } from 'vitest'
import { cosignatureTimestamp, parseCheckpoint, parseNote } from '../../../src/core/index.ts'
import { PREFIX_COSIGNED, decodeCosigned } from '../../../witness/state.ts'
import { TestLog, expectCosigned, gate, makeWitness, post, sleep } from './fixture.ts'

const ORIGIN = 'log.example.org/actions'

/**
 * The tlog-witness rollback race: request A is checked, then B is checked,
 * B stores N+K and is cosigned, then A stores N and is cosigned, rolling
 * the log back by K leaves. Here A is parked by the test hook between its
 * check and its store; B must wait for the origin's lock, so it is checked
 * against what A stored.
 */
describe('the rollback race', () => {
  /** A witness whose hook parks the first request to reach it until `release`. */
  function parkedWitness(log: TestLog) {
    const park = gate()
    const parked = gate()
    const stored: number[] = []
    let first = true
    const w = makeWitness([log], {
      beforeStore: async (origin) => {
        expect(origin).toBe(ORIGIN)
        if (first) {
          first = false
          parked.open()
          await park.wait
        }
      },
    })
    // Record the size of every write as it lands, to check it never decreases.
    const batch = w.kv.batch.bind(w.kv)
    w.kv.batch = async (ops) => {
      await batch(ops)
      for (const op of ops) if (op.type === 'put' && op.key[0] === PREFIX_COSIGNED) stored.push(decodeCosigned(op.key.subarray(1), op.value).treeSize)
    }
    return { w, park, parked, stored }
  }

  it('smaller first: A (0 -> 10) parked, B (0 -> 20) waits, A stores 10, B gets 409 with 10', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const { w, park, parked, stored } = parkedWitness(log)
    const a = post(w.app, await log.body(0, 10))
    await parked.wait
    let bDone = false
    const b = post(w.app, await log.body(0, 20)).then((r) => {
      bDone = true
      return r
    })
    await sleep(50)
    // B is queued behind A's lock: not answered, and nothing stored yet.
    expect(bDone).toBe(false)
    expect(await w.state.latest(ORIGIN)).toBeUndefined()
    park.open()
    await expectCosigned(await a, await log.checkpoint(10))
    const rb = await b
    expect(rb.status).toBe(409)
    expect(await rb.text()).toBe('10\n')
    expect(stored).toEqual([10])
    // B resyncs from 10 and goes on.
    await expectCosigned(await post(w.app, await log.body(10, 20)), await log.checkpoint(20))
    expect(stored).toEqual([10, 20])
  })

  it('larger first: B (0 -> 20) parked, A (0 -> 10) waits, B stores 20, A gets 409 with 20 and no cosignature for 10', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const { w, park, parked, stored } = parkedWitness(log)
    const b = post(w.app, await log.body(0, 20))
    await parked.wait
    let aDone = false
    const a = post(w.app, await log.body(0, 10)).then((r) => {
      aDone = true
      return r
    })
    await sleep(50)
    expect(aDone).toBe(false)
    park.open()
    await expectCosigned(await b, await log.checkpoint(20))
    const ra = await a
    expect(ra.status).toBe(409)
    expect(await ra.text()).toBe('20\n')
    expect(stored).toEqual([20])
    expect((await w.state.latest(ORIGIN))?.treeSize).toBe(20)
    // A's signed checkpoint is smaller than the one cosigned: kept as a rollback attempt.
    expect((await w.state.evidence(ORIGIN)).map((e) => e.reason)).toEqual(['rollback'])
  })

  it('never cosigns a smaller tree after a larger one, whatever the interleaving of many requests', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log], { beforeStore: () => sleep(Math.floor(Math.random() * 3)) })
    const stored: number[] = []
    const batch = w.kv.batch.bind(w.kv)
    w.kv.batch = async (ops) => {
      await batch(ops)
      for (const op of ops) if (op.type === 'put' && op.key[0] === PREFIX_COSIGNED) stored.push(decodeCosigned(op.key.subarray(1), op.value).treeSize)
    }
    // Clients that believe various old sizes, all racing; each retries once from the 409 size.
    const cosigned: number[] = []
    const sizes = [5, 17, 3, 40, 22, 64, 9, 100, 64, 80, 120, 33]
    await Promise.all(
      sizes.map(async (n) => {
        let old = 0
        for (let attempt = 0; attempt < 3; attempt++) {
          if (old > n) return
          const res = await post(w.app, await log.body(old, n))
          if (res.status === 200) {
            await res.text()
            cosigned.push(n)
            return
          }
          expect(res.status).toBe(409)
          old = Number((await res.text()).trim())
        }
      }),
    )
    // Writes happen under the lock, in the order cosignatures are issued:
    // strictly increasing, and every cosigned size was written (or was the
    // size already stored, cosigned again).
    for (let i = 1; i < stored.length; i++) expect(stored[i]!).toBeGreaterThan(stored[i - 1]!)
    for (const n of cosigned) expect(stored).toContain(n)
    expect(cosigned.length).toBeGreaterThan(1)
    const final = await w.state.latest(ORIGIN)
    expect(final?.treeSize).toBe(Math.max(...stored))
  })

  it('does not make one log wait for another: a parked request blocks only its own origin', async () => {
    const a = new TestLog(ORIGIN, { seed: 1 })
    const b = new TestLog('other.example/log', { seed: 2 })
    const park = gate()
    const parked = gate()
    const w = makeWitness([a, b], {
      beforeStore: async (origin) => {
        if (origin === ORIGIN) {
          parked.open()
          await park.wait
        }
      },
    })
    const ra = post(w.app, await a.body(0, 10))
    await parked.wait
    await expectCosigned(await post(w.app, await b.body(0, 7)), await b.checkpoint(7))
    park.open()
    await expectCosigned(await ra, await a.checkpoint(10))
  })

  it('keeps the stored note and the cosignature of the same request together', async () => {
    const log = new TestLog(ORIGIN, { seed: 1 })
    const w = makeWitness([log])
    const cp = await log.checkpoint(12)
    const [sig] = await expectCosigned(await post(w.app, await log.body(0, 12, { checkpoint: cp })), cp)
    const stored = parseNote((await w.state.latest(ORIGIN))!.note)
    expect(parseCheckpoint(stored.text).treeSize).toBe(12)
    expect(cosignatureTimestamp(stored.signatures.at(-1)!.signature)).toBe(cosignatureTimestamp(sig!.signature))
  })
})
