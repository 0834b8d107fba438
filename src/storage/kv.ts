/**
 * The minimal durable key-value store the log store (and the witness's state)
 * is built on. Two implementations: `MemoryKv` (tests, tools) and `LevelKv`
 * (a server's data directory). Keys sort by unsigned bytewise comparison, as
 * LevelDB's default comparator does, so big-endian integers in keys iterate
 * in numeric order.
 */

/** One write of a batch: store `value` under `key`, or delete `key`. */
export type KvOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array }

/**
 * Bounds and direction of an iteration. Give at most one lower bound
 * (`gt` or `gte`) and at most one upper bound (`lt` or `lte`); keys compare
 * bytewise. `limit` caps the number of pairs yielded (0 yields none).
 */
export interface KvRange {
  gt?: Uint8Array
  gte?: Uint8Array
  lt?: Uint8Array
  lte?: Uint8Array
  /** Yield from the upper bound down. */
  reverse?: boolean
  /** At most this many pairs; a non-negative safe integer. */
  limit?: number
}

/**
 * A durable, ordered key-value store with atomic batches.
 *
 * - Keys are non-empty byte strings ordered by unsigned bytewise comparison.
 * - Every returned key and value is a fresh plain `Uint8Array` (never a
 *   Buffer, never a view the store keeps using): callers may keep or mutate it.
 * - `batch` applies all of its ops or none, in order (a later op on the same
 *   key wins), and returns only once the write is durable (LevelDB: one write
 *   with `sync: true`). When it throws, it throws a `StoreWriteError` whose
 *   `persisted` says whether the write may have reached the disk.
 */
export interface KvStore {
  /** Returns a copy of the value stored under `key`, or undefined. */
  get(key: Uint8Array): Promise<Uint8Array | undefined>
  /** Returns the values of `keys`, in the same order, undefined where absent. */
  getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]>
  /** Applies `ops` atomically and durably. MUST NOT return before the write is durable. */
  batch(ops: readonly KvOp[]): Promise<void>
  /** Yields `[key, value]` pairs within `range`, in key order (descending with `reverse`). */
  iterate(range?: KvRange): AsyncIterable<[Uint8Array, Uint8Array]>
  /** Closes the store. Later calls fail; `batch` fails with `persisted: false`. */
  close(): Promise<void>
  /** Returns the bytes the store occupies on disk, when it can tell. */
  diskUsage?(): Promise<number>
}

/**
 * Throws TypeError unless `key` is a non-empty Uint8Array. Every KvStore
 * checks its keys with this, so that memory and LevelDB reject the same
 * misuse (LevelDB would accept an empty key; a string would be encoded).
 */
export function checkKey(key: unknown, what = 'key'): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`)
  if (key.length === 0) throw new TypeError(`${what} must not be empty`)
}

/** Throws TypeError unless every op is a well-formed put or del. */
export function checkOps(ops: readonly KvOp[]): void {
  if (!Array.isArray(ops)) throw new TypeError('batch ops must be an array')
  for (const op of ops) {
    checkKey(op.key, `${op.type} key`)
    if (op.type === 'put') {
      if (!(op.value instanceof Uint8Array)) throw new TypeError('put value must be a Uint8Array')
    } else if (op.type !== 'del') {
      throw new TypeError(`unknown batch op type ${String((op as { type: unknown }).type)}`)
    }
  }
}

/** Throws TypeError or RangeError unless `range` has valid bounds and limit. */
export function checkRange(range: KvRange): void {
  if (range.gt !== undefined && range.gte !== undefined) throw new TypeError('give at most one of gt and gte')
  if (range.lt !== undefined && range.lte !== undefined) throw new TypeError('give at most one of lt and lte')
  for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
    const b = range[name]
    if (b !== undefined) checkKey(b, name)
  }
  if (range.limit !== undefined && !(Number.isSafeInteger(range.limit) && range.limit >= 0)) {
    throw new RangeError('limit must be a non-negative safe integer')
  }
}
