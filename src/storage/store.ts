import type { TileData, TileRef } from '../core/index.ts'

/**
 * The log's storage, behind a narrow interface so that memory (tests),
 * LevelDB (a server) or an object store (later) can back it.
 *
 * What is stored:
 * - hash tiles and entry bundles, the latest (widest) version of each: a
 *   partial tile of width W is the prefix of every wider version, so one
 *   record per (level, index) serves every `.p/W` a checkpoint needs;
 * - the tree state (size and root) the tiles describe;
 * - the dedup index (leaf hash -> index);
 * - every signed checkpoint, by tree size, and the cosigned (witnessed)
 *   version of those that witnesses cosigned.
 *
 * Durability: `commit` writes everything of one sequencer batch in one
 * atomic, synced write. It returns only after the write is durable; when it
 * throws, a StoreWriteError says whether anything may have persisted.
 */
export interface LogStore {
  /** Returns the committed tree state, or undefined for a new store. */
  getTreeState(): Promise<TreeState | undefined>
  /**
   * Returns the stored bytes of each tile (hash tiles and entry bundles), or
   * undefined where none is stored. The bytes are the widest version stored;
   * callers cut them to the width they need.
   */
  getTiles(refs: readonly TileRef[]): Promise<(Uint8Array | undefined)[]>
  /** Returns the index of the entry with this leaf hash, if the log holds it. */
  getIndex(leafHash: Uint8Array): Promise<number | undefined>
  /** Returns the log-signed checkpoint of exactly this tree size, if one was signed. */
  getCheckpoint(treeSize: number): Promise<string | undefined>
  /** Returns the smallest signed checkpoint with a tree size of at least `minSize`. */
  getCheckpointAtLeast(minSize: number): Promise<{ treeSize: number; note: string } | undefined>
  /** Returns the witnessed (cosigned) checkpoint of exactly this size, if any. */
  getWitnessed(treeSize: number): Promise<string | undefined>
  /** Returns the witnessed checkpoint with the largest tree size, if any. */
  getLatestWitnessed(): Promise<{ treeSize: number; note: string } | undefined>
  /** Writes one batch atomically and durably (LevelDB: one batch with sync). */
  commit(batch: CommitBatch): Promise<void>
  /** Stores a witnessed checkpoint durably. */
  putWitnessed(treeSize: number, note: string): Promise<void>
  /** Returns how many bytes the store occupies on disk, when it can tell. */
  diskUsage?(): Promise<number>
  close(): Promise<void>
}

/** The size and root hash of the committed tree. */
export interface TreeState {
  treeSize: number
  rootHash: Uint8Array
}

/** Everything one sequencer batch writes, in one atomic durable write. */
export interface CommitBatch {
  /** The tree state after the batch. */
  tree: TreeState
  /** Hash tiles and entry bundles whose contents changed. Entry bundles have level 'entries'. */
  tiles: TileData[]
  /** Leaf hash -> index of each new entry. */
  dedup: { leafHash: Uint8Array; index: number }[]
  /** The log-signed checkpoint of the new tree size. */
  checkpoint: string
}

/**
 * Thrown by a store write that failed. `persisted` says what is known:
 * false when nothing was written (the sequencer fails the batch and goes on),
 * 'unknown' when the write may have reached the disk (the sequencer stops,
 * and startup recovery reads back what is there).
 */
export class StoreWriteError extends Error {
  override name = 'StoreWriteError'
  constructor(
    message: string,
    readonly persisted: false | 'unknown',
    opts?: { cause?: unknown },
  ) {
    super(message, opts)
  }
}

/**
 * Thrown when the data directory is already in use by another process.
 */
export class StoreLockedError extends Error {
  override name = 'StoreLockedError'
}
