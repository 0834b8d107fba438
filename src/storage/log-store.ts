import { HASH_SIZE, TILE_WIDTH, TlogError, bytesEqual, entryAtOffset, entryBundleOffsets, fromUtf8, isSize, leafHash, toHex, utf8, type TileRef } from '../core/index.ts'
import type { KvOp, KvStore } from './kv.ts'
import {
  ENTRY_CHUNK,
  PREFIX_DEDUP,
  checkpointKey,
  dedupKey,
  encodeIndexed,
  encodeLocated,
  encodeTreeState,
  entryChunkKey,
  indexedKey,
  parseIndexed,
  parseLocated,
  parseTreeState,
  prefixRange,
  tileKey,
  treeStateKey,
  witnessedKey,
} from './keys.ts'
import { StoreWriteError, type CommitBatch, type Located, type LogStore, type TreeState } from './store.ts'

const MAX_TILE_BYTES = TILE_WIDTH * HASH_SIZE
const CHUNKS = TILE_WIDTH / ENTRY_CHUNK

function checkTileShape(tile: TileRef, data: Uint8Array, treeSize: number): void {
  if (!(data instanceof Uint8Array)) throw new TypeError('tile data must be a Uint8Array')
  if (!Number.isInteger(tile.width) || tile.width < 1 || tile.width > TILE_WIDTH) throw new RangeError('tile width must be 1..256')
  const level = tile.level === 'entries' ? 0 : tile.level
  if (tile.level === 'entries') {
    if (data.length === 0) throw new RangeError(`entry bundle ${tile.index} is empty`)
  } else if (data.length !== tile.width * HASH_SIZE) {
    throw new RangeError(`tile ${tile.level}/${tile.index} of width ${tile.width} has ${data.length} bytes`)
  }
  // The last hash of the tile is node (8·level, index·256 + width − 1), which
  // exists only once the tree has (index·256 + width)·256^level leaves. A tile
  // beyond the committed size means the caller paired tiles with the wrong
  // tree state; storing it would make recovery trust hashes no root covers.
  // Multiplying by a power of two is exact in floating point (or overflows to
  // Infinity, which is rightly refused).
  if ((tile.index * TILE_WIDTH + tile.width) * 256 ** level > treeSize) {
    throw new RangeError(`tile ${tile.level}/${tile.index} of width ${tile.width} lies beyond tree size ${treeSize}`)
  }
}

function checkNote(note: string, what: string): void {
  if (typeof note !== 'string' || note.length === 0) throw new TypeError(`${what} must be a non-empty string`)
}

function decodeNote(value: Uint8Array, what: string): string {
  try {
    return fromUtf8(value)
  } catch (cause) {
    throw new TlogError('CORRUPT', `stored ${what} is not valid UTF-8`, { cause })
  }
}

/** What a store with a dedup index of its own reports while it brings that index up to date at open. */
export type IndexEvent =
  /** The dedup records of a store from before the split were moved into the index. */
  | { kind: 'moved'; records: number }
  /** The index held entries beyond the tree (the main store is older than the index): it is rebuilt. */
  | { kind: 'cleared'; indexed: number; treeSize: number }
  /** Entries `from` up to `to` are being indexed from the stored bundles; `done` of them so far. */
  | { kind: 'indexing'; from: number; to: number; done: number }

// Re-indexing reads this many bundles (4,096 entries, ~2.7 MB) per step, each
// step one batch of the index with its completeness mark.
const INDEX_STEP_BUNDLES = 16
const INDEX_REPORT_EVERY = 65_536
// Records per batch when the index is moved or emptied.
const RECORDS_STEP = 4_096

