import { HASH_SIZE, TILE_WIDTH, TlogError, concatBytes, readU64be, toHex, u64be, type TileRef } from '../core/index.ts'
import type { Located, TreeState } from './store.ts'

/**
 * The log store's key layout over a KvStore. Each record kind has a one-byte
 * prefix; sizes and indices are big-endian u64, so bytewise key order is
 * numeric order (a little-endian or decimal key would sort 2^32 before 2).
 *
 * | key                                  | value                      |
 * | ------------------------------------ | -------------------------- |
 * | 0x01                                 | treeSize u64 ‖ rootHash 32 |
 * | 0x02 ‖ level u8 ‖ index u64          | hash tile, widest version  |
 * | 0x03 ‖ index u64                     | entry bundle, widest (read only: written before 0x07) |
 * | 0x04 ‖ leafHash 32                   | leaf index u64 ‖ size u64  |
 * | 0x05                                 | latest signed checkpoint   |
 * | 0x06                                 | latest witnessed checkpoint|
 * | 0x07 ‖ index u64 ‖ chunk u8          | entries 64·chunk … 64·chunk+63 of bundle `index`, as bundle bytes, widest |
 * | 0x08                                 | tree size u64 up to which the dedup index is complete |
 *
 * A store may keep its dedup index (0x04, with 0x08) in a KvStore of its own
 * (a LevelDB log does, see level.ts); 0x08 exists only there, written with
 * each batch of the index, and all the other records stay in the main store.
 *
 * An entry bundle is stored as chunks of 64 entries, so that reading one
 * entry (every proof carries its entry) reads a quarter of its bundle; the
 * bundle served at /tile/entries is the chunks joined. Why 64 and not
 * fewer: LevelDB compresses each value on its own (Snappy, 64 KiB at a
 * time), and statements share much text (credentials, tools, policies); at
 * 16 entries per chunk a 1M-entry log took 382 bytes per entry on disk
 * against 287 for whole bundles. The chunk size is part of the format.
 * A store written before chunks holds whole bundles under 0x03; they are
 * read where a bundle has no chunk, and a commit that writes a bundle's
 * chunks deletes its 0x03 record in the same batch.
 *
 * The dedup value also holds the size of the first checkpoint that contains
 * the entry (the end of its batch). Past checkpoints are not stored: Ed25519
 * signing is deterministic, so the log re-signs the checkpoint of any past
 * size from its tiles and gets the very bytes it handed out then.
 *
 * Prefix 0x00 is reserved for a future format marker; 0x10 to 0x1f belong to
 * the witness's state (witness/state.ts), which uses the same KvStore layer.
 * The prefixes are an on-disk format: never renumber them.
 */

/** Prefix (and whole key) of the committed tree state. */
export const PREFIX_TREE_STATE = 0x01
/** Prefix of hash tiles: then the tile level byte and the tile index. */
export const PREFIX_HASH_TILE = 0x02
/** Prefix of entry bundles: then the bundle index. */
export const PREFIX_ENTRY_BUNDLE = 0x03
/** Prefix of the dedup index: then the 32-byte leaf hash. */
export const PREFIX_DEDUP = 0x04
/** Key of the latest log-signed checkpoint. */
export const PREFIX_CHECKPOINT = 0x05
/** Key of the latest witnessed (cosigned) checkpoint. */
export const PREFIX_WITNESSED = 0x06
/** Prefix of entry-bundle chunks: then the bundle index and the chunk number. */
export const PREFIX_ENTRY_CHUNK = 0x07
/** Key of the tree size up to which a separate dedup index is complete. */
export const PREFIX_INDEXED = 0x08
/** Entries per chunk of an entry bundle (a bundle has 256, so 4 chunks). */
export const ENTRY_CHUNK = 64

/** Length of the tree-state value: treeSize u64 then the 32-byte root hash. */
export const TREE_STATE_SIZE = 8 + HASH_SIZE

const MAX_TILE_LEVEL = 63

