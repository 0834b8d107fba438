import { StoreWriteError } from './store.ts'
import { checkKey, checkOps, checkRange, type KvOp, type KvRange, type KvStore } from './kv.ts'
import { KvLogStore } from './log-store.ts'

/**
 * An in-memory KvStore for tests and tools, and the LogStore built on it.
 *
 * Keys are held as latin1 strings (one char per byte): JavaScript compares
 * strings by UTF-16 code unit, which for chars 0..255 is exactly unsigned
 * bytewise order with shorter prefixes first, i.e. LevelDB's order.
 */

// Sorted keys live in chunks of at most MAX_CHUNK, so that an insert costs a
// binary search plus a splice of one small array, not of the whole key list
// (the dedup index inserts random leaf hashes).
const MAX_CHUNK = 1024

function keyString(key: Uint8Array): string {
  // fromCharCode over whole slices yields flat strings; appending char by
  // char would build ropes that every comparison has to flatten again.
  if (key.length <= 4096) return String.fromCharCode.apply(null, key as unknown as number[])
  let s = ''
  for (let i = 0; i < key.length; i += 4096) s += String.fromCharCode.apply(null, key.subarray(i, i + 4096) as unknown as number[])
  return s
}

function keyBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}

function copy(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length)
  out.set(b)
  return out
}

/** A position in the chunked key list: chunk `c`, offset `i`. */
interface Pos {
  c: number
  i: number
}

/** The keys and values of a MemoryKv: what survives a simulated restart. */
class MemoryData {
  readonly values = new Map<string, Uint8Array>()
  chunks: string[][] = []
  // Bumped on every change of the key set; iterators re-seek when it moved.
  version = 0

  /** Returns the first position whose key is >= k (or > k when `strict`). */
  lowerBound(k: string, strict: boolean): Pos {
    const chunks = this.chunks
    let lo = 0
    let hi = chunks.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const chunk = chunks[mid]!
      const last = chunk[chunk.length - 1]!
      if (strict ? last <= k : last < k) lo = mid + 1
      else hi = mid
    }
    if (lo === chunks.length) return { c: lo, i: 0 }
    const chunk = chunks[lo]!
    let a = 0
    let b = chunk.length
    while (a < b) {
      const mid = (a + b) >>> 1
      const v = chunk[mid]!
      if (strict ? v <= k : v < k) a = mid + 1
      else b = mid
    }
    return { c: lo, i: a }
  }

  keyAt(p: Pos): string | undefined {
    return this.chunks[p.c]?.[p.i]
  }

  next(p: Pos): Pos {
    const chunk = this.chunks[p.c]
    if (chunk !== undefined && p.i + 1 < chunk.length) return { c: p.c, i: p.i + 1 }
    return { c: p.c + 1, i: 0 }
  }

  /** Returns the position before `p`, or c = -1 before the first key. */
  prev(p: Pos): Pos {
    if (p.i > 0) return { c: p.c, i: p.i - 1 }
    const c = p.c - 1
    return c < 0 ? { c: -1, i: 0 } : { c, i: this.chunks[c]!.length - 1 }
  }

  /** Returns the position of the last key <= k (< k when `strict`), or c = -1. */
  upperBound(k: string, strict: boolean): Pos {
    return this.prev(this.lowerBound(k, !strict))
  }

  last(): Pos {
    const c = this.chunks.length - 1
    return c < 0 ? { c: -1, i: 0 } : { c, i: this.chunks[c]!.length - 1 }
  }

  put(k: string, value: Uint8Array): void {
    if (!this.values.has(k)) this.insertKey(k)
    this.values.set(k, value)
  }

  del(k: string): void {
    if (!this.values.delete(k)) return
    const p = this.lowerBound(k, false)
    const chunk = this.chunks[p.c]!
    chunk.splice(p.i, 1)
    if (chunk.length === 0) this.chunks.splice(p.c, 1)
    this.version++
  }

  private insertKey(k: string): void {
    this.version++
    if (this.chunks.length === 0) {
      this.chunks.push([k])
      return
    }
    let p = this.lowerBound(k, false)
    // Past every key: append to the last chunk.
    if (p.c === this.chunks.length) p = { c: p.c - 1, i: this.chunks[p.c - 1]!.length }
    const chunk = this.chunks[p.c]!
    chunk.splice(p.i, 0, k)
    if (chunk.length > MAX_CHUNK) this.chunks.splice(p.c + 1, 0, chunk.splice(chunk.length >>> 1))
  }
}