/**
 * Returns a LogStore over any KvStore, with the key layout of `keys.ts`.
 *
 * - `commit` issues exactly one `kv.batch` holding every put of the sequencer
 *   batch (tiles, bundles, dedup, checkpoint, tree state), so a crash leaves
 *   either all of it or none; the KvStore makes that batch durable.
 * - It keeps no cache: every read goes to the KvStore, so what a read returns
 *   is what a restarted process would find.
 * - What it reads back is checked (value lengths, sizes ≤ 2^53 − 1, UTF-8);
 *   anything else throws `TlogError('CORRUPT')` naming the record.
 * - Arguments are checked too: misuse throws RangeError/TypeError before any
 *   write.
 * - A single writer is assumed (the sequencer): `commit` does not read the
 *   stored state first, so it neither compares nor orders tree sizes, and
 *   of an entry bundle it writes only the chunks from the one its previous
 *   successful commit left partial (all of them on its first commit).
 * - `close` closes the KvStore it was given (both, with a separate index).
 *
 * With `KvLogStore.withIndex` the dedup index lives in a KvStore of its own
 * (a LevelDB log keeps it so, see level.ts). `commit` then writes the main
 * batch first, exactly as above, and the batch's index records after it, with
 * the tree size up to which the index is complete; a restart between the two
 * leaves the index behind the tree, and opening indexes the missing entries
 * again from the stored bundles before anything is looked up. The index
 * never gets ahead of the tree in this order; if it is found ahead (a main
 * store restored from an older copy), it is rebuilt.
 */