function checkIndex(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a safe non-negative integer`)
}

function prefixed(prefix: number, n: number, what: string): Uint8Array {
  checkIndex(n, what)
  return concatBytes(Uint8Array.of(prefix), u64be(n))
}

/** Returns the key of the tree state. */
export function treeStateKey(): Uint8Array {
  return Uint8Array.of(PREFIX_TREE_STATE)
}

/**
 * Returns the key of a tile or entry bundle. The width is not part of the
 * key: one record per (level, index) holds the widest version, of which every
 * narrower one is a prefix. Throws RangeError on an invalid level or index.
 */
export function tileKey(tile: TileRef): Uint8Array {
  if (tile.level === 'entries') return prefixed(PREFIX_ENTRY_BUNDLE, tile.index, 'entry bundle index')
  const level = tile.level
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) throw new RangeError('tile level must be 0..63 or "entries"')
  checkIndex(tile.index, 'tile index')
  return concatBytes(Uint8Array.of(PREFIX_HASH_TILE, level), u64be(tile.index))
}

/** Returns the key of chunk `chunk` (0..3) of entry bundle `index`. Throws RangeError on an invalid one. */
export function entryChunkKey(index: number, chunk: number): Uint8Array {
  checkIndex(index, 'entry bundle index')
  if (!Number.isInteger(chunk) || chunk < 0 || chunk >= TILE_WIDTH / ENTRY_CHUNK) throw new RangeError(`entry chunk must be 0..${TILE_WIDTH / ENTRY_CHUNK - 1}`)
  return concatBytes(Uint8Array.of(PREFIX_ENTRY_CHUNK), u64be(index), Uint8Array.of(chunk))
}

/** Returns the dedup key of a 32-byte leaf hash. Throws RangeError on another length. */
export function dedupKey(leafHash: Uint8Array): Uint8Array {
  if (!(leafHash instanceof Uint8Array) || leafHash.length !== HASH_SIZE) throw new RangeError('leaf hash must be 32 bytes')
  return concatBytes(Uint8Array.of(PREFIX_DEDUP), leafHash)
}

/** Returns the key of the latest log-signed checkpoint. */
export function checkpointKey(): Uint8Array {
  return Uint8Array.of(PREFIX_CHECKPOINT)
}

/** Returns the key of the size up to which a separate dedup index is complete. */
export function indexedKey(): Uint8Array {
  return Uint8Array.of(PREFIX_INDEXED)
}

/** Returns the key of the latest witnessed checkpoint. */
export function witnessedKey(): Uint8Array {
  return Uint8Array.of(PREFIX_WITNESSED)
}

/** Returns the bounds `{ gte, lt }` that select every key with this one-byte prefix. */
export function prefixRange(prefix: number): { gte: Uint8Array; lt: Uint8Array } {
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > 0xfe) throw new RangeError('prefix must be 0..254')
  return { gte: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) }
}

/**
 * Returns the safe integer of a stored big-endian u64. Throws CORRUPT when it
 * exceeds 2^53 - 1: this implementation never writes one, so it was not us.
 */
export function readStoredU64(bytes: Uint8Array, offset: number, what: string): number {
  const v = readU64be(bytes, offset)
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new TlogError('CORRUPT', `${what} ${v} exceeds 2^53-1`)
  return Number(v)
}

/** Returns the 16-byte dedup value: leaf index u64 ‖ first checkpoint size u64. */
export function encodeLocated(at: Located): Uint8Array {
  checkIndex(at.index, 'leaf index')
  checkIndex(at.treeSize, 'tree size')
  if (at.index >= at.treeSize) throw new RangeError(`leaf index ${at.index} is not below the checkpoint size ${at.treeSize}`)
  return concatBytes(u64be(at.index), u64be(at.treeSize))
}

/** Returns what a dedup value holds. Throws CORRUPT unless it is 16 bytes, safe, and index < size. */
export function parseLocated(value: Uint8Array, leafHash: Uint8Array): Located {
  if (value.length !== 16) throw new TlogError('CORRUPT', `dedup value for leaf ${toHex(leafHash)} is ${value.length} bytes, want 16`)
  const index = readStoredU64(value, 0, `dedup index for leaf ${toHex(leafHash)}`)
  const treeSize = readStoredU64(value, 8, `dedup checkpoint size for leaf ${toHex(leafHash)}`)
  if (index >= treeSize) throw new TlogError('CORRUPT', `dedup value for leaf ${toHex(leafHash)} puts index ${index} outside its checkpoint of size ${treeSize}`)
  return { index, treeSize }
}

/** Returns the tree-state value: treeSize u64 ‖ rootHash. Throws RangeError on a bad size or hash. */
export function encodeTreeState(state: TreeState): Uint8Array {
  checkIndex(state.treeSize, 'tree size')
  if (!(state.rootHash instanceof Uint8Array) || state.rootHash.length !== HASH_SIZE) throw new RangeError('root hash must be 32 bytes')
  return concatBytes(u64be(state.treeSize), state.rootHash)
}

/**
 * Returns the tree state a stored value holds. Throws CORRUPT unless it is
 * exactly 40 bytes with a safe tree size: recovery must not build on a
 * truncated or foreign record.
 */
export function parseTreeState(value: Uint8Array): TreeState {
  if (value.length !== TREE_STATE_SIZE) {
    throw new TlogError('CORRUPT', `stored tree state is ${value.length} bytes, want ${TREE_STATE_SIZE}`)
  }
  return { treeSize: readStoredU64(value, 0, 'stored tree size'), rootHash: value.slice(8) }
}

/** Returns the value of the index's completeness mark: tree size u64. */
export function encodeIndexed(treeSize: number): Uint8Array {
  checkIndex(treeSize, 'indexed tree size')
  return u64be(treeSize)
}

/** Returns the tree size a stored completeness mark holds. Throws CORRUPT unless it is 8 bytes and safe. */
export function parseIndexed(value: Uint8Array): number {
  if (value.length !== 8) throw new TlogError('CORRUPT', `the dedup index's completeness mark is ${value.length} bytes, want 8`)
  return readStoredU64(value, 0, 'dedup index completeness mark')
}
