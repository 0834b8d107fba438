import { describe, expect, it } from 'vitest'
import {
  CompactRange,
  bytesEqual,
  ed25519Signer,
  ed25519Verifier,
  leafHash,
  openNote,
  parseCheckpoint,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/core/index.ts'
import { LogReader } from '../../../src/server/reader.ts'
import { Sequencer, type NewEntry, type Sequenced } from '../../../src/server/sequencer.ts'
import { FaultyKv, KvLogStore, MemoryKv, type FaultMode, type LogStore } from '../../../src/storage/index.ts'

const ORIGIN = 'test.example/log'
const seed = new Uint8Array(32).fill(42)
const signer = ed25519Signer(ORIGIN, seed)
const verifier = ed25519Verifier(ORIGIN, (await import('../../../src/core/index.ts')).publicKeyFromSeed(seed))

const entry = (i: number, salt = ''): Uint8Array => new TextEncoder().encode(`entry ${i}${salt} ${'x'.repeat(i % 17)}`)

function open(store: LogStore, extra: Partial<Parameters<typeof Sequencer.open>[0]> = {}): Promise<Sequencer> {
  return Sequencer.open({ store, origin: ORIGIN, signer, maxBatch: 5, maxDelayMs: 1, ...extra })
}

/** A memory store whose dedup lookups (`locate`) go through `locate`, given the store underneath. */
function withLocate(locate: (inner: LogStore, hs: readonly Uint8Array[]) => ReturnType<LogStore['locate']>): LogStore {
  const inner = new KvLogStore(new MemoryKv())
  return {
    getTreeState: () => inner.getTreeState(),
    getTiles: (r) => inner.getTiles(r),
    getEntry: (i) => inner.getEntry(i),
    getCheckpoint: () => inner.getCheckpoint(),
    getWitnessed: () => inner.getWitnessed(),
    putWitnessed: (n) => inner.putWitnessed(n),
    commit: (b) => inner.commit(b),
    close: () => inner.close(),
    locate: (hs) => locate(inner, hs),
  }
}

/** Looks `e` up, which the log MUST not hold yet, and returns the handle that submits it. */
async function unseen(s: Sequencer, e: Uint8Array): Promise<NewEntry> {
  const found = await s.find(e)
  expect('submit' in found).toBe(true)
  return found as NewEntry
}

/** A memory store that counts its store reads (`locate` calls) of dedup lookups. */
function countingLocates(): { store: LogStore; reads: { n: number } } {
  const reads = { n: 0 }
  const store = withLocate((inner, hs) => {
    reads.n++
    return inner.locate(hs)
  })
  return { store, reads }
}

/** Every entry of the log, read back through the tiles, and the root they hash to. */
async function readAll(store: LogStore, size: number): Promise<{ entries: Uint8Array[]; root: Uint8Array }> {
  const reader = new LogReader(store)
  const c = new CompactRange()
  const entries: Uint8Array[] = []
  for (let i = 0; i < size; i++) {
    const e = await reader.entry(i, size)
    entries.push(e)
    c.append(leafHash(e))
  }
  return { entries, root: c.root() }
}

async function checkpointOf(note: string): Promise<ReturnType<typeof parseCheckpoint>> {
  return parseCheckpoint((await openNote(note, [verifier])).note.text)
}

describe('sequencer', () => {
  it('signs an empty checkpoint for a new log', async () => {
    const s = await open(new KvLogStore(new MemoryKv()))
    expect(s.treeSize).toBe(0)
    expect((await checkpointOf(s.checkpoint)).treeSize).toBe(0)
  })

  it('assigns consecutive indices and answers the same index for the same entry', async () => {
    const store = new KvLogStore(new MemoryKv())
    const s = await open(store)
    const got = await Promise.all(Array.from({ length: 23 }, (_, i) => s.submit(entry(i))))
    expect(got.map((g) => g.index).sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i))
    expect(s.treeSize).toBe(23)
    // Again, concurrently with itself, and with a new entry.
    const again = await Promise.all([s.submit(entry(7)), s.submit(entry(7)), s.submit(entry(100))])
    expect(again[0]!.index).toBe(got[7]!.index)
    expect(again[0]!.duplicate).toBe(true)
    expect(again[1]!.index).toBe(got[7]!.index)
    expect(again[2]!.index).toBe(23)
    // The checkpoint handed back is the first that contains the entry, and proves it.
    const reader = new LogReader(store)
    for (const g of got) {
      const c = await checkpointOf(g.checkpoint)
      expect(c.treeSize).toBe(g.treeSize)
      expect(g.index).toBeLessThan(g.treeSize)
      const proof = await reader.inclusionProof(g.index, g.treeSize)
      expect(verifyInclusion(g.leafHash, g.index, g.treeSize, proof, c.rootHash)).toBe(true)
    }
    const dup = await s.submit(entry(7))
    expect(dup.checkpoint).toBe(got[7]!.checkpoint)
  })

  it('shares one index between concurrent submissions of one entry', async () => {
    const s = await open(new KvLogStore(new MemoryKv()), { maxDelayMs: 20 })
    const many = await Promise.all(Array.from({ length: 10 }, () => s.submit(entry(1))))
    expect(new Set(many.map((m) => m.index))).toEqual(new Set([0]))
    expect(s.treeSize).toBe(1)
  })

  it('never sequences an entry twice when a lookup races with the batch that commits it', async () => {
    let slow = false
    // A store whose lookups take long: a whole batch commits while one is in flight.
    const store = withLocate(async (inner, hs) => {
      const r = await inner.locate(hs)
      if (slow) await new Promise((res) => setTimeout(res, 30))
      return r
    })
    const s = await open(store, { maxDelayMs: 0 })
    const first = s.submit(entry(1))
    slow = true
    // This submission's store read starts before the first batch commits and ends after it.
    const second = s.submit(entry(1))
    await new Promise((res) => setTimeout(res, 5))
    const third = s.submit(entry(1))
    const [a, b, c] = await Promise.all([first, second, third])
    expect([a.index, b.index, c.index]).toEqual([0, 0, 0])
    expect(s.treeSize).toBe(1)
  })

  it('skips the second store read after a lookup, and still finds an entry committed in between', async () => {
    const { store, reads } = countingLocates()
    const s = await open(store, { maxDelayMs: 0, maxBatch: 1 })
    // Absent, and nothing committed since the lookup: no second read.
    let at = await unseen(s, entry(1))
    reads.n = 0
    expect((await at.submit()).index).toBe(0)
    expect(reads.n).toBe(0)
    // Committed by someone else after the lookup: found in the recent batches.
    at = await unseen(s, entry(2))
    const other = await s.submit(entry(2))
    reads.n = 0
    const late = await at.submit()
    expect(reads.n).toBe(0)
    expect(late).toMatchObject({ index: other.index, duplicate: true })
    // So many batches since that the ring no longer holds them: read the store again.
    at = await unseen(s, entry(3))
    const first = await s.submit(entry(3))
    for (let i = 0; i < 300; i++) await s.submit(entry(1000 + i))
    reads.n = 0
    const again = await at.submit()
    expect(reads.n).toBe(1)
    expect(again).toMatchObject({ index: first.index, duplicate: true })
    expect(s.treeSize).toBe(303)
  })

  it('keeps the recent batches by entries too: a lookup followed by 16,384 entries in large batches reads the store again', async () => {
    const { store, reads } = countingLocates()
    let batches = 0
    const s = await open(store, { maxDelayMs: 0, maxBatch: 4096, maxPending: 20_000, onBatch: () => batches++ })
    const fill = (from: number, n: number): Promise<Sequenced[]> => Promise.all(Array.from({ length: n }, (_, i) => s.submit(entry(from + i))))
    const at = await unseen(s, entry(1))
    const first = await s.submit(entry(1))
    await fill(10_000, 4096)
    // 4,097 entries since the lookup: the ring holds all of them.
    reads.n = 0
    expect(await at.submit()).toMatchObject({ index: first.index, duplicate: true })
    expect(reads.n).toBe(0)
    batches = 0
    await fill(20_000, 16_384)
    // Far fewer batches than the ring's count bound: the entries bound dropped the first batch.
    expect(batches).toBeLessThan(100)
    reads.n = 0
    expect(await at.submit()).toMatchObject({ index: first.index, duplicate: true })
    expect(reads.n).toBe(1)
    expect(s.treeSize).toBe(1 + 4096 + 16_384)
  })

  it('bounds batches by count and by time', async () => {
    const sizes: number[] = []
    const s = await open(new KvLogStore(new MemoryKv()), { maxBatch: 4, maxDelayMs: 50, onBatch: (b) => sizes.push(b.entries) })
    const started = performance.now()
    await Promise.all(Array.from({ length: 9 }, (_, i) => s.submit(entry(i))))
    expect(sizes.every((n) => n <= 4)).toBe(true)
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(9)
    // A lone entry waits for the time bound, then is written without more company.
    const t = performance.now()
    await s.submit(entry(99))
    expect(performance.now() - t).toBeGreaterThanOrEqual(45)
    expect(sizes[sizes.length - 1]).toBe(1)
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it('refuses submissions beyond the queue bound with OVERLOADED, and serves the rest', async () => {
    const s = await open(new KvLogStore(new MemoryKv()), { maxBatch: 2, maxDelayMs: 30, maxPending: 3 })
    const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => s.submit(entry(i))))
    const refused = results.filter((r) => r.status === 'rejected')
    expect(refused.length).toBeGreaterThan(0)
    for (const r of refused) expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'OVERLOADED' })
    expect(s.treeSize).toBe(results.filter((r) => r.status === 'fulfilled').length)
  })

  it('recovers its state from the store on reopen, and goes on from there', async () => {
    const kv = new MemoryKv()
    const s = await open(new KvLogStore(kv))
    for (let w = 0; w < 6; w++) await Promise.all(Array.from({ length: 97 }, (_, i) => s.submit(entry(w * 1000 + i))))
    const before = s.checkpoint
    await s.close()
    const kv2 = MemoryKv.reopen(kv)
    const s2 = await open(new KvLogStore(kv2))
    expect(s2.treeSize).toBe(582)
    expect(s2.checkpoint).toBe(before)
    const more = await s2.submit(entry(99_999))
    expect(more.index).toBe(582)
    const { root } = await readAll(new KvLogStore(kv2), 583)
    expect(toHex(root)).toBe(toHex((await checkpointOf(s2.checkpoint)).rootHash))
  })

  it('refuses to start on stored state that does not add up (CORRUPT)', async () => {
    const kv = new MemoryKv()
    const s = await open(new KvLogStore(kv))
    await Promise.all(Array.from({ length: 300 }, (_, i) => s.submit(entry(i))))
    await s.close()
    // Damage one hash of the partial level-0 tile (tile 1 holds entries 256..299).
    const tileKey = (await import('../../../src/storage/index.ts')).tileKey({ level: 0, index: 1, width: 256 })
    const kv2 = MemoryKv.reopen(kv)
    const tile = (await kv2.get(tileKey))!
    tile[5]! ^= 1
    await kv2.batch([{ type: 'put', key: tileKey, value: tile }])
    await expect(open(new KvLogStore(kv2))).rejects.toMatchObject({ code: 'CORRUPT' })
  })
})