export class KvLogStore implements LogStore {
  readonly #kv: KvStore
  // Where the dedup records are: the main KvStore, or one of their own.
  #index: KvStore
  get #split(): boolean {
    return this.#index !== this.#kv
  }

  /** Returns the KvStores' disk usage in bytes; present only when they can tell. */
  diskUsage?: () => Promise<number>
  // Tree size of this instance's last successful commit. A bundle's chunks
  // below it are complete and stored, so a commit writes only the chunks
  // holding new entries (a partial bundle would otherwise be written whole
  // again by every batch: ~4x the bytes through LevelDB's log, memtable and
  // compactions). Unknown at first and after a failed commit, when every
  // chunk of a touched bundle is written, which also replaces a whole-bundle
  // record a store from before chunks left for the partial bundle.
  #committedSize: number | undefined

  /** Returns a LogStore over `kv`, which it owns from now on. */
  constructor(kv: KvStore) {
    this.#kv = kv
    this.#index = kv
    if (kv.diskUsage !== undefined) this.diskUsage = () => kv.diskUsage!()
  }

  /**
   * Returns a LogStore over `kv` whose dedup index is in `index`, both owned
   * by it from now on, once the index is complete up to the stored tree size
   * (see the class). Reports what that took through `onIndex`. Throws CORRUPT
   * when a stored bundle needed for it is missing or does not match its
   * level-0 tile, and StoreWriteError when writing the index fails.
   */
  static async withIndex(kv: KvStore, index: KvStore, onIndex: (e: IndexEvent) => void = () => {}): Promise<KvLogStore> {
    const store = new KvLogStore(kv)
    store.#index = index
    if (kv.diskUsage !== undefined && index.diskUsage !== undefined) {
      store.diskUsage = async () => (await kv.diskUsage!()) + (await index.diskUsage!())
    }
    await store.#catchUpIndex(onIndex)
    return store
  }

  async #catchUpIndex(report: (e: IndexEvent) => void): Promise<void> {
    const size = (await this.getTreeState())?.treeSize ?? 0
    const markValue = await this.#index.get(indexedKey())
    let mark = markValue === undefined ? undefined : parseIndexed(markValue)
    if (mark !== undefined && mark > size) {
      // Records beyond the tree would give a new entry the index of another.
      report({ kind: 'cleared', indexed: mark, treeSize: size })
      await this.#index.batch([{ type: 'del', key: indexedKey() }])
      mark = undefined
    }
    if (mark === undefined) {
      // Without its mark nothing in the index is trusted (a new index, or a
      // clear or a move that stopped half way): empty it, then take over the
      // records of a store from before the split, which its atomic batches
      // kept complete up to its tree size. The mark is written, durably, only
      // after them, and the main store's copies are deleted only after that.
      await deleteAll(this.#index, {})
      const moved = await this.#moveDedupRecords(size)
      if (moved > 0) report({ kind: 'moved', records: moved })
      mark = moved > 0 ? size : 0
      await this.#index.batch([{ type: 'put', key: indexedKey(), value: encodeIndexed(mark) }])
    }
    // Left behind by a move that stopped after its mark; one seek otherwise.
    await deleteAll(this.#kv, prefixRange(PREFIX_DEDUP))
    if (mark < size) await this.#reindex(mark, size, report)
  }

  /** Copies the main store's dedup records into the index; returns how many. */
  async #moveDedupRecords(size: number): Promise<number> {
    let ops: KvOp[] = []
    let moved = 0
    for await (const [key, value] of this.#kv.iterate(prefixRange(PREFIX_DEDUP))) {
      const at = key.length === 1 + HASH_SIZE ? parseLocated(value, key.subarray(1)) : undefined
      if (at === undefined || at.index >= size) throw new TlogError('CORRUPT', `dedup record ${toHex(key)} does not belong to the stored tree of size ${size}`)
      ops.push({ type: 'put', key, value })
      moved++
      if (ops.length === RECORDS_STEP) {
        await this.#index.batch(ops)
        ops = []
      }
    }
    if (ops.length > 0) await this.#index.batch(ops)
    return moved
  }

  /**
   * Indexes entries `from` up to `to` from the stored bundles, each checked
   * against its level-0 tile. Their first checkpoint is taken to be the one
   * of size `to`: exact for the last batch (the one a crash between the two
   * writes leaves unindexed), and a checkpoint that contains the entry in
   * every case.
   */
  async #reindex(from: number, to: number, report: (e: IndexEvent) => void): Promise<void> {
    report({ kind: 'indexing', from, to, done: from })
    let reported = from
    for (let start = from; start < to; ) {
      const first = Math.floor(start / TILE_WIDTH)
      const end = Math.min(to, (first + INDEX_STEP_BUNDLES) * TILE_WIDTH)
      const bundles: TileRef[] = []
      for (let b = first; b * TILE_WIDTH < end; b++) bundles.push({ level: 'entries', index: b, width: Math.min(TILE_WIDTH, end - b * TILE_WIDTH) })
      const got = await this.getTiles([...bundles, ...bundles.map((r) => ({ ...r, level: 0 }))])
      const ops: KvOp[] = []
      bundles.forEach((ref, i) => {
        const data = got[i]
        const hashes = got[bundles.length + i]
        const offsets = data === undefined ? undefined : entryBundleOffsets(data)
        if (offsets === undefined || offsets.length < ref.width) throw new TlogError('CORRUPT', `entry bundle ${ref.index} is missing or holds fewer than ${ref.width} entries`)
        if (hashes === undefined || hashes.length < ref.width * HASH_SIZE) throw new TlogError('CORRUPT', `level-0 tile ${ref.index} is missing or narrower than ${ref.width}`)
        for (let j = Math.max(0, start - ref.index * TILE_WIDTH); j < ref.width; j++) {
          const h = leafHash(entryAtOffset(data!, offsets[j]!))
          if (!bytesEqual(h, hashes.subarray(j * HASH_SIZE, (j + 1) * HASH_SIZE))) {
            throw new TlogError('CORRUPT', `entry ${ref.index * TILE_WIDTH + j} does not match its level-0 tile hash`)
          }
          ops.push({ type: 'put', key: dedupKey(h), value: encodeLocated({ index: ref.index * TILE_WIDTH + j, treeSize: to }) })
        }
      })
      ops.push({ type: 'put', key: indexedKey(), value: encodeIndexed(end) })
      await this.#index.batch(ops)
      start = end
      if (start - reported >= INDEX_REPORT_EVERY || start === to) {
        reported = start
        report({ kind: 'indexing', from, to, done: start })
      }
    }
  }

  /** Returns the committed tree state, or undefined for a new store. Throws CORRUPT on a malformed record. */
  async getTreeState(): Promise<TreeState | undefined> {
    const value = await this.#kv.get(treeStateKey())
    return value === undefined ? undefined : parseTreeState(value)
  }

  /**
   * Returns the stored (widest) bytes of each tile, undefined where none is
   * stored. `width` in the refs is ignored: the caller cuts hash tiles to
   * `width × 32` bytes and entry bundles to their first `width` entries, and
   * MUST check that the stored version is wide enough. Throws CORRUPT when a
   * hash tile is not 1..256 hashes or an entry bundle is empty.
   */
  async getTiles(refs: readonly TileRef[]): Promise<(Uint8Array | undefined)[]> {
    // One read for all: hash tiles by key, entry bundles by their chunks.
    const keys: Uint8Array[] = []
    for (const ref of refs) {
      if (ref.level === 'entries') for (let c = 0; c < CHUNKS; c++) keys.push(entryChunkKey(ref.index, c))
      else keys.push(tileKey(ref))
    }
    const values = await this.#kv.getMany(keys)
    let k = 0
    const out = refs.map((ref) => {
      if (ref.level === 'entries') {
        const chunks = values.slice(k, (k += CHUNKS))
        return this.#joinChunks(ref.index, chunks)
      }
      const v = values[k++]
      if (v !== undefined && (v.length === 0 || v.length > MAX_TILE_BYTES || v.length % HASH_SIZE !== 0)) {
        throw new TlogError('CORRUPT', `stored tile ${ref.level}/${ref.index} has ${v.length} bytes`)
      }
      return v
    })
    // Bundles without chunks may be whole records from before chunks.
    const legacy = refs.flatMap((ref, i) => (ref.level === 'entries' && out[i] === undefined ? [i] : []))
    if (legacy.length > 0) {
      const got = await this.#kv.getMany(legacy.map((i) => tileKey(refs[i]!)))
      legacy.forEach((i, j) => {
        const v = got[j]
        if (v !== undefined && v.length === 0) throw new TlogError('CORRUPT', `stored entry bundle ${refs[i]!.index} is empty`)
        out[i] = v
      })
    }
    return out
  }

  /** Joins a bundle's stored chunks (0..n-1, each a whole ENTRY_CHUNK entries but the last); undefined when it has none. */
  #joinChunks(index: number, chunks: (Uint8Array | undefined)[]): Uint8Array | undefined {
    let n = 0
    while (n < CHUNKS && chunks[n] !== undefined) n++
    if (n === 0) {
      if (chunks.some((c) => c !== undefined)) throw new TlogError('CORRUPT', `entry bundle ${index} has chunks but not its first`)
      return undefined
    }
    if (chunks.slice(n).some((c) => c !== undefined)) throw new TlogError('CORRUPT', `entry bundle ${index} is missing chunk ${n}`)
    let size = 0
    for (let c = 0; c < n; c++) {
      const count = entryBundleOffsets(chunks[c]!)?.length
      if (count === undefined || count === 0 || count > ENTRY_CHUNK || (c < n - 1 && count !== ENTRY_CHUNK)) {
        throw new TlogError('CORRUPT', `stored chunk ${c} of entry bundle ${index} does not hold ${c < n - 1 ? 'exactly' : '1 to'} ${ENTRY_CHUNK} entries`)
      }
      size += chunks[c]!.length
    }
    if (n === 1) return chunks[0]!
    const out = new Uint8Array(size)
    let o = 0
    for (let c = 0; c < n; c++) {
      out.set(chunks[c]!, o)
      o += chunks[c]!.length
    }
    return out
  }

  async getEntry(index: number): Promise<Uint8Array | undefined> {
    if (!isSize(index)) throw new RangeError('entry index must be a safe non-negative integer')
    const bundle = Math.floor(index / TILE_WIDTH)
    const chunk = Math.floor((index % TILE_WIDTH) / ENTRY_CHUNK)
    let data = await this.#kv.get(entryChunkKey(bundle, chunk))
    let at = index % ENTRY_CHUNK
    if (data === undefined) {
      // A store from before chunks, or an entry not stored at all.
      data = await this.#kv.get(tileKey({ level: 'entries', index: bundle, width: 1 }))
      at = index % TILE_WIDTH
      if (data === undefined) return undefined
    }
    const offsets = entryBundleOffsets(data)
    if (offsets === undefined || offsets.length === 0) throw new TlogError('CORRUPT', `stored entries of bundle ${bundle} are truncated`)
    const o = offsets[at]
    if (o === undefined) return undefined
    return entryAtOffset(data, o)
  }

  /** Returns where each leaf hash's entry is, in one read of all of them. Throws CORRUPT on a malformed record. */
  async locate(leafHashes: readonly Uint8Array[]): Promise<(Located | undefined)[]> {
    const values = await this.#index.getMany(leafHashes.map(dedupKey))
    return values.map((v, i) => (v === undefined ? undefined : parseLocated(v, leafHashes[i]!)))
  }

  /** Returns the latest log-signed checkpoint, if stored. */
  async getCheckpoint(): Promise<string | undefined> {
    const value = await this.#kv.get(checkpointKey())
    return value === undefined ? undefined : decodeNote(value, 'latest checkpoint')
  }

  /** Returns the latest witnessed checkpoint, if stored. */
  async getWitnessed(): Promise<string | undefined> {
    const value = await this.#kv.get(witnessedKey())
    return value === undefined ? undefined : decodeNote(value, 'latest witnessed checkpoint')
  }

  /**
   * Writes everything of one sequencer batch in one atomic, durable
   * `kv.batch`. Checks the batch first (RangeError/TypeError, nothing
   * written): sizes and indices safe, hashes 32 bytes, hash tiles exactly
   * `width × 32` bytes, no tile or dedup index beyond `tree.treeSize`.
   * Throws StoreWriteError from the KvStore when the write fails. With a
   * separate index, its write follows the main one; when it fails, the
   * StoreWriteError says `persisted: 'unknown'` (the entries are stored,
   * and a restart indexes them).
   */
  async commit(batch: CommitBatch): Promise<void> {
    const { tree, tiles, dedup, checkpoint } = batch
    const treeValue = encodeTreeState(tree)
    checkNote(checkpoint, 'checkpoint')
    const ops: KvOp[] = []
    const indexOps: KvOp[] = this.#split ? [] : ops
    for (const { tile, data } of tiles) {
      checkTileShape(tile, data, tree.treeSize)
      if (tile.level !== 'entries') {
        ops.push({ type: 'put', key: tileKey(tile), value: data })
        continue
      }
      const offsets = entryBundleOffsets(data)
      if (offsets === undefined || offsets.length > TILE_WIDTH) throw new RangeError(`entry bundle ${tile.index} is not 1 to 256 length-prefixed entries`)
      const stored = Math.min(Math.max(0, (this.#committedSize ?? 0) - tile.index * TILE_WIDTH), offsets.length)
      const first = Math.floor(stored / ENTRY_CHUNK)
      for (let c = first; c * ENTRY_CHUNK < offsets.length; c++) {
        const end = (c + 1) * ENTRY_CHUNK < offsets.length ? offsets[(c + 1) * ENTRY_CHUNK]! : data.length
        ops.push({ type: 'put', key: entryChunkKey(tile.index, c), value: data.subarray(offsets[c * ENTRY_CHUNK]!, end) })
      }
      // A whole-bundle record from before chunks must not outlive them.
      if (first === 0) ops.push({ type: 'del', key: tileKey(tile) })
    }
    for (const { leafHash, index } of dedup) {
      if (!isSize(index) || index >= tree.treeSize) {
        throw new RangeError(`dedup index ${index} of leaf ${leafHash instanceof Uint8Array ? toHex(leafHash) : '?'} is not below tree size ${tree.treeSize}`)
      }
      indexOps.push({ type: 'put', key: dedupKey(leafHash), value: encodeLocated({ index, treeSize: tree.treeSize }) })
    }
    ops.push({ type: 'put', key: checkpointKey(), value: utf8(checkpoint) })
    // The tree state goes in the same batch as the tiles it describes: after
    // a crash, recovery trusts the tree state only because the batch is
    // atomic, so the tiles it names are there too.
    ops.push({ type: 'put', key: treeStateKey(), value: treeValue })
    this.#committedSize = undefined
    await this.#kv.batch(ops)
    this.#committedSize = tree.treeSize
    if (!this.#split) return
    // After the main batch, never before: an index ahead of the tree would
    // give a restarted log's next entry at some index the record of another.
    indexOps.push({ type: 'put', key: indexedKey(), value: encodeIndexed(tree.treeSize) })
    try {
      await this.#index.batch(indexOps)
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err)
      throw new StoreWriteError(`entries up to tree size ${tree.treeSize} are stored but their dedup index write failed (${detail}); a restart indexes them`, 'unknown', { cause: err })
    }
  }

  /** Stores the latest witnessed checkpoint durably, replacing the previous one. */
  async putWitnessed(note: string): Promise<void> {
    checkNote(note, 'witnessed checkpoint')
    await this.#kv.batch([{ type: 'put', key: witnessedKey(), value: utf8(note) }])
  }

  /** Closes the underlying KvStore (both, with a separate index). */
  async close(): Promise<void> {
    try {
      await this.#kv.close()
    } finally {
      if (this.#split) await this.#index.close()
    }
  }
}

/** Deletes every key of `kv` within `range`, a step at a time. */
async function deleteAll(kv: KvStore, range: { gte?: Uint8Array; lt?: Uint8Array }): Promise<void> {
  for (;;) {
    const ops: KvOp[] = []
    for await (const [key] of kv.iterate({ ...range, limit: RECORDS_STEP })) ops.push({ type: 'del', key })
    if (ops.length === 0) return
    await kv.batch(ops)
    if (ops.length < RECORDS_STEP) return
  }
}
