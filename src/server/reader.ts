import {
  TILE_WIDTH,
  TlogError,
  EMPTY_ROOT,
  consistencyRanges,
  encodeTlogProofHead,
  entryAtOffset,
  entryBundleOffsets,
  foldRange,
  inclusionRanges,
  nodeHash,
  rangeNodes,
  rangeHashes,
  tileHashReader,
  tilePath,
  tlogProofText,
  type TileReader,
  type TileRef,
} from '../core/index.ts'
import { promisify } from 'node:util'
import { gzip } from 'node:zlib'
import type { LogStore } from '../storage/index.ts'

const gzipAsync = promisify(gzip)

/**
 * Read side of the log: tiles and entry bundles as tlog-tiles serves them,
 * and inclusion and consistency proofs built from tiles. A bounded cache of
 * expanded tiles makes the proofs of a whole batch (which share tiles) cost
 * lookups rather than hashing. Full tiles and bundles never change, so they
 * (and the gzip of full bundles) are cached too, within a byte budget.
 */
export class LogReader {
  readonly #store: LogStore
  readonly #cache: Lru<Promise<Uint8Array[]>>
  readonly #tiles: TileReader
  // Full (immutable) tiles and entry bundles: bytes, and a bundle's entry offsets.
  readonly #full = new Lru<{ data: Uint8Array; offsets?: number[] }>(1024, 24 * 1024 * 1024, (v) => v.data.length)
  readonly #gzipped = new Lru<Uint8Array>(1024, 8 * 1024 * 1024, (v) => v.length)
  // Hashes of leaf ranges [a, b): fixed for good once b is in the tree, and
  // shared by the proofs of neighbouring entries (a batch's proofs share
  // most of their upper levels), so each is computed once.
  readonly #rangeCache = new TwoGenerationCache<Uint8Array>(8192)
  // Reads since the last releaseIfIdle(): tiles, bundles, entries and proofs.
  #reads = 0