/**
 * The workload of the fault tests: 40 entries in waves, retrying what a
 * transient failure refused. Returns what was acknowledged.
 */
async function workload(s: Sequencer): Promise<Map<number, Uint8Array>> {
  const acked = new Map<number, Uint8Array>()
  let pending = Array.from({ length: 40 }, (_, i) => entry(i, '/fault'))
  for (let round = 0; round < 5 && pending.length > 0 && !s.stopped; round++) {
    const retry: Uint8Array[] = []
    for (let w = 0; w < pending.length; w += 7) {
      const wave = pending.slice(w, w + 7)
      const results = await Promise.allSettled(wave.map((e) => s.submit(e)))
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') {
          const prev = acked.get((r.value as Sequenced).index)
          if (prev !== undefined) expect(bytesEqual(prev, wave[i]!)).toBe(true)
          acked.set(r.value.index, wave[i]!)
        } else retry.push(wave[i]!)
      })
    }
    pending = retry
  }
  return acked
}

describe('sequencer with a storage fault at every write point', () => {
  for (const mode of ['before', 'after'] as FaultMode[]) {
    it(`never acknowledges what a restart does not find, failing ${mode} persisting`, async () => {
      let points = 0
      for (let n = 1; n <= 14; n++) {
        const kv = new MemoryKv()
        const faulty = new FaultyKv(kv)
        faulty.failAt(n, mode)
        let fatal: unknown
        let acked = new Map<number, Uint8Array>()
        let lastCheckpoint: string | undefined
        try {
          const s = await open(new KvLogStore(faulty), { onFatal: (e) => (fatal = e) })
          acked = await workload(s)
          lastCheckpoint = s.stopped ? undefined : s.checkpoint
          if (!s.stopped) await s.close()
        } catch (e) {
          // The first write is the empty checkpoint of a new log: open itself fails.
          expect(n).toBe(1)
          expect(e).toBeDefined()
        }
        if (faulty.calls < n) continue
        points++
        if (mode === 'after' && n > 1) expect(fatal, `write ${n}`).toBeDefined()
        if (mode === 'before') expect(fatal).toBeUndefined()

        // Restart on what the disk holds.
        const kv2 = MemoryKv.reopen(kv)
        const store2 = new KvLogStore(kv2)
        const s2 = await open(store2)
        const size = s2.treeSize
        const { entries, root } = await readAll(store2, size)
        const cp = await checkpointOf(s2.checkpoint)
        expect(cp.treeSize).toBe(size)
        expect(toHex(cp.rootHash)).toBe(toHex(root))
        for (const [index, e] of acked) {
          expect(index, `write ${n}: acked index ${index} beyond the restarted tree of ${size}`).toBeLessThan(size)
          expect(toHex(entries[index]!)).toBe(toHex(e))
        }
        // No entry twice, whatever was retried.
        expect(new Set(entries.map(toHex)).size).toBe(entries.length)
        if (lastCheckpoint !== undefined) {
          const before = await checkpointOf(lastCheckpoint)
          const proof = await new LogReader(store2).consistencyProof(before.treeSize, size)
          expect(verifyConsistency(before.treeSize, size, proof, before.rootHash, root)).toBe(true)
        }
        // The restarted log accepts work and still knows every acknowledged entry.
        for (const [index, e] of acked) expect((await s2.submit(e)).index).toBe(index)
        await s2.close()
      }
      expect(points).toBeGreaterThanOrEqual(10)
    })
  }

  it('fails one batch on a transient error and stays consistent for the next', async () => {
    const kv = new MemoryKv()
    const faulty = new FaultyKv(kv)
    const s = await open(new KvLogStore(faulty))
    await s.submit(entry(1))
    faulty.failAt(1, 'before')
    await expect(s.submit(entry(2))).rejects.toMatchObject({ code: 'OVERLOADED' })
    expect(s.treeSize).toBe(1)
    expect((await s.submit(entry(2))).index).toBe(1)
    expect((await s.submit(entry(3))).index).toBe(2)
  })

  it('stops after a write of unknown outcome and refuses further work', async () => {
    const kv = new MemoryKv()
    const faulty = new FaultyKv(kv)
    let fatal = 0
    const s = await open(new KvLogStore(faulty), { onFatal: () => fatal++ })
    faulty.failAt(1, 'after')
    await expect(s.submit(entry(1))).rejects.toMatchObject({ code: 'CORRUPT' })
    expect(fatal).toBe(1)
    expect(s.stopped).toBe(true)
    await expect(s.submit(entry(2))).rejects.toMatchObject({ code: 'CORRUPT' })
    // The write did reach the disk: a restart finds the entry, and its submitter can resubmit.
    const s2 = await open(new KvLogStore(MemoryKv.reopen(kv)))
    expect(s2.treeSize).toBe(1)
    expect((await s2.submit(entry(1))).index).toBe(0)
  })
})
