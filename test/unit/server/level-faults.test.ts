/**
 * The sequencer over real LevelDB with a fault at every write point, before
 * and after persisting (the MemoryKv version is in sequencer.test.ts). After
 * each fault the store is closed, as a process exit would leave it, and
 * opened again from the directory: what was acknowledged is there, the
 * recovered tree is consistent with the last checkpoint handed out, and no
 * entry is in it twice.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CompactRange, bytesEqual, ed25519Signer, leafHash, parseCheckpoint, parseNote, toHex, verifyConsistency } from '../../../src/core/index.ts'
import { LogReader } from '../../../src/server/reader.ts'
import { Sequencer } from '../../../src/server/sequencer.ts'
import { FaultyKv, KvLogStore, LevelKv, type FaultMode } from '../../../src/storage/index.ts'

const ORIGIN = 'test.example/level-faults'
const signer = ed25519Signer(ORIGIN, new Uint8Array(32).fill(9))
const entry = (i: number): Uint8Array => new TextEncoder().encode(`level fault entry ${i} ${'y'.repeat(i % 23)}`)

/** 60 entries in waves of 9, retrying what a failed batch refused, until the sequencer stops. */
async function workload(s: Sequencer): Promise<Map<number, Uint8Array>> {
  const acked = new Map<number, Uint8Array>()
  let pending = Array.from({ length: 60 }, (_, i) => entry(i))
  for (let round = 0; round < 4 && pending.length > 0 && !s.stopped; round++) {
    const retry: Uint8Array[] = []
    for (let w = 0; w < pending.length && !s.stopped; w += 9) {
      const wave = pending.slice(w, w + 9)
      const results = await Promise.allSettled(wave.map((e) => s.submit(e)))
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') {
          const prev = acked.get(r.value.index)
          if (prev !== undefined) expect(bytesEqual(prev, wave[i]!)).toBe(true)
          acked.set(r.value.index, wave[i]!)
        } else retry.push(wave[i]!)
      })
    }
    pending = retry
  }
  return acked
}

describe('sequencer over LevelDB with a storage fault at every write point', () => {
  for (const mode of ['before', 'after'] as FaultMode[]) {
    it(`never acknowledges what a reopened LevelDB does not hold, failing ${mode} persisting`, async () => {
      let points = 0
      for (let n = 1; n <= 12; n++) {
        const dir = await mkdtemp(join(tmpdir(), 'actlog-level-faults-'))
        try {
          const faulty = new FaultyKv(await LevelKv.open(dir))
          faulty.failAt(n, mode)
          let fatal: unknown
          let acked = new Map<number, Uint8Array>()
          let last: string | undefined
          try {
            const s = await Sequencer.open({ store: new KvLogStore(faulty), origin: ORIGIN, signer, maxBatch: 6, maxDelayMs: 1, onFatal: (e) => (fatal = e) })
            acked = await workload(s)
            last = s.checkpoint
            if (!s.stopped) await s.close()
          } catch (e) {
            // Write 1 is the empty checkpoint of a new log: opening fails.
            expect(n).toBe(1)
            expect(e).toBeDefined()
          }
          // The process is gone; its store is closed as an exit would leave it.
          await faulty.close()
          if (faulty.calls < n) continue
          points++
          if (mode === 'after' && n > 1) expect(fatal, `write ${n}`).toBeDefined()
          if (mode === 'before') expect(fatal).toBeUndefined()

          const store = new KvLogStore(await LevelKv.open(dir))
          const s2 = await Sequencer.open({ store, origin: ORIGIN, signer, maxBatch: 6, maxDelayMs: 1 })
          const size = s2.treeSize
          const reader = new LogReader(store)
          const range = new CompactRange()
          const leaves = new Set<string>()
          for (let i = 0; i < size; i++) {
            const e = await reader.entry(i, size)
            range.append(leafHash(e))
            leaves.add(toHex(leafHash(e)))
            const want = acked.get(i)
            if (want !== undefined) expect(bytesEqual(e, want), `write ${n}: index ${i}`).toBe(true)
          }
          for (const index of acked.keys()) expect(index, `write ${n}: acknowledged ${index}, tree of ${size}`).toBeLessThan(size)
          expect(leaves.size, 'no entry twice').toBe(size)
          const cp = parseCheckpoint(parseNote(s2.checkpoint).text)
          expect(toHex(cp.rootHash)).toBe(toHex(range.root()))
          if (last !== undefined) {
            const before = parseCheckpoint(parseNote(last).text)
            expect(before.treeSize).toBeLessThanOrEqual(size)
            const proof = await reader.consistencyProof(before.treeSize, size)
            expect(verifyConsistency(before.treeSize, size, proof, before.rootHash, range.root()), `write ${n}`).toBe(true)
          }
          for (const [index, e] of acked) expect((await s2.submit(e)).index).toBe(index)
          await s2.close()
          await store.close()
        } finally {
          await rm(dir, { recursive: true, force: true })
        }
      }
      expect(points).toBeGreaterThanOrEqual(10)
    })
  }
})
