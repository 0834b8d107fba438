/**
 * The dedup index in a store of its own (KvLogStore.withIndex, as a LevelDB
 * log keeps it): written after the main batch with its completeness mark,
 * and brought up to date when the store opens: a crash between the two
 * writes, a lost index, an index of a store from before the split, one that
 * stopped half way through a move, and one ahead of the tree.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { TlogError } from '../../../src/core/index.ts'
import {
  FaultyKv,
  INDEX_DIR,
  KvLogStore,
  LevelKv,
  MemoryKv,
  PREFIX_DEDUP,
  StoreOpenError,
  StoreWriteError,
  dedupKey,
  encodeLocated,
  entryChunkKey,
  indexedKey,
  openLevelLogStore,
  prefixRange,
  toStoreWriteError,
  type CommitBatch,
  type IndexEvent,
  type KvStore,
  type LogStore,
} from '../../../src/storage/index.ts'
import { growLog } from '../../helpers/log-batches.ts'

async function countKeys(kv: KvStore, range = {}): Promise<number> {
  let n = 0
  for await (const _ of kv.iterate(range)) n++
  return n
}

/** Returns what `p` rejects with, or undefined when it resolves. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  )
}

async function filesSize(dir: string): Promise<number> {
  let total = 0
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isFile()) total += (await stat(join(dir, e.name))).size
  return total
}

async function mark(index: KvStore): Promise<number | undefined> {
  const v = await index.get(indexedKey())
  return v === undefined ? undefined : Number(new DataView(v.buffer, v.byteOffset).getBigUint64(0))
}

/** Asserts that every entry of `batches` is found at its index, with the first checkpoint `firstSize(batch)`. */
async function expectIndexed(store: LogStore, batches: CommitBatch[], firstSize: (b: CommitBatch) => number = (b) => b.tree.treeSize): Promise<void> {
  for (const b of batches) {
    const got = await store.locate(b.dedup.map((d) => d.leafHash))
    expect(got).toEqual(b.dedup.map(({ index }) => ({ index, treeSize: firstSize(b) })))
  }
}

async function openSplit(main: KvStore, index: KvStore, events: IndexEvent[] = []): Promise<KvLogStore> {
  return KvLogStore.withIndex(main, index, (e) => events.push(e))
}

