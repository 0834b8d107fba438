import { describe, expect, it } from 'vitest'
import { TlogError, concatBytes, sha256, utf8 } from '../../../src/core/index.ts'
import { FaultyKv, MemoryKv, StoreWriteError } from '../../../src/storage/index.ts'
import { KeyedMutex } from '../../../witness/keyed-mutex.ts'
import {
  PREFIX_COSIGNED,
  WitnessState,
  cosignedKey,
  decodeCosigned,
  encodeCosigned,
  originHash,
  type CosignedCheckpoint,
  type EvidenceInput,
} from '../../../witness/state.ts'
import { TestLog, gate } from './fixture.ts'

const ORIGIN = 'log.example.org/actions'
const log = new TestLog(ORIGIN, { seed: 1 })

async function cosigned(n: number, l: TestLog = log): Promise<CosignedCheckpoint> {
  return { origin: l.origin, treeSize: n, rootHash: l.root(n), note: await l.checkpoint(n) }
}

function evidence(origin: string, i: number, size = 10): EvidenceInput {
  return { origin, timeMs: 1000 + i, status: 422, reason: 'bad-proof', message: `refusal ${i}`, request: 'x'.repeat(size) }
}

describe('KeyedMutex', () => {
  it('runs callers of one key one at a time, first come first served, and other keys alongside', async () => {
    const m = new KeyedMutex()
    const events: string[] = []
    const hold = gate()
    const a = m.run('k', async () => {
      events.push('a start')
      await hold.wait
      events.push('a end')
    })
    const b = m.run('k', async () => void events.push('b'))
    const c = m.run('k', async () => void events.push('c'))
    await m.run('other', async () => void events.push('other'))
    expect(m.busy('k')).toBe(true)
    hold.open()
    await Promise.all([a, b, c])
    expect(events).toEqual(['a start', 'other', 'a end', 'b', 'c'])
    expect(m.busy('k')).toBe(false)
  })

  it('releases the lock when the holder throws', async () => {
    const m = new KeyedMutex()
    await expect(m.run('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    expect(await m.run('k', async () => 7)).toBe(7)
  })
})

describe('stored cosigned checkpoints', () => {
  it('round-trips and refuses corrupt records', async () => {
    const c = await cosigned(12)
    const hash = originHash(ORIGIN)
    expect(decodeCosigned(hash, encodeCosigned(c))).toEqual(c)
    const bad = (v: Uint8Array): void => {
      expect(() => decodeCosigned(hash, v)).toThrow(TlogError)
      try {
        decodeCosigned(hash, v)
      } catch (e) {
        expect((e as TlogError).code).toBe('CORRUPT')
      }
    }
    const good = encodeCosigned(c)
    bad(good.slice(0, 20))
    bad(concatBytes(Uint8Array.of(2), good.subarray(1)))
    bad(encodeCosigned({ ...c, treeSize: 13 }))
    bad(encodeCosigned({ ...c, rootHash: log.root(11) }))
    bad(encodeCosigned({ ...c, note: 'not a note' }))
    expect(() => decodeCosigned(sha256(utf8('another origin')), good)).toThrow(/another origin|origin/)
  })

  it('commit writes one synced batch; the second guard refuses a smaller size or another root', async () => {
    const kv = new MemoryKv()
    const state = new WitnessState(kv)
    await state.update(ORIGIN, async (cur, commit) => {
      expect(cur).toBeUndefined()
      await commit(await cosigned(20))
    })
    expect((await state.latest(ORIGIN))?.treeSize).toBe(20)
    // A caller that skipped its checks still cannot roll back or fork.
    await expect(state.update(ORIGIN, async (_cur, commit) => commit(await cosigned(19)))).rejects.toThrow(/refusing to store size 19/)
    await expect(state.update(ORIGIN, async (_cur, commit) => commit(await cosigned(20, log.fork('b'))))).rejects.toThrow(/second root/)
    await expect(state.update(ORIGIN, async (_cur, commit) => commit(await cosigned(20, new TestLog('x.example/y', { seed: 1 }))))).rejects.toThrow(/checkpoint of x.example/)
    expect((await state.latest(ORIGIN))?.treeSize).toBe(20)
  })

  it('commit refuses to run twice, after its update, or over a write made outside the lock', async () => {
    const kv = new MemoryKv()
    const state = new WitnessState(kv)
    await expect(
      state.update(ORIGIN, async (_cur, commit) => {
        await commit(await cosigned(5))
        await commit(await cosigned(6))
      }),
    ).rejects.toThrow(/twice/)
    let leaked: ((c: CosignedCheckpoint) => Promise<void>) | undefined
    await state.update(ORIGIN, async (_cur, commit) => void (leaked = commit))
    await expect(leaked!(await cosigned(7))).rejects.toThrow(/after its update/)
    await expect(
      state.update(ORIGIN, async (_cur, commit) => {
        await kv.batch([{ type: 'put', key: cosignedKey(originHash(ORIGIN)), value: encodeCosigned(await cosigned(9)) }])
        await commit(await cosigned(10))
      }),
    ).rejects.toThrow(/changed while its lock was held/)
    expect((await state.latest(ORIGIN))?.treeSize).toBe(9)
  })

  it('reads the store on every update: nothing cached survives a write of unknown outcome', async () => {
    const inner = new MemoryKv()
    const faulty = new FaultyKv(inner)
    const state = new WitnessState(faulty)
    await state.update(ORIGIN, async (_c, commit) => commit(await cosigned(5)))
    faulty.failAt(1, 'after')
    const err = await state.update(ORIGIN, async (_c, commit) => commit(await cosigned(8))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreWriteError)
    expect((err as StoreWriteError).persisted).toBe('unknown')
    // The write landed: the next update sees 8, not the 5 it had before.
    await state.update(ORIGIN, async (cur) => expect(cur?.treeSize).toBe(8))
  })

  it('uses keys of its own prefix, apart from the log store (0x01..0x06)', () => {
    expect(cosignedKey(originHash(ORIGIN))[0]).toBe(PREFIX_COSIGNED)
    expect(PREFIX_COSIGNED).toBeGreaterThan(0x06)
  })

  it('is written under the lock of its origin only', async () => {
    const state = new WitnessState(new MemoryKv())
    const other = new TestLog('other.example/log', { seed: 2 })
    const hold = gate()
    const slow = state.update(ORIGIN, async (_c, commit) => {
      await hold.wait
      await commit(await cosigned(3))
    })
    await state.update(other.origin, async (_c, commit) => commit(await cosigned(4, other)))
    expect((await state.latest(other.origin))?.treeSize).toBe(4)
    expect(await state.latest(ORIGIN)).toBeUndefined()
    hold.open()
    await slow
    expect((await state.latest(ORIGIN))?.treeSize).toBe(3)
  })
})

describe('evidence', () => {
  it("keeps at most perLog records per log, dropping that log's oldest", async () => {
    const state = new WitnessState(new MemoryKv(), { perLog: 3 })
    for (let i = 0; i < 5; i++) await state.keepEvidence(evidence('a', i))
    await state.keepEvidence(evidence('b', 100))
    expect((await state.evidence('a')).map((e) => e.message)).toEqual(['refusal 2', 'refusal 3', 'refusal 4'])
    expect((await state.evidence('b')).map((e) => e.message)).toEqual(['refusal 100'])
    expect((await state.evidence()).map((e) => e.id)).toEqual([2, 3, 4, 5])
  })

  it('keeps at most totalBytes in all, dropping the oldest of any log', async () => {
    const probe = new WitnessState(new MemoryKv())
    const one = (await probe.keepEvidence(evidence('a', 0, 100)))!
    const recordSize = utf8(JSON.stringify({ origin: one.origin, timeMs: one.timeMs, status: one.status, reason: one.reason, message: one.message, request: one.request })).length
    const state = new WitnessState(new MemoryKv(), { totalBytes: recordSize * 3 })
    await state.keepEvidence(evidence('a', 0, 100))
    await state.keepEvidence(evidence('b', 1, 100))
    await state.keepEvidence(evidence('a', 2, 100))
    await state.keepEvidence(evidence('c', 3, 100))
    expect((await state.evidence()).map((e) => e.message)).toEqual(['refusal 1', 'refusal 2', 'refusal 3'])
    // Larger than the whole budget: not kept, nothing dropped.
    expect(await state.keepEvidence(evidence('a', 4, recordSize * 4))).toBeUndefined()
    expect((await state.evidence()).length).toBe(3)
  })

  it('keeps nothing with perLog 0', async () => {
    const state = new WitnessState(new MemoryKv(), { perLog: 0 })
    expect(await state.keepEvidence(evidence('a', 0))).toBeUndefined()
    expect(await state.evidence()).toEqual([])
  })

  it('recounts its budget from the store after a restart and after a failed write, never reusing an id', async () => {
    const kv = new MemoryKv()
    const s1 = new WitnessState(kv, { perLog: 2 })
    for (let i = 0; i < 3; i++) await s1.keepEvidence(evidence('a', i))
    const kv2 = MemoryKv.reopen(kv)
    const faulty = new FaultyKv(kv2)
    const s2 = new WitnessState(faulty, { perLog: 2 })
    expect((await s2.keepEvidence(evidence('a', 3)))?.id).toBe(3)
    faulty.failAt(1, 'after')
    await expect(s2.keepEvidence(evidence('a', 4))).rejects.toBeInstanceOf(StoreWriteError)
    faulty.failAt(1, 'before')
    await expect(s2.keepEvidence(evidence('a', 5))).rejects.toBeInstanceOf(StoreWriteError)
    expect((await s2.keepEvidence(evidence('a', 6)))?.id).toBe(5)
    expect((await s2.evidence('a')).map((e) => [e.id, e.message])).toEqual([
      [4, 'refusal 4'],
      [5, 'refusal 6'],
    ])
  })
})