/**
 * Returns an in-memory KvStore with LevelDB's semantics: bytewise key order,
 * atomic batches (validated in full before any op applies), copies in and
 * out. Nothing is durable beyond the object itself; `MemoryKv.reopen`
 * simulates a process restart over the same data.
 *
 * Unlike LevelDB, whose iterators read a snapshot, an iterator here sees
 * writes made while it is suspended; it never yields a key twice or out of
 * order.
 */
export class MemoryKv implements KvStore {
  #data: MemoryData
  #closed = false

  /** Returns an empty store. */
  constructor() {
    this.#data = new MemoryData()
  }

  /**
   * Returns a new open MemoryKv over the data of `kv`, and closes `kv`, as a
   * restarted process would find the disk its predecessor left, whether that
   * one closed cleanly or died.
   */
  static reopen(kv: MemoryKv): MemoryKv {
    const out = new MemoryKv()
    out.#data = kv.#data
    kv.#closed = true
    return out
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('memory store is closed')
  }

  /** Returns a copy of the value under `key`, or undefined. */
  async get(key: Uint8Array): Promise<Uint8Array | undefined> {
    checkKey(key)
    this.#checkOpen()
    const v = this.#data.values.get(keyString(key))
    return v === undefined ? undefined : copy(v)
  }

  /** Returns copies of the values under `keys`, in order, undefined where absent. */
  async getMany(keys: readonly Uint8Array[]): Promise<(Uint8Array | undefined)[]> {
    for (const k of keys) checkKey(k)
    this.#checkOpen()
    return keys.map((k) => {
      const v = this.#data.values.get(keyString(k))
      return v === undefined ? undefined : copy(v)
    })
  }

  /** Applies `ops` atomically; throws StoreWriteError(persisted: false) when closed. */
  async batch(ops: readonly KvOp[]): Promise<void> {
    checkOps(ops)
    if (this.#closed) throw new StoreWriteError('memory store is closed', false)
    // Every op was validated above, so applying cannot fail halfway: the
    // batch is all-or-nothing, like LevelDB's.
    for (const op of ops) {
      const k = keyString(op.key)
      if (op.type === 'put') this.#data.put(k, copy(op.value))
      else this.#data.del(k)
    }
  }

  /** Yields copies of the pairs within `range`, in key order (descending with `reverse`). */
  async *iterate(range: KvRange = {}): AsyncGenerator<[Uint8Array, Uint8Array]> {
    checkRange(range)
    this.#checkOpen()
    const data = this.#data
    const lower = range.gte ?? range.gt
    const upper = range.lte ?? range.lt
    const lo = lower === undefined ? undefined : keyString(lower)
    const hi = upper === undefined ? undefined : keyString(upper)
    const loStrict = range.gt !== undefined
    const hiStrict = range.lt !== undefined
    const inLower = (k: string): boolean => lo === undefined || (loStrict ? k > lo : k >= lo)
    const inUpper = (k: string): boolean => hi === undefined || (hiStrict ? k < hi : k <= hi)
    const limit = range.limit ?? Infinity
    const reverse = range.reverse === true

    let pos: Pos
    if (reverse) pos = hi === undefined ? data.last() : data.upperBound(hi, hiStrict)
    else pos = lo === undefined ? { c: 0, i: 0 } : data.lowerBound(lo, loStrict)
    let version = data.version
    let count = 0
    while (count < limit) {
      this.#checkOpen()
      const k = data.keyAt(pos)
      if (k === undefined || !(reverse ? inLower(k) : inUpper(k))) return
      const v = data.values.get(k)!
      count++
      yield [keyBytes(k), copy(v)]
      if (data.version !== version) {
        // The key set changed while we were suspended: positions are stale,
        // so seek again just past the key we yielded.
        version = data.version
        pos = reverse ? data.upperBound(k, true) : data.lowerBound(k, true)
      } else {
        pos = reverse ? data.prev(pos) : data.next(pos)
      }
    }
  }

  /** Closes this handle; the data stays reachable through `MemoryKv.reopen`. */
  async close(): Promise<void> {
    this.#closed = true
  }
}

/**
 * Returns a LogStore held in memory, over `kv` (a fresh MemoryKv by default).
 * Pass a MemoryKv to keep a handle for `MemoryKv.reopen` (restart tests) or
 * wrap it in a FaultyKv yourself and use `new KvLogStore(faulty)`.
 */
export function createMemoryLogStore(kv: MemoryKv = new MemoryKv()): KvLogStore {
  return new KvLogStore(kv)
}
