import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  HASH_SIZE,
  concatBytes,
  TlogError,
  compareBytes,
  encodeEntryBundle,
  leafHash,
  parseEntryBundle,
  u64be,
  utf8,
  type TileData,
  type TileRef,
} from '../../src/core/index.ts'
import {
  FaultyKv,
  KvLogStore,
  LevelKv,
  MemoryKv,
  StoreLockedError,
  StoreWriteError,
  checkpointKey,
  createMemoryLogStore,
  ENTRY_CHUNK,
  dedupKey,
  entryChunkKey,
  openLevelLogStore,
  tileKey,
  toStoreWriteError,
  treeStateKey,
  witnessedKey,
  type CommitBatch,
  type KvOp,
  type KvRange,
  type KvStore,
  type LogStore,
} from '../../src/storage/index.ts'
import { checkpointNote, growLog } from '../helpers/log-batches.ts'

/**
 * One contract for every storage backend: the KvStore semantics (bytewise
 * order, bounds, atomic batches, copies out) and the LogStore built on it
 * (round trips, widest tile wins, numeric order past 2^32, atomicity under
 * injected faults, persistence across a restart, CORRUPT on bad records).
 */

/** A storage backend under test: one database that can be reopened. */
interface Backend {
  /** Returns a handle on the backend's database. */
  openKv(): Promise<KvStore>
  /** Returns a LogStore over the same database, made by the public factory. */
  openLogStore(): Promise<LogStore>
  /**
   * Returns a new handle on the same data, as a restarted process would
   * open it. Handles from openKv are closed (or dropped) first; the caller
   * closes stores it got from openLogStore.
   */
  restart(): Promise<KvStore>
  /**
   * Returns a LogStore made by the public factory over the same data, as a
   * restarted process would open it; like `restart`, closes handles first.
   */
  reopenLogStore(): Promise<LogStore>
  /** Whether the LogStore can report disk usage. */
  readonly diskUsage: boolean
  cleanup(): Promise<void>
}

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const LOCK_HOLDER = join(REPO, 'test/helpers/storage-lock-holder.ts')

async function memoryBackend(): Promise<Backend> {
  let current = new MemoryKv()
  return {
    diskUsage: false,
    openKv: async () => current,
    openLogStore: async () => createMemoryLogStore(current),
    restart: async () => {
      current = MemoryKv.reopen(current)
      return current
    },
    reopenLogStore: async () => {
      current = MemoryKv.reopen(current)
      return createMemoryLogStore(current)
    },
    cleanup: async () => {},
  }
}

/** Memory, with the dedup index in a MemoryKv of its own, as a LevelDB log keeps it. */
async function splitMemoryBackend(): Promise<Backend> {
  let current = new MemoryKv()
  let index = new MemoryKv()
  return {
    diskUsage: false,
    openKv: async () => current,
    openLogStore: () => KvLogStore.withIndex(current, index),
    restart: async () => {
      current = MemoryKv.reopen(current)
      return current
    },
    reopenLogStore: async () => {
      current = MemoryKv.reopen(current)
      index = MemoryKv.reopen(index)
      return KvLogStore.withIndex(current, index)
    },
    cleanup: async () => {},
  }
}

