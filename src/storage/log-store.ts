import { HASH_SIZE, TILE_WIDTH, TlogError, fromUtf8, isSize, toHex, utf8, type TileRef } from '../core/index.ts'
import type { KvOp, KvStore } from './kv.ts'
import { checkpointKey, dedupKey, encodeLocated, encodeTreeState, parseLocated, parseTreeState, tileKey, treeStateKey, witnessedKey } from './keys.ts'
import type { CommitBatch, Located, LogStore, TreeState } from './store.ts'

const MAX_TILE_BYTES = TILE_WIDTH * HASH_SIZE

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
 *   stored state first, so it neither compares nor orders tree sizes.
 * - `close` closes the KvStore it was given.
 */
export class KvLogStore implements LogStore {
  readonly #kv: KvStore
  /** Returns the KvStore's disk usage in bytes; present only when the KvStore can tell. */
  readonly diskUsage?: () => Promise<number>

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
    const keys = refs.map(tileKey)
    const values = await this.#kv.getMany(keys)
    return values.map((v, i) => {
      if (v === undefined) return undefined
      const ref = refs[i]!
      const bad =
        ref.level === 'entries' ? v.length === 0 : v.length === 0 || v.length > MAX_TILE_BYTES || v.length % HASH_SIZE !== 0
      if (bad) throw new TlogError('CORRUPT', `stored tile ${ref.level}/${ref.index} has ${v.length} bytes`)
      return v
    })
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
      const key = tileKey(tile)
      checkTileShape(tile, data, tree.treeSize)
      ops.push({ type: 'put', key, value: data })
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
    await this.#kv.batch(ops)
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
