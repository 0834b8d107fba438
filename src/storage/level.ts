import { mkdir, readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { Level } from 'level'
import { TlogError } from '../core/index.ts'
import { checkKey, checkOps, checkRange, type KvOp, type KvRange, type KvStore } from './kv.ts'
import { KvLogStore, type IndexEvent } from './log-store.ts'
import { StoreLockedError, StoreOpenError, StoreWriteError } from './store.ts'

/**
 * The LevelDB KvStore (classic-level underneath) and the LogStore on it. The
 * only module that imports `level`.
 */

type Db = Level<Uint8Array, Uint8Array>

// LevelDB 1.20 (classic-level's) maps each table file it opens into memory,
// up to 1,000 of them per process, and every page a read or a compaction
// touches stays in the process's RSS while the file is open. Its table cache
// keeps max_open_files - 10 tables open.
//
// A log keeps two LevelDBs: the dedup index in a directory of its own, and
// everything else. Every new statement looks up the index (random keys, so
// every table of it is read), and it keeps all its tables open (1,000, far
// beyond a log of tens of millions of entries): a lookup never reopens one,
// however many tables the tiles and bundles take. Those are read by
// proofs (the newest, mostly) and by audits (all of them, once), through at
// most 64 open tables (LevelDB's minimum of 74 open files) of 1 MiB
// (LevelDB's smallest: it raises any lower max_file_size to 1 MiB): 64 MB
// mapped at most after a scan, against 128 MB with one LevelDB of 2 MiB
// tables (docs/performance.md).
const MAIN_DB: LevelKvOptions = { maxOpenFiles: 74, maxFileSize: 1024 * 1024 }
const INDEX_DB: LevelKvOptions = { maxOpenFiles: 1000 }
// Any other LevelKv (a witness's state) is small: it keeps few tables open.
const SMALL_DB: LevelKvOptions = { maxOpenFiles: 74 }

/** The directory, inside a log's LevelDB directory, of its dedup index. */
export const INDEX_DIR = 'dedup'

/** LevelDB settings of one LevelKv; LevelDB's defaults where absent. */
export interface LevelKvOptions {
  /** Files LevelDB keeps open (74 at least); 1,000 by default. */
  maxOpenFiles?: number
  /** Bytes of a table file before LevelDB starts the next; 2 MiB by default. */
  maxFileSize?: number
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

function copy(b: Uint8Array): Uint8Array {
  // classic-level hands out Buffers, some of them slices of a shared pool:
  // copy into a plain Uint8Array that owns exactly these bytes.
  const out = new Uint8Array(b.length)
  out.set(b)
  return out
}

/**
 * Returns the StoreWriteError for a failed LevelDB batch. A database that is
 * not open rejects the batch before touching the disk: `persisted: false`.
 * Any other failure (an I/O error, ENOSPC, corruption) may come after
 * LevelDB appended the batch to its log, which a restart would replay:
 * `persisted: 'unknown'`, so the sequencer exits and recovery reads back
 * what is there.
 */
export function toStoreWriteError(err: unknown, dir: string): StoreWriteError {
  const code = errorCode(err)
  const detail = err instanceof Error ? err.message : String(err)
  if (code === 'LEVEL_DATABASE_NOT_OPEN') {
    return new StoreWriteError(`LevelDB at ${dir} is not open; nothing was written: ${detail}`, false, { cause: err })
  }
  return new StoreWriteError(`LevelDB write at ${dir} failed and may have persisted (${code ?? 'no code'}): ${detail}`, 'unknown', { cause: err })
}

/** Returns what to do about a failure to open a data directory, when the cause says. */
function openHint(detail: string): string {
  if (/read-only file system|EROFS/i.test(detail)) return '; its file system is mounted read-only: remount it read-write, then start again'
  if (/permission denied|EACCES|EPERM/i.test(detail)) return '; the user running actlog must be able to write to this directory'
  if (/no space left|ENOSPC/i.test(detail)) return '; the disk is full: free space on it, then start again (nothing acknowledged is lost)'
  return ''
}

function toReadError(err: unknown, dir: string): unknown {
  if (errorCode(err) === 'LEVEL_CORRUPTION') return new TlogError('CORRUPT', `LevelDB at ${dir} is corrupt`, { cause: err })
  return err
}

/**
 * A KvStore in a LevelDB directory: binary keys and values (encoding
 * 'view'), bytewise order, every batch one `db.batch(ops, { sync: true })`,
 * fresh plain Uint8Array copies out. LevelDB holds a lock file, so one
 * directory serves one process at a time.
 */
export class LevelKv implements KvStore {
  readonly #db: Db
  /** The absolute path of the data directory. */
  readonly dir: string

  private constructor(db: Db, dir: string) {
    this.#db = db
    this.dir = dir
  }

  /**
   * Returns the store in `dir`, creating the directory and the database if
   * missing. Throws StoreLockedError when another process (or another handle
   * in this one) holds the directory's LevelDB lock, TlogError CORRUPT when
   * LevelDB reports corruption, and otherwise StoreOpenError naming the
   * directory and the cause (with what to do about a permission problem or
   * a full disk).
   */
  static async open(dir: string, opts: LevelKvOptions = SMALL_DB): Promise<LevelKv> {
    const abs = resolve(dir)
    try {
      await mkdir(abs, { recursive: true })
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err)
      throw new StoreOpenError(`cannot create the data directory ${abs}: ${detail}${openHint(detail)}`, abs, { cause: err })
    }
    const db: Db = new Level<Uint8Array, Uint8Array>(abs, { keyEncoding: 'view', valueEncoding: 'view', createIfMissing: true, ...opts })
    try {
      await db.open()
    } catch (err) {
      // abstract-level wraps the native error: the LevelDB code is on the cause.
      const cause = (err as { cause?: unknown }).cause
      const code = errorCode(cause) ?? errorCode(err)
      if (code === 'LEVEL_LOCKED') {
        throw new StoreLockedError(
          `data directory ${abs} is in use by another actlog process (LevelDB lock held); stop it or choose another --data dir`,
          abs,
          { cause: err },
        )
      }
      if (code === 'LEVEL_CORRUPTION') throw new TlogError('CORRUPT', `LevelDB in ${abs} is corrupt and cannot be opened`, { cause: err })
      const detail = cause instanceof Error ? cause.message : err instanceof Error ? err.message : String(err)
      throw new StoreOpenError(`cannot open LevelDB in ${abs}: ${detail}${openHint(detail)}`, abs, { cause: err })
    }
    return new LevelKv(db, abs)
  }

  /** Returns a copy of the value under `key`, or undefined. */
  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    checkKey(key)
    let v: Uint8Array | undefined
    try {
      v = await this.#db.get(key)
    } catch (err) {
      throw toReadError(err, this.dir)
    }
    return v === undefined ? undefined : copy(v)
  }

  /** Returns copies of the values under `keys`, in order, undefined where absent. */
  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    for (const k of keys) checkKey(k)
    if (keys.length === 0) return []
    let vs: (Uint8Array | undefined)[]
    try {
      vs = await this.#db.getMany(keys.slice())
    } catch (err) {
      throw toReadError(err, this.dir)
    }
    return vs.map((v) => (v === undefined ? undefined : copy(v)))
  }

  /**
   * Applies `ops` in one `db.batch(ops, { sync: true })`: atomic, and durable
   * when it returns. Throws StoreWriteError mapped by `toStoreWriteError`.
   */
  async batch(ops: readonly KvOp[]): Promise<void> {
    checkOps(ops)
    if (this.#db.status !== 'open') {
      throw new StoreWriteError(`LevelDB at ${this.dir} is ${this.#db.status}; nothing was written`, false)
    }
    try {
      await this.#db.batch(ops.slice(), { sync: true })
    } catch (err) {
      throw toStoreWriteError(err, this.dir)
    }
  }

  /** Yields copies of the pairs within `range`, from a LevelDB snapshot taken when iteration starts. */
  async *iterate(range: KvRange = {}): AsyncGenerator<[Uint8Array, Uint8Array]> {
    checkRange(range)
    const opts: { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array; reverse?: boolean; limit?: number } = {}
    if (range.gt !== undefined) opts.gt = range.gt
    if (range.gte !== undefined) opts.gte = range.gte
    if (range.lt !== undefined) opts.lt = range.lt
    if (range.lte !== undefined) opts.lte = range.lte
    if (range.reverse === true) opts.reverse = true
    if (range.limit !== undefined) opts.limit = range.limit
    const it = this.#db.iterator(opts)
    try {
      for (;;) {
        let entry: [Uint8Array, Uint8Array] | undefined
        try {
          entry = await it.next()
        } catch (err) {
          throw toReadError(err, this.dir)
        }
        if (entry === undefined) return
        yield [copy(entry[0]), copy(entry[1])]
      }
    } finally {
      // Close on every exit (a consumer's break or return included): an open
      // iterator pins a LevelDB snapshot and delays close().
      await it.close()
    }
  }

  /** Returns the total size in bytes of the files in the data directory. */
  async diskUsage(): Promise<number> {
    let total = 0
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isFile()) continue
      try {
        total += (await stat(join(this.dir, entry.name))).size
      } catch (err) {
        // A compaction may delete a table file between readdir and stat.
        if (errorCode(err) !== 'ENOENT') throw err
      }
    }
    return total
  }

  /** Closes the database and releases the directory lock. */
  async close(): Promise<void> {
    await this.#db.close()
  }
}