describe('a dedup index in a store of its own', () => {
  it('holds the dedup records and the completeness mark; the main store holds none of them', async () => {
    const main = new MemoryKv()
    const index = new MemoryKv()
    const store = await KvLogStore.withIndex(main, index)
    const { batches } = growLog([3, 300, 301])
    for (const b of batches) {
      await store.commit(b)
      expect(await mark(index)).toBe(b.tree.treeSize)
    }
    await expectIndexed(store, batches)
    expect(await countKeys(main, prefixRange(PREFIX_DEDUP))).toBe(0)
    expect(await countKeys(index, prefixRange(PREFIX_DEDUP))).toBe(301)
  })

  it('indexes again, with its exact first checkpoint, the batch whose index write a crash or a failure cut off', async () => {
    const main = new MemoryKv()
    const index = new MemoryKv()
    const faulty = new FaultyKv(index)
    const store = await KvLogStore.withIndex(main, faulty)
    const { batches } = growLog([40, 300, 310])
    await store.commit(batches[0]!)
    await store.commit(batches[1]!)
    faulty.failAt(1, 'before')
    // The entries are stored: the sequencer must stop and let a restart index them.
    const err = await rejection(store.commit(batches[2]!))
    expect(err).toBeInstanceOf(StoreWriteError)
    expect((err as StoreWriteError).persisted).toBe('unknown')
    expect((err as Error).message).toMatch(/up to tree size 310 are stored/)
    expect(await mark(index)).toBe(300)
    const events: IndexEvent[] = []
    const reopened = await openSplit(main, index, events)
    expect(events).toEqual([
      { kind: 'indexing', from: 300, to: 310, done: 300 },
      { kind: 'indexing', from: 300, to: 310, done: 310 },
    ])
    expect(await mark(index)).toBe(310)
    await expectIndexed(reopened, batches)
    // Up to date now: opening again does nothing.
    const quiet: IndexEvent[] = []
    await openSplit(main, index, quiet)
    expect(quiet).toEqual([])
  })

  it('rebuilds a lost index from the stored entries, in steps that each record how far it got', async () => {
    const main = new MemoryKv()
    const store = await KvLogStore.withIndex(main, new MemoryKv())
    const { batches } = growLog([100, 5000, 9000])
    for (const b of batches) await store.commit(b)
    const fresh = new MemoryKv()
    const faulty = new FaultyKv(fresh)
    // The mark, then steps of 4,096 entries: the second step fails.
    faulty.failAt(3, 'before')
    const err = await rejection(KvLogStore.withIndex(main, faulty))
    expect(err).toBeInstanceOf(StoreWriteError)
    expect(await mark(fresh)).toBe(4096)
    const events: IndexEvent[] = []
    const rebuilt = await openSplit(main, fresh, events)
    expect(events).toEqual([
      { kind: 'indexing', from: 4096, to: 9000, done: 4096 },
      { kind: 'indexing', from: 4096, to: 9000, done: 9000 },
    ])
    // Batch boundaries are not stored: a rebuilt record names the checkpoint of the tree it was rebuilt at, which contains it.
    await expectIndexed(rebuilt, batches, () => 9000)
  })

  it('moves the records of a store from before the split, keeping their first checkpoints, and deletes them from the main store', async () => {
    const main = new MemoryKv()
    const single = new KvLogStore(main)
    const { batches } = growLog([7, 260, 900])
    for (const b of batches) await single.commit(b)
    expect(await countKeys(main, prefixRange(PREFIX_DEDUP))).toBe(900)
    const index = new MemoryKv()
    const events: IndexEvent[] = []
    const store = await openSplit(main, index, events)
    expect(events).toEqual([{ kind: 'moved', records: 900 }])
    expect(await mark(index)).toBe(900)
    expect(await countKeys(main, prefixRange(PREFIX_DEDUP))).toBe(0)
    await expectIndexed(store, batches)
  })

  it('finishes a move that stopped before its mark (from the start) or after it (the deletes)', async () => {
    const main = new MemoryKv()
    const single = new KvLogStore(main)
    const { batches } = growLog([10, 5000])
    for (const b of batches) await single.commit(b)
    // Stopped before the mark: the first step of 4,096 records was copied.
    const index = new MemoryKv()
    const faulty = new FaultyKv(index)
    faulty.failAt(2, 'before')
    await expect(KvLogStore.withIndex(main, faulty)).rejects.toBeInstanceOf(StoreWriteError)
    expect(await countKeys(index, prefixRange(PREFIX_DEDUP))).toBe(4096)
    expect(await mark(index)).toBeUndefined()
    // Stopped after the mark, during the deletes from the main store.
    const mainFaults = new FaultyKv(main)
    mainFaults.failAt(2, 'before')
    await expect(KvLogStore.withIndex(mainFaults, index)).rejects.toBeInstanceOf(StoreWriteError)
    expect(await mark(index)).toBe(5000)
    expect(await countKeys(main, prefixRange(PREFIX_DEDUP))).toBe(5000 - 4096)
    const events: IndexEvent[] = []
    const store = await openSplit(main, index, events)
    expect(events).toEqual([])
    expect(await countKeys(main, prefixRange(PREFIX_DEDUP))).toBe(0)
    await expectIndexed(store, batches)
  })

  it('rebuilds an index that is ahead of the tree, so that no entry the tree lacks is found', async () => {
    const { batches } = growLog([50, 400])
    // The main store as an older copy would hold it: the first batch only.
    const older = new MemoryKv()
    await (await KvLogStore.withIndex(older, new MemoryKv())).commit(batches[0]!)
    const index = new MemoryKv()
    const store = await KvLogStore.withIndex(new MemoryKv(), index)
    for (const b of batches) await store.commit(b)
    const events: IndexEvent[] = []
    const rebuilt = await openSplit(older, index, events)
    expect(events).toEqual([
      { kind: 'cleared', indexed: 400, treeSize: 50 },
      { kind: 'indexing', from: 0, to: 50, done: 0 },
      { kind: 'indexing', from: 0, to: 50, done: 50 },
    ])
    await expectIndexed(rebuilt, [batches[0]!])
    expect(new Set(await rebuilt.locate(batches[1]!.dedup.map((d) => d.leafHash)))).toEqual(new Set([undefined]))
    expect(await countKeys(index, prefixRange(PREFIX_DEDUP))).toBe(50)
  })

  it('refuses to index entries that do not match their level-0 tile, or a bundle that is missing', async () => {
    const main = new MemoryKv()
    const store = await KvLogStore.withIndex(main, new MemoryKv())
    const { batches } = growLog([70])
    await store.commit(batches[0]!)
    const chunk = (await main.get(entryChunkKey(0, 1)))!
    const altered = chunk.slice()
    altered.set([altered[altered.length - 1]! ^ 1], altered.length - 1)
    await main.batch([{ type: 'put', key: entryChunkKey(0, 1), value: altered }])
    const err = await rejection(KvLogStore.withIndex(main, new MemoryKv()))
    expect(err).toBeInstanceOf(TlogError)
    expect((err as TlogError).code).toBe('CORRUPT')
    expect((err as Error).message).toMatch(/entry 69 does not match its level-0 tile hash/)
    await main.batch([{ type: 'del', key: entryChunkKey(0, 0) }, { type: 'del', key: entryChunkKey(0, 1) }])
    await expect(KvLogStore.withIndex(main, new MemoryKv())).rejects.toThrow(/entry bundle 0 is missing/)
  })

  it('refuses a malformed completeness mark or a foreign dedup record as CORRUPT', async () => {
    const index = new MemoryKv()
    await index.batch([{ type: 'put', key: indexedKey(), value: new Uint8Array(7) }])
    await expect(KvLogStore.withIndex(new MemoryKv(), index)).rejects.toMatchObject({ code: 'CORRUPT' })
    const main = new MemoryKv()
    const { batches } = growLog([5])
    await new KvLogStore(main).commit(batches[0]!)
    await main.batch([{ type: 'put', key: dedupKey(new Uint8Array(32).fill(7)), value: encodeLocated({ index: 9, treeSize: 10 }) }])
    await expect(KvLogStore.withIndex(main, new MemoryKv())).rejects.toThrow(/does not belong to the stored tree of size 5/)
  })
})

