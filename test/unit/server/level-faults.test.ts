/**
 * The sequencer over real LevelDB with a fault at every write point, before
 * and after persisting, of the main store and of the dedup index beside it
 * (the MemoryKv version is in sequencer.test.ts). After each fault the
 * stores are closed, as a process exit would leave them, and opened again
 * from the directory as the log opens them: what was acknowledged is there,
 * the recovered tree is consistent with the last checkpoint handed out, no
 * entry is in it twice, and each acknowledged entry submitted again gets its
 * index back.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { CompactRange, bytesEqual, ed25519Signer, leafHash, parseCheckpoint, parseNote, toHex, verifyConsistency } from '../../../src/core/index.ts'
import { LogReader } from '../../../src/server/reader.ts'
import { Sequencer } from '../../../src/server/sequencer.ts'
import { FaultyKv, INDEX_DIR, KvLogStore, LevelKv, openLevelLogStore, type FaultMode } from '../../../src/storage/index.ts'

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
  for (const [role, mode] of [
    ['main', 'before'],
    ['main', 'after'],
    ['index', 'before'],
    ['index', 'after'],
  ] as ['main' | 'index', FaultMode][]) {
    it(`never acknowledges what a reopened LevelDB does not hold, failing the ${role === 'main' ? 'main' : 'dedup index'} write ${mode} persisting`, async () => {
      let points = 0
      // Writes of the index: its completeness mark when it is new, then one per batch of the main store.
      const opening = role === 'main' ? 1 : 2
      for (let n = 1; n <= 12; n++) {
        const dir = await mkdtemp(join(tmpdir(), 'actlog-level-faults-'))
        try {
          const main = await LevelKv.open(dir)
          const index = await LevelKv.open(join(dir, INDEX_DIR))
          const faulty = new FaultyKv(role === 'main' ? main : index)
          faulty.failAt(n, mode)
          let fatal: unknown
          let acked = new Map<number, Uint8Array>()
          let last: string | undefined
          try {
            const store = await KvLogStore.withIndex(role === 'main' ? faulty : main, role === 'index' ? faulty : index)
            const s = await Sequencer.open({ store, origin: ORIGIN, signer, maxBatch: 6, maxDelayMs: 1, onFatal: (e) => (fatal = e) })
            acked = await workload(s)
            last = s.checkpoint
            if (!s.stopped) await s.close()
          } catch (e) {
            // The first writes set up a new log (its empty checkpoint, the index's mark): opening fails.
            expect(n).toBeLessThanOrEqual(opening)
            expect(e).toBeDefined()
          }
          // The process is gone; its stores are closed as an exit would leave them.
          await main.close()
          await index.close()
          if (faulty.calls < n) continue
          points++
          // Past the main write, a failed index write leaves the stored state unknown to the sequencer.
          if ((mode === 'after' || role === 'index') && n > opening) expect(fatal, `write ${n}`).toBeDefined()
          if (mode === 'before' && role === 'main') expect(fatal).toBeUndefined()

          const store = await openLevelLogStore(dir)
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
          for (const [index, e] of acked) expect(await s2.submit(e), `write ${n}: entry ${index} again`).toMatchObject({ index, duplicate: true })
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