/**
 * Returns the LogStore in the LevelDB directory `dir` (created if missing),
 * with its dedup index in the LevelDB directory `dir/dedup`, brought up to
 * date before it returns (a store from before the split has its index moved
 * there; `onIndex` reports what that took). Throws StoreLockedError when
 * another process uses the directory, CORRUPT when the index cannot be
 * opened (removing `dir/dedup` lets the next start rebuild it), and
 * StoreOpenError when writing the index up to date fails.
 */
export async function openLevelLogStore(dir: string, onIndex?: (e: IndexEvent) => void): Promise<KvLogStore> {
  const main = await LevelKv.open(dir, MAIN_DB)
  let index: LevelKv | undefined
  try {
    const indexDir = join(resolve(dir), INDEX_DIR)
    try {
      index = await LevelKv.open(indexDir, INDEX_DB)
    } catch (err) {
      if (err instanceof TlogError && err.code === 'CORRUPT') {
        throw new TlogError('CORRUPT', `the dedup index in ${indexDir} is corrupt; stop the log, remove that directory, and start again to rebuild it from the entries`, { cause: err })
      }
      throw err
    }
    try {
      return await KvLogStore.withIndex(main, index, onIndex)
    } catch (err) {
      // Bringing the index up to date writes (a full disk fails it here):
      // the operator gets the directory and what to do, not a stack trace.
      if (!(err instanceof StoreWriteError)) throw err
      const detail = err.message
      throw new StoreOpenError(`cannot bring the dedup index in ${indexDir} up to date: ${detail}${openHint(detail)}`, resolve(dir), { cause: err })
    }
  } catch (err) {
    await index?.close().catch(() => {})
    await main.close().catch(() => {})
    throw err
  }
}
