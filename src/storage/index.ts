/**
 * actlog storage (Node): the LogStore interface, the KvStore it is built on,
 * and their memory, LevelDB and fault-injecting implementations.
 */
export { StoreLockedError, StoreOpenError, StoreWriteError, type CommitBatch, type Located, type LogStore, type TreeState } from './store.ts'
export { checkKey, checkOps, checkRange, type KvOp, type KvRange, type KvStore } from './kv.ts'
export { KvLogStore, type IndexEvent } from './log-store.ts'
export { MemoryKv, createMemoryLogStore } from './memory.ts'
export { INDEX_DIR, LevelKv, openLevelLogStore, toStoreWriteError, type LevelKvOptions } from './level.ts'
export { FaultyKv, type FaultMode } from './faulty.ts'
export {
  PREFIX_CHECKPOINT,
  PREFIX_DEDUP,
  ENTRY_CHUNK,
  PREFIX_ENTRY_BUNDLE,
  PREFIX_ENTRY_CHUNK,
  PREFIX_INDEXED,
  PREFIX_HASH_TILE,
  PREFIX_TREE_STATE,
  PREFIX_WITNESSED,
  TREE_STATE_SIZE,
  checkpointKey,
  dedupKey,
  encodeLocated,
  encodeTreeState,
  entryChunkKey,
  indexedKey,
  parseLocated,
  parseTreeState,
  prefixRange,
  tileKey,
  treeStateKey,
  witnessedKey,
} from './keys.ts'