  constructor(store: LogStore, cacheEntries = 512) {
    this.#store = store
    this.#cache = new Lru<Promise<Uint8Array[]>>(cacheEntries)
    this.#tiles = {
      readTiles: async (refs) => {
        const got = await this.#store.getTiles(refs)
        return refs.map((t, i) => {
          const d = got[i]
          if (d === undefined || d.length < t.width * 32) throw new TlogError('CORRUPT', `${tilePath(t)} is missing from storage`)
          return d.subarray(0, t.width * 32)
        })
      },
    }
  }

  /**
   * Returns the bytes of a tile or entry bundle for a tree of `treeSize`, or
   * throws NOT_FOUND when the tree does not hold it (beyond the tree, or a
   * partial width that no tree size up to `treeSize` has).
   */
  async tile(t: TileRef, treeSize: number): Promise<Uint8Array> {
    this.#reads++
    const level = t.level === 'entries' ? 0 : t.level
    // Hashes (or entries) tile N holds in this tree; a width up to that many
    // is a prefix of what is stored. Partial widths stay servable after the
    // tile fills, for clients holding an older checkpoint.
    const available = Math.floor(treeSize / TILE_WIDTH ** level) - t.index * TILE_WIDTH
    if (available < t.width) throw new TlogError('NOT_FOUND', `${tilePath(t)} is not in the tree of size ${treeSize}`)
    const key = `${t.level}/${t.index}`
    let d = this.#full.get(key)?.data
    if (d === undefined) {
      ;[d] = await this.#store.getTiles([t])
      if (d === undefined) throw new TlogError('NOT_FOUND', `${tilePath(t)} is not stored`)
      if (available >= TILE_WIDTH) this.#full.set(key, { data: d })
    }
    if (t.level !== 'entries') {
      if (d.length < t.width * 32) throw new TlogError('NOT_FOUND', `${tilePath(t)} is not stored at that width`)
      return d.subarray(0, t.width * 32)
    }
    return bundlePrefix(d, t.width)
  }

  /**
   * Drops the caches of full tiles and bundles, their gzip and the expanded
   * tiles (up to ~40 MB) when nothing was read since the last call, and
   * returns whether it did. The caches serve bursts of reads (a batch's
   * proofs, clients fetching the same tiles); after a scan of the whole log
   * (an audit) they hold what no one will read again, and an idle log
   * should give that memory back. The hashes of recent subtrees stay: the
   * next batch's proofs use them.
   */
  releaseIfIdle(): boolean {
    const busy = this.#reads > 0
    this.#reads = 0
    if (busy || this.#full.size + this.#gzipped.size + this.#cache.size === 0) return false
    this.#full.clear()
    this.#gzipped.clear()
    this.#cache.clear()
    return true
  }

  /** Returns the gzip of a full entry bundle, compressed once and cached; undefined for partial ones. */
  async gzippedBundle(t: TileRef, data: Uint8Array): Promise<Uint8Array | undefined> {
    if (t.level !== 'entries' || t.width !== TILE_WIDTH) return undefined
    const key = String(t.index)
    let z = this.#gzipped.get(key)
    if (z === undefined) {
      z = new Uint8Array(await gzipAsync(data))
      this.#gzipped.set(key, z)
    }
    return z
  }

  /**
   * Takes the leaf hashes of entries just sequenced at `start`, and caches
   * the hash of every aligned subtree among them: the inclusion proofs of a
   * new batch then come from the cache, without expanding tiles for each.
   */
  learn(start: number, leafHashes: readonly Uint8Array[]): void {
    let level = leafHashes
    let first = start
    for (let width = 1; level.length > 0; width *= 2) {
      for (let i = 0; i < level.length; i++) this.#rangeCache.set(rangeKey([(first + i) * width, (first + i + 1) * width]), level[i]!)
      const up: Uint8Array[] = []
      const upFirst = Math.ceil(first / 2)
      for (let k = upFirst; 2 * k + 1 < first + level.length; k++) up.push(nodeHash(level[2 * k - first]!, level[2 * k + 1 - first]!))
      level = up
      first = upFirst
    }
  }

  /** Returns the root hash of the tree of `treeSize` leaves, from the tiles. */
  async rootHash(treeSize: number): Promise<Uint8Array> {
    if (treeSize === 0) return EMPTY_ROOT
    const [h] = await this.#rangeHashes([[0, treeSize]], treeSize)
    return h!
  }

  /** Returns the inclusion proof of `index` in the tree of `treeSize`. */
  async inclusionProof(index: number, treeSize: number): Promise<Uint8Array[]> {
    return this.#rangeHashes(inclusionRanges(index, treeSize), treeSize)
  }

  /** Returns the consistency proof from `oldSize` to `newSize`. */
  async consistencyProof(oldSize: number, newSize: number): Promise<Uint8Array[]> {
    return this.#rangeHashes(consistencyRanges(oldSize, newSize), newSize)
  }

  /**
   * Returns the hash of a range that is not one aligned subtree (the right
   * edge of a tree) from the cached hashes of the subtrees it splits into,
   * or undefined when one is not cached.
   */
  #composed([a, b]: [number, number]): Uint8Array | undefined {
    const nodes = rangeNodes(a, b)
    if (nodes.length < 2) return undefined
    const hashes: Uint8Array[] = []
    for (const n of nodes) {
      const start = n.index * 2 ** n.level
      const h = this.#rangeCache.get(rangeKey([start, start + 2 ** n.level]))
      if (h === undefined) return undefined
      hashes.push(h)
    }
    const h = foldRange(hashes)
    this.#rangeCache.set(rangeKey([a, b]), h)
    return h
  }

  async #rangeHashes(ranges: [number, number][], treeSize: number): Promise<Uint8Array[]> {
    this.#reads++
    const out: Uint8Array[] = new Array<Uint8Array>(ranges.length)
    const missing: number[] = []
    for (let i = 0; i < ranges.length; i++) {
      const hit = this.#rangeCache.get(rangeKey(ranges[i]!)) ?? this.#composed(ranges[i]!)
      if (hit !== undefined) out[i] = hit
      else missing.push(i)
    }
    if (missing.length > 0) {
      const got = await rangeHashes(
        missing.map((i) => ranges[i]!),
        tileHashReader(treeSize, this.#tiles, this.#cache),
      )
      missing.forEach((i, k) => {
        // A hash read from a tile is a view of the tile's buffer; the cache
        // keeps its own 32 bytes (in V8's heap), so it never holds a tile
        // alive after the expanded-tile cache has let it go.
        const h = new Uint8Array(32)
        h.set(got[k]!)
        out[i] = h
        this.#rangeCache.set(rangeKey(ranges[i]!), h)
      })
    }
    return out
  }

  /** Returns the entry at `index`, which MUST be below `treeSize`. */
  async entry(index: number, treeSize: number): Promise<Uint8Array> {
    this.#reads++
    if (!(index < treeSize)) throw new TlogError('NOT_FOUND', `index ${index} is not below the tree size ${treeSize}`)
    const bundle = Math.floor(index / TILE_WIDTH)
    const cached = this.#full.get(`entries/${bundle}`)
    if (cached !== undefined) {
      cached.offsets ??= offsetsOf(cached.data)
      const o = cached.offsets[index % TILE_WIDTH]!
      return entryAtOffset(cached.data, o)
    }
    // The store reads only the chunk that holds it, not the whole bundle.
    const e = await this.#store.getEntry(index)
    if (e === undefined) throw new TlogError('CORRUPT', `entry ${index} is missing from storage`)
    return e
  }

  /** Returns the `.tlog-proof` text of entry `index` against the signed `checkpoint` of `treeSize`. */
  async tlogProof(index: number, treeSize: number, checkpoint: string, entry?: Uint8Array): Promise<string> {
    return tlogProofText(await this.tlogProofHead(index, treeSize, entry), checkpoint)
  }

  /** Returns the `.tlog-proof` of entry `index` in a tree of `treeSize` up to its checkpoint, as ASCII bytes (encodeTlogProofHead). */
  async tlogProofHead(index: number, treeSize: number, entry?: Uint8Array): Promise<Uint8Array> {
    const [proof, extra] = await Promise.all([this.inclusionProof(index, treeSize), entry ?? this.entry(index, treeSize)])
    return encodeTlogProofHead({ extra, index, proof })
  }
}