async function levelBackend(): Promise<Backend> {
  const dir = await mkdtemp(join(tmpdir(), 'actlog-store-'))
  const handles: LevelKv[] = []
  const closeAll = async (): Promise<void> => {
    for (const h of handles.splice(0)) await h.close().catch(() => {})
  }
  return {
    diskUsage: true,
    openKv: async () => {
      const kv = await LevelKv.open(dir)
      handles.push(kv)
      return kv
    },
    openLogStore: () => openLevelLogStore(dir),
    restart: async () => {
      await closeAll()
      const kv = await LevelKv.open(dir)
      handles.push(kv)
      return kv
    },
    reopenLogStore: async () => {
      await closeAll()
      return openLevelLogStore(dir)
    },
    cleanup: async () => {
      await closeAll()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

function bytes(...b: number[]): Uint8Array {
  return Uint8Array.of(...b)
}

async function collect(it: AsyncIterable<[Uint8Array, Uint8Array]>): Promise<[Uint8Array, Uint8Array][]> {
  const out: [Uint8Array, Uint8Array][] = []
  for await (const pair of it) out.push(pair)
  return out
}

async function keysOf(kv: KvStore, range?: KvRange): Promise<number[][]> {
  return (await collect(kv.iterate(range))).map(([k]) => Array.from(k))
}

function isPlainCopy(b: unknown): boolean {
  return b instanceof Uint8Array && Object.getPrototypeOf(b) === Uint8Array.prototype && b.byteOffset === 0 && b.buffer.byteLength === b.length
}

/** A commit of an otherwise empty tree of `size` (no tiles): enough to exercise checkpoint keys. */
function bareCommit(size: number): CommitBatch {
  return { tree: { treeSize: size, rootHash: new Uint8Array(HASH_SIZE).fill(size % 251) }, tiles: [], dedup: [], checkpoint: checkpointNote(size) }
}

async function expectCode(p: Promise<unknown>, code: string): Promise<TlogError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(TlogError)
  expect((err as TlogError).code).toBe(code)
  return err as TlogError
}

async function expectWriteError(p: Promise<unknown>, persisted: false | 'unknown'): Promise<StoreWriteError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(StoreWriteError)
  expect((err as StoreWriteError).persisted).toBe(persisted)
  return err as StoreWriteError
}

/** Asserts that `store` holds exactly what committing `batch` (the last commit) left. */
async function expectCommitted(store: LogStore, batch: CommitBatch): Promise<void> {
  const state = await store.getTreeState()
  expect(state?.treeSize).toBe(batch.tree.treeSize)
  expect(state?.rootHash).toEqual(batch.tree.rootHash)
  const got = await store.getTiles(batch.tiles.map((t) => t.tile))
  expect(got).toEqual(batch.tiles.map((t) => t.data))
  const at = await store.locate(batch.dedup.map((d) => d.leafHash))
  expect(at).toEqual(batch.dedup.map(({ index }) => ({ index, treeSize: batch.tree.treeSize })))
  expect(await store.getCheckpoint()).toBe(batch.checkpoint)
}

/** Asserts that nothing `batch` wrote (beyond what `before` also wrote) is visible. */
async function expectNotCommitted(store: LogStore, batch: CommitBatch, before: CommitBatch): Promise<void> {
  const state = await store.getTreeState()
  expect(state?.treeSize).toBe(before.tree.treeSize)
  expect(state?.rootHash).toEqual(before.tree.rootHash)
  expect(await store.getCheckpoint()).toBe(before.checkpoint)
  for (const located of await store.locate(batch.dedup.map((d) => d.leafHash))) expect(located).toBeUndefined()
  // Every tile of `batch` is either absent or still the version `before` wrote.
  const got = await store.getTiles(batch.tiles.map((t) => t.tile))
  const prior = new Map(before.tiles.map((t) => [`${t.tile.level}/${t.tile.index}`, t.data]))
  got.forEach((g, i) => {
    const t = batch.tiles[i]!.tile
    expect(g).toEqual(prior.get(`${t.level}/${t.index}`))
  })
}

function storeContract(name: string, makeBackend: () => Promise<Backend>): void {
  describe(`${name} store contract`, () => {
    let backend: Backend
    let opened: { close(): Promise<void> }[]
    beforeEach(async () => {
      backend = await makeBackend()
      opened = []
    })
    afterEach(async () => {
      for (const s of opened) await s.close().catch(() => {})
      await backend.cleanup()
    })
    const logStore = async (): Promise<LogStore> => {
      const s = await backend.openLogStore()
      opened.push(s)
      return s
    }

    describe('KvStore', () => {
      it('returns undefined for absent keys and values in order from getMany', async () => {
        const kv = await backend.openKv()
        expect(await kv.get(bytes(1))).toBeUndefined()
        expect(await kv.getMany([])).toEqual([])
        await kv.batch([
          { type: 'put', key: bytes(1), value: bytes(10) },
          { type: 'put', key: bytes(3), value: new Uint8Array(0) },
        ])
        expect(await kv.get(bytes(1))).toEqual(bytes(10))
        expect(await kv.get(bytes(3))).toEqual(new Uint8Array(0))
        expect(await kv.getMany([bytes(3), bytes(2), bytes(1), bytes(1, 0)])).toEqual([new Uint8Array(0), undefined, bytes(10), undefined])
      })

      it('returns fresh plain Uint8Array copies and keeps its own copy of what it was given', async () => {
        const kv = await backend.openKv()
        const key = bytes(7, 7)
        const value = bytes(1, 2, 3)
        await kv.batch([{ type: 'put', key, value }])
        value[0] = 99
        key[1] = 8
        const got = await kv.get(bytes(7, 7))
        expect(got).toEqual(bytes(1, 2, 3))
        expect(isPlainCopy(got)).toBe(true)
        got![1] = 42
        expect(await kv.get(bytes(7, 7))).toEqual(bytes(1, 2, 3))
        const [many] = await kv.getMany([bytes(7, 7)])
        expect(isPlainCopy(many)).toBe(true)
        for await (const [k, v] of kv.iterate()) {
          expect(isPlainCopy(k)).toBe(true)
          expect(isPlainCopy(v)).toBe(true)
        }
      })

      it('applies the ops of one batch in order, so a later op on the same key wins', async () => {
        const kv = await backend.openKv()
        await kv.batch([
          { type: 'put', key: bytes(1), value: bytes(1) },
          { type: 'del', key: bytes(1) },
          { type: 'del', key: bytes(2) },
          { type: 'put', key: bytes(2), value: bytes(2) },
          { type: 'put', key: bytes(3), value: bytes(3) },
          { type: 'put', key: bytes(3), value: bytes(33) },
          { type: 'del', key: bytes(9) },
        ])
        expect(await kv.getMany([bytes(1), bytes(2), bytes(3), bytes(9)])).toEqual([undefined, bytes(2), bytes(33), undefined])
        await kv.batch([{ type: 'del', key: bytes(2) }])
        expect(await kv.get(bytes(2))).toBeUndefined()
        expect(await keysOf(kv)).toEqual([[3]])
      })

      it('rejects a batch with a malformed op without applying any of it', async () => {
        const kv = await backend.openKv()
        const bad = [
          { type: 'put', key: bytes(1), value: bytes(1) },
          { type: 'put', key: new Uint8Array(0), value: bytes(1) },
        ] as const
        await expect(kv.batch(bad)).rejects.toBeInstanceOf(TypeError)
        await expect(kv.batch([{ type: 'put', key: bytes(1), value: 'x' as unknown as Uint8Array }])).rejects.toBeInstanceOf(TypeError)
        await expect(kv.batch([{ type: 'put', key: 'k' as unknown as Uint8Array, value: bytes(1) }])).rejects.toBeInstanceOf(TypeError)
        expect(await kv.get(bytes(1))).toBeUndefined()
      })

      it('orders keys by unsigned bytes, shorter prefix first', async () => {
        const kv = await backend.openKv()
        const want = [[0x00], [0x00, 0x00], [0x00, 0xff], [0x01], [0x7f, 0xff], [0x80], [0x80, 0x00], [0xfe], [0xff], [0xff, 0x00, 0x00]]
        const shuffled = [want[5]!, want[9]!, want[0]!, want[7]!, want[2]!, want[8]!, want[1]!, want[4]!, want[6]!, want[3]!]
        await kv.batch(shuffled.map((k) => ({ type: 'put' as const, key: Uint8Array.from(k), value: Uint8Array.from(k) })))
        expect(await keysOf(kv)).toEqual(want)
        expect(await keysOf(kv, { reverse: true })).toEqual([...want].reverse())
      })

      it('honours gt, gte, lt, lte, reverse and limit', async () => {
        const kv = await backend.openKv()
        await kv.batch([1, 2, 3, 4, 5].map((n) => ({ type: 'put' as const, key: bytes(5, n), value: bytes(n) })))
        await kv.batch([{ type: 'put', key: bytes(4), value: bytes(0) }, { type: 'put', key: bytes(6), value: bytes(0) }])
        const pick = async (r: KvRange): Promise<number[]> => (await keysOf(kv, r)).filter((k) => k[0] === 5).map((k) => k[1]!)
        expect(await pick({ gte: bytes(5, 2), lte: bytes(5, 4) })).toEqual([2, 3, 4])
        expect(await pick({ gt: bytes(5, 2), lt: bytes(5, 4) })).toEqual([3])
        expect(await pick({ gt: bytes(5, 2), lt: bytes(5, 4), reverse: true })).toEqual([3])
        expect(await pick({ gte: bytes(5, 2), lte: bytes(5, 4), reverse: true })).toEqual([4, 3, 2])
        expect(await pick({ gte: bytes(5), lt: bytes(6), reverse: true, limit: 2 })).toEqual([5, 4])
        expect(await pick({ gte: bytes(5), lt: bytes(6), limit: 2 })).toEqual([1, 2])
        expect(await keysOf(kv, { gte: bytes(5), lt: bytes(6), limit: 0 })).toEqual([])
        expect(await keysOf(kv, { gt: bytes(5, 9) })).toEqual([[6]])
        expect(await keysOf(kv, { lt: bytes(5) })).toEqual([[4]])
        expect(await keysOf(kv, { lte: bytes(4), reverse: true })).toEqual([[4]])
        expect(await keysOf(kv, { gt: bytes(6) })).toEqual([])
        expect(await keysOf(kv, { gte: bytes(5, 4), lt: bytes(5, 2) })).toEqual([])
        expect(await keysOf(kv, { gte: bytes(5, 4), lt: bytes(5, 2), reverse: true })).toEqual([])
        // Values travel with their keys.
        const pairs = await collect(kv.iterate({ gte: bytes(5, 3), limit: 1 }))
        expect(pairs.map(([k, v]) => [Array.from(k), Array.from(v)])).toEqual([[[5, 3], [3]]])
      })

      it('rejects two lower bounds and a negative limit', async () => {
        const kv = await backend.openKv()
        await expect(collect(kv.iterate({ gt: bytes(1), gte: bytes(1) }))).rejects.toBeInstanceOf(TypeError)
        await expect(collect(kv.iterate({ lt: bytes(1), lte: bytes(1) }))).rejects.toBeInstanceOf(TypeError)
        await expect(collect(kv.iterate({ limit: -1 }))).rejects.toBeInstanceOf(RangeError)
      })

      it('stops yielding deleted keys and stays usable after a consumer breaks off', async () => {
        const kv = await backend.openKv()
        await kv.batch([1, 2, 3, 4].map((n) => ({ type: 'put' as const, key: bytes(n), value: bytes(n) })))
        for await (const [k] of kv.iterate()) {
          expect(k).toEqual(bytes(1))
          break
        }
        await kv.batch([{ type: 'del', key: bytes(2) }, { type: 'del', key: bytes(4) }])
        expect(await keysOf(kv)).toEqual([[1], [3]])
        expect(await keysOf(kv, { reverse: true })).toEqual([[3], [1]])
      })

      it('yields each key once, in order, while writes happen during iteration', async () => {
        const kv = await backend.openKv()
        const key = (n: number): Uint8Array => u64be(n)
        const num = (k: Uint8Array): number => Number(new DataView(k.buffer, k.byteOffset, 8).getBigUint64(0))
        await kv.batch(Array.from({ length: 3000 }, (_, n) => ({ type: 'put' as const, key: key(8 + n * 4), value: bytes(1) })))
        const deleted = new Set<number>()
        for (const reverse of [false, true]) {
          const seen: number[] = []
          for await (const [k] of kv.iterate({ reverse })) {
            const n = num(k)
            seen.push(n)
            if (seen.length % 97 !== 1) continue
            // Shift the keys around the iterator's position: going forward,
            // insert just before and after it; going back, insert after it
            // and delete two keys before it.
            const ops: KvOp[] = [{ type: 'put', key: key(n + 1), value: bytes(2) }]
            if (!reverse) ops.push({ type: 'put', key: key(n - 1), value: bytes(2) })
            else if (n >= 16 && n % 4 === 0) {
              for (const d of [n - 4, n - 8]) {
                ops.push({ type: 'del', key: key(d) })
                deleted.add(d)
              }
            }
            await kv.batch(ops)
          }
          let ordered = true
          for (let j = 1; j < seen.length; j++) if (reverse ? seen[j]! >= seen[j - 1]! : seen[j]! <= seen[j - 1]!) ordered = false
          expect(ordered).toBe(true)
          const set = new Set(seen)
          const missing = Array.from({ length: 3000 }, (_, n) => 8 + n * 4).filter((n) => !set.has(n) && !deleted.has(n))
          expect(missing).toEqual([])
        }
        expect(deleted.size).toBeGreaterThan(10)
      })

      it('handles 100k keys inserted in random order with bounded and reverse scans', async () => {
        const kv = await backend.openKv()
        const all: Uint8Array[] = []
        const random = randomBytes(33 * 100_000)
        for (let b = 0; b < 10; b++) {
          const ops = Array.from({ length: 10_000 }, (_, i) => {
            const at = (b * 10_000 + i) * 33
            const key = new Uint8Array(random.subarray(at, at + 33))
            key[0] = 4
            all.push(key)
            return { type: 'put' as const, key, value: key.subarray(1, 9) }
          })
          await kv.batch(ops)
        }
        await kv.batch([{ type: 'put', key: bytes(3), value: bytes(0) }, { type: 'put', key: bytes(5), value: bytes(0) }])
        all.sort(compareBytes)
        // Compare by hand, not with expect() per pair, to keep the scan fast.
        let n = 0
        let mismatches = 0
        for await (const [k, v] of kv.iterate({ gte: bytes(4), lt: bytes(5) })) {
          const want = all[n++]
          if (want === undefined || compareBytes(want, k) !== 0 || compareBytes(v, k.subarray(1, 9)) !== 0) mismatches++
        }
        expect([n, mismatches]).toEqual([100_000, 0])
        expect(await keysOf(kv, { gte: bytes(4), lt: bytes(5), reverse: true, limit: 3 })).toEqual(all.slice(-3).reverse().map((k) => Array.from(k)))
        const lo = all[40_000]!
        const hi = all[40_100]!
        expect((await keysOf(kv, { gt: lo, lte: hi })).length).toBe(100)
        expect(await keysOf(kv, { gt: lo, limit: 2 })).toEqual([Array.from(all[40_001]!), Array.from(all[40_002]!)])
        expect(await keysOf(kv, { lt: hi, reverse: true, limit: 1 })).toEqual([Array.from(all[40_099]!)])
        expect(await kv.get(all[77_777]!)).toEqual(all[77_777]!.subarray(1, 9))
      })

      it('refuses a batch after close with persisted: false', async () => {
        const kv = await backend.openKv()
        await kv.batch([{ type: 'put', key: bytes(1), value: bytes(1) }])
        await kv.close()
        await expectWriteError(kv.batch([{ type: 'put', key: bytes(2), value: bytes(2) }]), false)
        await expect(kv.get(bytes(1))).rejects.toThrow()
        const again = await backend.restart()
        expect(await again.getMany([bytes(1), bytes(2)])).toEqual([bytes(1), undefined])
      })
    })

    describe('LogStore', () => {
      it('starts empty', async () => {
        const store = await logStore()
        expect(await store.getTreeState()).toBeUndefined()
        expect(await store.getTiles([{ level: 0, index: 0, width: 1 }, { level: 'entries', index: 0, width: 1 }])).toEqual([undefined, undefined])
        expect(await store.locate([new Uint8Array(32)])).toEqual([undefined])
        expect(await store.locate([])).toEqual([])
        expect(await store.getCheckpoint()).toBeUndefined()
        expect(await store.getWitnessed()).toBeUndefined()
      })

      it('reads back what one commit wrote: tree state, hash tiles, entry bundles, dedup, checkpoint', async () => {
        const store = await logStore()
        const { batches, entries } = growLog([300])
        const batch = batches[0]!
        // 300 leaves: full tile 0/0, partial 0/1 (44), partial 1/0 (1), bundles 0 (256) and 1 (44).
        expect(batch.tiles.map((t) => [t.tile.level, t.tile.index, t.tile.width])).toEqual([
          [0, 0, 256],
          [0, 1, 44],
          [1, 0, 1],
          ['entries', 0, 256],
          ['entries', 1, 44],
        ])
        await store.commit(batch)
        await expectCommitted(store, batch)
        const [bundle1] = await store.getTiles([{ level: 'entries', index: 1, width: 44 }])
        expect(parseEntryBundle(bundle1!, 44)).toEqual(entries.slice(256))
        expect(await store.locate([leafHash(utf8('not logged'))])).toEqual([undefined])
      })

      it('stores bundles in chunks of ENTRY_CHUNK entries and reads one entry without the rest of its bundle', async () => {
        const store = await logStore()
        // Tree sizes 5 and then 300: bundle 0 grows from 5 entries to 256, bundle 1 holds 44.
        const { batches, entries } = growLog([5, 300])
        for (const b of batches) await store.commit(b)
        for (const i of [0, 4, 5, 15, 16, 63, 64, 65, 127, 128, 255, 256, 271, 272, 299]) expect(await store.getEntry(i), `entry ${i}`).toEqual(entries[i])
        expect(await store.getEntry(300)).toBeUndefined()
        expect(await store.getEntry(100_000)).toBeUndefined()
        const [b0, b1] = await store.getTiles([{ level: 'entries', index: 0, width: 256 }, { level: 'entries', index: 1, width: 44 }])
        expect(parseEntryBundle(b0!, 256)).toEqual(entries.slice(0, 256))
        expect(parseEntryBundle(b1!, 44)).toEqual(entries.slice(256))
        await expect(store.getEntry(-1)).rejects.toBeInstanceOf(RangeError)
      })

      it('reads whole bundles a store wrote before chunks, and replaces them with chunks when the bundle grows', async () => {
        const kv = await backend.openKv()
        const store = new KvLogStore(kv)
        // Tree sizes 20 and then 30.
        const { batches, entries } = growLog([20, 30])
        // Commit the first batch, then turn its bundle into the old single record.
        await store.commit(batches[0]!)
        const ref: TileRef = { level: 'entries', index: 0, width: 20 }
        const old = encodeEntryBundle(entries.slice(0, 20))
        await kv.batch([{ type: 'del', key: entryChunkKey(0, 0) }, { type: 'del', key: entryChunkKey(0, 1) }, { type: 'put', key: tileKey(ref), value: old }])
        expect(await store.getTiles([ref])).toEqual([old])
        expect(await store.getEntry(17)).toEqual(entries[17])
        await store.commit(batches[1]!)
        expect(await kv.get(tileKey(ref))).toBeUndefined()
        expect(parseEntryBundle((await store.getTiles([ref]))[0]!, 30)).toEqual(entries.slice(0, 30))
        expect(await store.getEntry(29)).toEqual(entries[29])
      })

      it('writes of a bundle only the chunks holding new entries, and every chunk after a failed commit or on a new instance', async () => {
        const kv = await backend.openKv()
        const written: string[][] = []
        let failNext = false
        const recording: KvStore = {
          get: (k) => kv.get(k),
          getMany: (ks) => kv.getMany(ks),
          iterate: (r) => kv.iterate(r),
          close: () => kv.close(),
          batch: async (ops) => {
            if (failNext) {
              failNext = false
              throw new StoreWriteError('refused by the test', false)
            }
            written.push(ops.filter((o) => o.key[0] === 0x07 || o.key[0] === 0x03).map((o) => `${o.type} ${o.key[0] === 0x03 ? 'bundle' : 'chunk'} ${Number(new DataView(o.key.buffer, o.key.byteOffset + 1, 8).getBigUint64(0))}${o.key[0] === 0x07 ? `/${o.key[9]}` : ''}`))
            await kv.batch(ops)
          },
        }
        const store = new KvLogStore(recording)
        // Sizes 5, 70, 128, 130, 300, 320: chunk boundaries at 64, 128, 192, 256.
        const { batches, entries } = growLog([5, 70, 128, 130, 300, 320])
        for (const b of batches.slice(0, 4)) await store.commit(b)
        expect(written).toEqual([
          ['put chunk 0/0', 'del bundle 0'],
          ['put chunk 0/0', 'put chunk 0/1', 'del bundle 0'],
          ['put chunk 0/1'],
          ['put chunk 0/2'],
        ])
        // A commit that fails leaves what was written unknown to the store: the next writes every chunk of the bundles it touches.
        failNext = true
        await expect(store.commit(batches[4]!)).rejects.toBeInstanceOf(StoreWriteError)
        written.length = 0
        await store.commit(batches[4]!)
        expect(written).toEqual([['put chunk 0/0', 'put chunk 0/1', 'put chunk 0/2', 'put chunk 0/3', 'del bundle 0', 'put chunk 1/0', 'del bundle 1']])
        // A new instance on the same store knows nothing of the last commit either.
        written.length = 0
        await new KvLogStore(recording).commit(batches[5]!)
        expect(written).toEqual([['put chunk 1/0', 'del bundle 1']])
        for (let i = 0; i < 320; i++) expect(await store.getEntry(i), `entry ${i}`).toEqual(entries[i])
        const [b0, b1] = await store.getTiles([{ level: 'entries', index: 0, width: 256 }, { level: 'entries', index: 1, width: 64 }])
        expect(parseEntryBundle(b0!, 256)).toEqual(entries.slice(0, 256))
        expect(parseEntryBundle(b1!, 64)).toEqual(entries.slice(256, 320))
        await kv.close()
      })

      it('returns plain copies that callers may mutate, and keeps its own copy of committed data', async () => {
        const store = await logStore()
        const { batches } = growLog([5])
        const batch = batches[0]!
        const original = batch.tiles[0]!.data.slice()
        await store.commit(batch)
        batch.tiles[0]!.data.fill(0)
        const [got] = await store.getTiles([batch.tiles[0]!.tile])
        expect(got).toEqual(original)
        expect(isPlainCopy(got)).toBe(true)
        got!.fill(1)
        expect((await store.getTiles([batch.tiles[0]!.tile]))[0]).toEqual(original)
        const state = await store.getTreeState()
        expect(isPlainCopy(state!.rootHash)).toBe(true)
      })

      it('keeps the latest, wider version of a tile, and where each entry first appeared', async () => {
        const store = await logStore()
        const { batches, entries } = growLog([3, 5, 260])
        const [b3, b5, b260] = [batches[0]!, batches[1]!, batches[2]!]
        await store.commit(b3)
        await store.commit(b5)
        const [tile, bundle] = await store.getTiles([{ level: 0, index: 0, width: 3 }, { level: 'entries', index: 0, width: 3 }])
        expect(tile!.length).toBe(5 * 32)
        expect(tile!.subarray(0, 3 * 32)).toEqual(b3.tiles[0]!.data)
        expect(parseEntryBundle(bundle!)).toEqual(entries.slice(0, 5))
        await store.commit(b260)
        await expectCommitted(store, b260)
        const [full] = await store.getTiles([{ level: 0, index: 0, width: 256 }])
        expect(full!.length).toBe(256 * 32)
        expect(full!.subarray(0, 5 * 32)).toEqual(tile)
        // Each entry keeps the size of the first checkpoint that contains it: the end of its batch.
        for (const b of batches) {
          expect(await store.locate(b.dedup.map((d) => d.leafHash))).toEqual(b.dedup.map(({ index }) => ({ index, treeSize: b.tree.treeSize })))
        }
        expect(await store.getCheckpoint()).toBe(b260.checkpoint)
      })

      it('keeps the latest witnessed checkpoint apart from the signed one', async () => {
        const store = await logStore()
        const { batches } = growLog([3, 5, 9])
        for (const b of batches) await store.commit(b)
        await store.putWitnessed('witnessed 5')
        expect(await store.getWitnessed()).toBe('witnessed 5')
        expect(await store.getCheckpoint()).toBe(batches[2]!.checkpoint)
        await store.putWitnessed('witnessed 9 \u2014 ok')
        expect(await store.getWitnessed()).toBe('witnessed 9 \u2014 ok')
      })

      it('keeps sizes and indices above 2^32 and up to 2^53-1 exact', async () => {
        const store = await logStore()
        const sizes = [2 ** 32 + 1, 2, 2 ** 32, 2 ** 53 - 1, 256, 2 ** 32 - 1, 2 ** 40 + 255]
        for (const s of sizes) {
          const b = bareCommit(s)
          const h = leafHash(utf8(`leaf at ${s}`))
          await store.commit({ ...b, dedup: [{ leafHash: h, index: s - 1 }] })
          expect(await store.locate([h])).toEqual([{ index: s - 1, treeSize: s }])
          expect(await store.getCheckpoint()).toBe(checkpointNote(s))
        }
        expect((await store.getTreeState())?.treeSize).toBe(2 ** 40 + 255)
        // Tiles far apart in index and level land on distinct records.
        const big = 2 ** 53 - 1
        const tiles: TileData[] = [
          { tile: { level: 0, index: 0, width: 1 }, data: new Uint8Array(32).fill(1) },
          { tile: { level: 0, index: 2 ** 33, width: 2 }, data: new Uint8Array(64).fill(2) },
          { tile: { level: 1, index: 2 ** 33, width: 1 }, data: new Uint8Array(32).fill(3) },
          { tile: { level: 'entries', index: 2 ** 33, width: 1 }, data: encodeEntryBundle([utf8('e')]) },
          { tile: { level: 6, index: 0, width: 1 }, data: new Uint8Array(32).fill(6) },
        ]
        await store.commit({ ...bareCommit(big), tiles })
        expect(await store.getTiles(tiles.map((t) => t.tile))).toEqual(tiles.map((t) => t.data))
        expect(await store.getTiles([{ level: 0, index: 2 ** 33 + 1, width: 1 }, { level: 2, index: 2 ** 33, width: 1 }])).toEqual([undefined, undefined])
      })

      it('refuses a malformed commit before writing anything', async () => {
        const kv = new FaultyKv(await backend.openKv())
        const store = new KvLogStore(kv)
        opened.push(store)
        const { batches } = growLog([5, 9])
        const good = batches[0]!
        await store.commit(good)
        const next = batches[1]!
        const variants: [string, CommitBatch][] = [
          ['tree size above 2^53-1', { ...next, tree: { ...next.tree, treeSize: 2 ** 53 } }],
          ['short root', { ...next, tree: { ...next.tree, rootHash: new Uint8Array(31) } }],
          ['tile bytes not width × 32', { ...next, tiles: [{ tile: { level: 0, index: 0, width: 9 }, data: new Uint8Array(8 * 32) }] }],
          ['tile beyond the tree', { ...next, tiles: [{ tile: { level: 0, index: 0, width: 10 }, data: new Uint8Array(10 * 32) }] }],
          ['level-1 tile beyond the tree', { ...next, tiles: [{ tile: { level: 1, index: 0, width: 1 }, data: new Uint8Array(32) }] }],
          ['tile level 64', { ...next, tiles: [{ tile: { level: 64, index: 0, width: 1 }, data: new Uint8Array(32) }] }],
          ['empty entry bundle', { ...next, tiles: [{ tile: { level: 'entries', index: 0, width: 1 }, data: new Uint8Array(0) }] }],
          ['dedup index at the tree size', { ...next, dedup: [{ leafHash: new Uint8Array(32), index: 9 }] }],
          ['short leaf hash', { ...next, dedup: [{ leafHash: new Uint8Array(31), index: 1 }] }],
          ['empty checkpoint', { ...next, checkpoint: '' }],
        ]
        for (const [what, v] of variants) {
          const err = await store.commit(v).then(
            () => undefined,
            (e: unknown) => e,
          )
          expect(err instanceof RangeError || err instanceof TypeError, what).toBe(true)
        }
        expect(kv.calls).toBe(1)
        await expectCommitted(store, good)
        await expect(store.putWitnessed('')).rejects.toBeInstanceOf(TypeError)
        await expect(store.getTiles([{ level: 0, index: -1, width: 1 }])).rejects.toBeInstanceOf(RangeError)
        expect(kv.calls).toBe(1)
      })

      it('leaves everything unchanged when a commit fails before persisting', async () => {
        const kv = new FaultyKv(await backend.openKv())
        const store = new KvLogStore(kv)
        const { batches } = growLog([200, 300])
        const [first, second] = [batches[0]!, batches[1]!]
        await store.commit(first)
        kv.failAt(1, 'before')
        await expectWriteError(store.commit(second), false)
        await expectNotCommitted(store, second, first)
        // After a restart too: nothing of the failed batch reached the disk.
        const restarted = new KvLogStore(await backend.restart())
        opened.push(restarted)
        await expectNotCommitted(restarted, second, first)
        await expectCommitted(restarted, first)
        // The plan was spent on that call: the retry goes through.
        await restarted.commit(second)
        await expectCommitted(restarted, second)
      })

      it('makes an "after" failure fully visible, before and after a restart', async () => {
        const inner = await backend.openKv()
        const kv = new FaultyKv(inner)
        const store = new KvLogStore(kv)
        const { batches } = growLog([100, 513])
        await store.commit(batches[0]!)
        kv.failAt(1, 'after')
        await expectWriteError(store.commit(batches[1]!), 'unknown')
        expect(kv.written).toBe(2)
        await expectCommitted(store, batches[1]!)
        const restarted = new KvLogStore(await backend.restart())
        opened.push(restarted)
        await expectCommitted(restarted, batches[1]!)
      })

      it('counts failAt from now and fails every write after failAll until healed', async () => {
        const kv = new FaultyKv(await backend.openKv())
        const store = new KvLogStore(kv)
        opened.push(store)
        const { batches } = growLog([1, 2, 3, 4])
        await store.commit(batches[0]!)
        kv.failAt(2, 'before')
        await store.commit(batches[1]!)
        await expectWriteError(store.commit(batches[2]!), false)
        expect((await store.getTreeState())?.treeSize).toBe(2)
        expect([kv.calls, kv.written]).toEqual([3, 2])
        kv.failAll()
        const err = await expectWriteError(store.commit(batches[2]!), false)
        expect(err.message).toMatch(/ENOSPC/)
        await expectWriteError(store.putWitnessed('w'), false)
        expect(await store.getWitnessed()).toBeUndefined()
        expect((await store.getTreeState())?.treeSize).toBe(2)
        expect([kv.calls, kv.written]).toEqual([5, 2])
        kv.heal()
        await store.commit(batches[2]!)
        await store.commit(batches[3]!)
        await expectCommitted(store, batches[3]!)
        expect([kv.calls, kv.written]).toEqual([7, 4])
        await expect(Promise.resolve().then(() => kv.failAt(0, 'before'))).rejects.toBeInstanceOf(RangeError)
      })

      it('keeps everything across close and reopen', async () => {
        const store = await backend.openLogStore()
        const { batches } = growLog([70, 600])
        for (const b of batches) await store.commit(b)
        await store.putWitnessed('witnessed 70')
        await store.close()
        // A closed store refuses writes and says nothing was written.
        await expectWriteError(store.commit(bareCommit(601)), false)
        const reopened = await backend.reopenLogStore()
        opened.push(reopened)
        await expectCommitted(reopened, batches[1]!)
        expect(await reopened.locate(batches[0]!.dedup.map((d) => d.leafHash))).toEqual(batches[0]!.dedup.map(({ index }) => ({ index, treeSize: 70 })))
        expect(await reopened.getWitnessed()).toBe('witnessed 70')
      })

      it('throws CORRUPT, naming the record, on malformed stored values', async () => {
        const kv = await backend.openKv()
        const store = new KvLogStore(kv)
        const put = (key: Uint8Array, value: Uint8Array): Promise<void> => kv.batch([{ type: 'put', key, value }])
        await put(treeStateKey(), new Uint8Array(39))
        expect((await expectCode(store.getTreeState(), 'CORRUPT')).message).toMatch(/tree state/)
        await put(treeStateKey(), new Uint8Array(41))
        await expectCode(store.getTreeState(), 'CORRUPT')
        const tooBig = new Uint8Array(40)
        tooBig.set(u64be(2 ** 53))
        await put(treeStateKey(), tooBig)
        await expectCode(store.getTreeState(), 'CORRUPT')
        const h = leafHash(utf8('e'))
        await put(dedupKey(h), new Uint8Array(8))
        await expectCode(store.locate([h]), 'CORRUPT')
        await put(dedupKey(h), concatBytes(u64be(2n ** 64n - 1n), u64be(5)))
        await expectCode(store.locate([h]), 'CORRUPT')
        // An index outside its own checkpoint cannot be.
        await put(dedupKey(h), concatBytes(u64be(5), u64be(5)))
        expect((await expectCode(store.locate([h]), 'CORRUPT')).message).toMatch(/outside/)
        await put(checkpointKey(), bytes(0x74, 0xff, 0x0a))
        await expectCode(store.getCheckpoint(), 'CORRUPT')
        const ref: TileRef = { level: 0, index: 0, width: 1 }
        await put(tileKey(ref), new Uint8Array(33))
        await expectCode(store.getTiles([ref]), 'CORRUPT')
        await put(tileKey(ref), new Uint8Array(257 * 32))
        await expectCode(store.getTiles([ref]), 'CORRUPT')
        await put(tileKey({ level: 'entries', index: 0, width: 1 }), new Uint8Array(0))
        await expectCode(store.getTiles([{ level: 'entries', index: 0, width: 1 }]), 'CORRUPT')
        // Chunks: a later chunk without the first, a chunk short of its ENTRY_CHUNK entries before another, a truncated one.
        const bundleOf = (n: number): Uint8Array => encodeEntryBundle(Array.from({ length: n }, (_, i) => utf8(`e${i}`)))
        const chunks = { level: 'entries' as const, index: 7, width: 1 }
        await put(entryChunkKey(7, 1), bundleOf(16))
        expect((await expectCode(store.getTiles([chunks]), 'CORRUPT')).message).toMatch(/bundle 7/)
        await put(entryChunkKey(7, 0), bundleOf(ENTRY_CHUNK - 1))
        expect((await expectCode(store.getTiles([chunks]), 'CORRUPT')).message).toMatch(/chunk 0 of entry bundle 7/)
        await put(entryChunkKey(7, 0), bundleOf(ENTRY_CHUNK).subarray(0, 21))
        await expectCode(store.getTiles([chunks]), 'CORRUPT')
        await expectCode(store.getEntry(7 * 256), 'CORRUPT')
        await put(witnessedKey(), bytes(0xc3, 0x28))
        await expectCode(store.getWitnessed(), 'CORRUPT')
      })

      it(`reports disk usage ${name === 'memory' ? 'not at all' : 'that grows with the data'}`, async () => {
        const store = await logStore()
        if (!backend.diskUsage) {
          expect(store.diskUsage).toBeUndefined()
          return
        }
        const before = await store.diskUsage!()
        expect(before).toBeGreaterThan(0)
        await store.commit({ ...bareCommit(1), checkpoint: 'c'.repeat(200_000) })
        expect(await store.diskUsage!()).toBeGreaterThan(before + 150_000)
      })
    })
  })
}

storeContract('memory', memoryBackend)
storeContract('memory with a separate dedup index', splitMemoryBackend)
storeContract('LevelDB', levelBackend)

describe('LevelDB specifics', () => {
  let dir: string
  const children: ChildProcess[] = []
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'actlog-lock-'))
  })
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses a second handle on the same directory with StoreLockedError', async () => {
    const kv = await LevelKv.open(dir)
    try {
      const err = await LevelKv.open(dir).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(StoreLockedError)
      expect((err as Error).message).toContain(dir)
    } finally {
      await kv.close()
    }
    // Closing released the lock.
    await (await LevelKv.open(dir)).close()
  })

  it('refuses a directory another process holds, and opens it once that process is killed', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', LOCK_HOLDER, dir], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] })
    children.push(child)
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const exited = new Promise<void>((res) => child.on('exit', () => res()))
    await new Promise<void>((res, rej) => {
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) res()
      })
      child.on('exit', (code) => rej(new Error(`lock holder exited with ${code}: ${stderr}`)))
    })
    const err = await openLevelLogStore(dir).then(
      (s) => s.close().then(() => undefined),
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(StoreLockedError)
    expect((err as Error).message).toBe(
      `data directory ${dir} is in use by another actlog process (LevelDB lock held); stop it or choose another --data dir`,
    )
    // kill -9: the OS drops the lock with the process, and the batch the
    // child had synced before saying "ready" is on disk.
    child.kill('SIGKILL')
    await exited
    const kv = await LevelKv.open(dir)
    try {
      expect(new TextDecoder().decode(await kv.get(utf8('held-by')))).toBe(String(child.pid))
    } finally {
      await kv.close()
    }
  })

  it('maps batch failures: not open -> persisted false, anything else -> unknown', () => {
    const notOpen = Object.assign(new Error('Database is not open'), { code: 'LEVEL_DATABASE_NOT_OPEN' })
    const io = Object.assign(new Error('IO error: No space left on device'), { code: 'LEVEL_IO_ERROR' })
    expect(toStoreWriteError(notOpen, '/d').persisted).toBe(false)
    expect(toStoreWriteError(io, '/d').persisted).toBe('unknown')
    expect(toStoreWriteError(new Error('boom'), '/d').persisted).toBe('unknown')
    expect(toStoreWriteError(io, '/d').cause).toBe(io)
    expect(toStoreWriteError(io, '/d').message).toContain('/d')
  })
})
