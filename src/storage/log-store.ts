import { HASH_SIZE, TILE_WIDTH, TlogError, entryAtOffset, entryBundleOffsets, fromUtf8, isSize, toHex, utf8, type TileRef } from '../core/index.ts'
import type { KvOp, KvStore } from './kv.ts'
import { ENTRY_CHUNK, checkpointKey, dedupKey, encodeLocated, encodeTreeState, entryChunkKey, parseLocated, parseTreeState, tileKey, treeStateKey, witnessedKey } from './keys.ts'
import type { CommitBatch, Located, LogStore, TreeState } from './store.ts'

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
 * - `close` closes the KvStore it was given.
 */
export class KvLogStore implements LogStore {
  readonly #kv: KvStore
  /** Returns the KvStore's disk usage in bytes; present only when the KvStore can tell. */
  readonly diskUsage?: () => Promise<number>
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
    if (kv.diskUsage !== undefined) this.diskUsage = () => kv.diskUsage!()
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
    const values = await this.#kv.getMany(leafHashes.map(dedupKey))
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
   * Throws StoreWriteError from the KvStore when the write fails.
   */
  async commit(batch: CommitBatch): Promise<void> {
    const { tree, tiles, dedup, checkpoint } = batch
    const treeValue = encodeTreeState(tree)
    checkNote(checkpoint, 'checkpoint')
    const ops: KvOp[] = []
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
      ops.push({ type: 'put', key: dedupKey(leafHash), value: encodeLocated({ index, treeSize: tree.treeSize }) })
    }
    ops.push({ type: 'put', key: checkpointKey(), value: utf8(checkpoint) })
    // The tree state goes in the same batch as the tiles it describes: after
    // a crash, recovery trusts the tree state only because the batch is
    // atomic, so the tiles it names are there too.
    ops.push({ type: 'put', key: treeStateKey(), value: treeValue })
    this.#committedSize = undefined
    await this.#kv.batch(ops)
    this.#committedSize = tree.treeSize
  }

  /** Stores the latest witnessed checkpoint durably, replacing the previous one. */
  async putWitnessed(note: string): Promise<void> {
    checkNote(note, 'witnessed checkpoint')
    await this.#kv.batch([{ type: 'put', key: witnessedKey(), value: utf8(note) }])
  }

  /** Closes the underlying KvStore. */
  async close(): Promise<void> {
    await this.#kv.close()
  }
}