function rangeKey([a, b]: [number, number]): string {
  return `${a}-${b}`
}

/** Returns the first `count` entries of an entry bundle, as bundle bytes (a prefix of `bundle`). */
function bundlePrefix(bundle: Uint8Array, count: number): Uint8Array {
  let o = 0
  for (let i = 0; i < count; i++) {
    if (o + 2 > bundle.length) throw new TlogError('NOT_FOUND', 'entry bundle is not stored at that width')
    o += 2 + ((bundle[o]! << 8) | bundle[o + 1]!)
  }
  if (o > bundle.length) throw new TlogError('CORRUPT', 'entry bundle is truncated')
  return bundle.subarray(0, o)
}

/** Returns the offset of each entry's length prefix in an entry bundle. Throws CORRUPT on a truncated bundle. */
function offsetsOf(bundle: Uint8Array): number[] {
  const out = entryBundleOffsets(bundle)
  if (out === undefined) throw new TlogError('CORRUPT', 'entry bundle is truncated')
  return out
}

/**
 * A cache of at most 2 × `generation` entries that costs one Map lookup per
 * hit: new entries go into the current generation; when it is full it
 * becomes the old one and the previous old one is dropped. Hits in the old
 * generation move forward, so what is in use survives. (An LRU's reordering
 * on every hit costs more than the hashing it saves here.)
 */
export class TwoGenerationCache<V> {
  #current = new Map<string, V>()
  #old = new Map<string, V>()
  constructor(readonly generation: number) {}
  get(key: string): V | undefined {
    const v = this.#current.get(key)
    if (v !== undefined) return v
    const o = this.#old.get(key)
    if (o !== undefined) this.set(key, o)
    return o
  }
  set(key: string, v: V): void {
    if (this.#current.size >= this.generation) {
      this.#old = this.#current
      this.#current = new Map()
    }
    this.#current.set(key, v)
  }
  get size(): number {
    return this.#current.size + this.#old.size
  }
}

/** A least-recently-used map, bounded by entries and optionally by a size measure (bytes). */
export class Lru<V> {
  readonly #map = new Map<string, V>()
  #bytes = 0
  constructor(
    readonly max: number,
    readonly maxBytes = Infinity,
    readonly sizeOf: (v: V) => number = () => 0,
  ) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }
  set(key: string, v: V): void {
    this.delete(key)
    this.#map.set(key, v)
    this.#bytes += this.sizeOf(v)
    while (this.#map.size > this.max || (this.#bytes > this.maxBytes && this.#map.size > 1)) this.delete(this.#map.keys().next().value!)
  }
  delete(key: string): void {
    const v = this.#map.get(key)
    if (v === undefined) return
    this.#bytes -= this.sizeOf(v)
    this.#map.delete(key)
  }
  get size(): number {
    return this.#map.size
  }
  clear(): void {
    this.#map.clear()
    this.#bytes = 0
  }
}
