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
 * - the dedup index: leaf hash -> index and the size of the first checkpoint
 *   that contains the entry;
 * - the latest signed checkpoint and the latest witnessed (cosigned) one.
 *   Past checkpoints are not kept: Ed25519 signing is deterministic, so the
 *   log re-signs any past size from its tiles and gets the same bytes.
 *
 * Durability: `commit` writes everything of one sequencer batch in one
 * atomic, synced write. It returns only after the write is durable; when it
 * throws, a StoreWriteError says whether anything may have persisted. A
 * store may keep the dedup index apart (a LevelDB log does): then the tiles,
 * bundles, tree state and checkpoint are that one write, and the index
 * follows it in a second durable write, which the store's opening redoes
 * from the stored entries when a crash came between the two.
 *
 * A store has a single writer (the sequencer of one process; LevelDB's lock
 * keeps a second process out), so `commit` neither reads nor compares the
 * stored tree state before writing.
 */
export interface LogStore {
  /** Returns the committed tree state, or undefined for a new store. */
  getTreeState(): Promise<TreeState | undefined>
  /**
   * Returns the stored bytes of each tile (hash tiles and entry bundles), or
   * undefined where none is stored. `width` is not used for the lookup: the
   * bytes are the widest version stored, and callers MUST cut them to the
   * width they need and check the stored version is wide enough (for entry
   * bundles, by walking the length prefixes).
   */
  getTiles(refs: readonly TileRef[]): Promise<(Uint8Array | undefined)[]>
  /**
   * Returns the stored entry at `index`, reading only the part of its bundle
   * that holds it; undefined when no stored bundle holds it. Callers check
   * `index` against the tree size.
   */
  getEntry(index: number): Promise<Uint8Array | undefined>
  /** Returns, per leaf hash, where the log holds that entry, or undefined. One round trip for all. */
  locate(leafHashes: readonly Uint8Array[]): Promise<(Located | undefined)[]>
  /** Returns the latest log-signed checkpoint (the one of the stored tree state). */
  getCheckpoint(): Promise<string | undefined>
  /** Returns the latest witnessed checkpoint, if any. */
  getWitnessed(): Promise<string | undefined>
  /** Writes one batch atomically and durably (LevelDB: one batch with sync). */
  commit(batch: CommitBatch): Promise<void>
  /** Stores the latest witnessed checkpoint durably. */
  putWitnessed(note: string): Promise<void>
  /** Returns how many bytes the store occupies on disk, when it can tell. */
  diskUsage?(): Promise<number>
  /** Closes the store; later calls fail. */
  close(): Promise<void>
}

/** Where an entry is: its index and the size of the first checkpoint that contains it. */
export interface Located {
  index: number
  treeSize: number
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
  /** Leaf hash -> index of each new entry; its first checkpoint is the one of `tree`. */
  dedup: { leafHash: Uint8Array; index: number }[]
  /** The log-signed checkpoint of the new tree size (replaces the previous one). */
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

/** Thrown when the data directory is already in use by another process. */
export class StoreLockedError extends Error {
  override name = 'StoreLockedError'
  constructor(
    message: string,
    readonly dir: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts)
  }
}

/**
 * Thrown when the data directory cannot be created or opened (permissions,
 * a full or read-only disk). The message names the directory and the cause,
 * and says what to do when that is clear.
 */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError'
  constructor(
    message: string,
    readonly dir: string,
    opts?: { cause?: unknown },
  ) {
    super(message, opts)
  }
}