describe('a LevelDB log store', () => {
  const dirs: string[] = []
  afterEach(async () => {
    for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
  })
  const tempDir = async (): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), 'actlog-dedup-index-'))
    dirs.push(d)
    return d
  }

  it(`keeps the index in ${INDEX_DIR}/, moves there the index of a store from before, and counts both directories in its disk usage`, async () => {
    const dir = await tempDir()
    const { batches } = growLog([30, 700])
    const single = new KvLogStore(await LevelKv.open(dir))
    await single.commit(batches[0]!)
    await single.close()
    const events: IndexEvent[] = []
    const store = await openLevelLogStore(dir, (e) => events.push(e))
    expect(events).toEqual([{ kind: 'moved', records: 30 }])
    await store.commit(batches[1]!)
    await expectIndexed(store, batches)
    // Both directories' files, as the store counts them at the same moment.
    expect(await store.diskUsage!()).toBe((await filesSize(dir)) + (await filesSize(join(dir, INDEX_DIR))))
    await store.close()
    const main = await LevelKv.open(dir)
    const index = await LevelKv.open(join(dir, INDEX_DIR))
    try {
      expect(await countKeys(main, prefixRange(PREFIX_DEDUP))).toBe(0)
      expect(await countKeys(index, prefixRange(PREFIX_DEDUP))).toBe(700)
      expect(await mark(index)).toBe(700)
    } finally {
      await main.close()
      await index.close()
    }
  })

  it('indexes on opening what a failed index write left out, and rebuilds a removed index directory', async () => {
    const dir = await tempDir()
    const { batches } = growLog([20, 513])
    const faulty = new FaultyKv(await LevelKv.open(join(dir, INDEX_DIR)))
    const store = await KvLogStore.withIndex(await LevelKv.open(dir), faulty)
    await store.commit(batches[0]!)
    faulty.failAt(1, 'before')
    await expect(store.commit(batches[1]!)).rejects.toMatchObject({ persisted: 'unknown' })
    await store.close()
    const events: IndexEvent[] = []
    let reopened = await openLevelLogStore(dir, (e) => events.push(e))
    expect(events.map((e) => e.kind)).toEqual(['indexing', 'indexing'])
    await expectIndexed(reopened, batches)
    await reopened.close()
    await rm(join(dir, INDEX_DIR), { recursive: true })
    reopened = await openLevelLogStore(dir)
    await expectIndexed(reopened, batches, () => 513)
    await reopened.close()
  })

  it('says which directory and what to do when writing the index up to date fails as it opens, and lets go of both LevelDBs', async () => {
    const dir = await tempDir()
    const full = toStoreWriteError(Object.assign(new Error(`IO error: ${dir}/${INDEX_DIR}/000005.log: No space left on device`), { code: 'LEVEL_IO_ERROR' }), join(dir, INDEX_DIR))
    const spy = vi.spyOn(KvLogStore, 'withIndex').mockRejectedValueOnce(full)
    try {
      const err = await rejection(openLevelLogStore(dir))
      expect(err).toBeInstanceOf(StoreOpenError)
      expect((err as Error).message).toMatch(/^cannot bring the dedup index in \S+dedup up to date: .*No space left on device.*; the disk is full: free space on it, then start again/)
    } finally {
      spy.mockRestore()
    }
    await (await openLevelLogStore(dir)).close()
  })
})
