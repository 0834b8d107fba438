import {
  TILE_WIDTH,
  TlogError,
  encodeTlogProof,
  inclusionProof,
  consistencyProof,
  rootHash,
  tileHashReader,
  tilePath,
  type ExpandedTileCache,
  type TileReader,
  type TileRef,
} from '../core/index.ts'
import type { LogStore } from '../storage/index.ts'

/**
 * Read side of the log: tiles and entry bundles as tlog-tiles serves them,
 * and inclusion and consistency proofs built from tiles. A bounded cache of
 * expanded tiles makes the proofs of a whole batch (which share tiles) cost
 * lookups rather than hashing.
 */
export class LogReader {
  readonly #store: LogStore
  readonly #cache: ExpandedTileCache
  readonly #tiles: TileReader

  constructor(store: LogStore, cacheEntries = 512) {
    this.#store = store
    this.#cache = new Lru<Promise<Uint8Array[][]>>(cacheEntries)
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
    const level = t.level === 'entries' ? 0 : t.level
    // Hashes (or entries) tile N holds in this tree; a width up to that many
    // is a prefix of what is stored. Partial widths stay servable after the
    // tile fills, for clients holding an older checkpoint.
    const available = Math.floor(treeSize / TILE_WIDTH ** level) - t.index * TILE_WIDTH
    if (available < t.width) throw new TlogError('NOT_FOUND', `${tilePath(t)} is not in the tree of size ${treeSize}`)
    const [d] = await this.#store.getTiles([t])
    if (d === undefined) throw new TlogError('NOT_FOUND', `${tilePath(t)} is not stored`)
    if (t.level !== 'entries') {
      if (d.length < t.width * 32) throw new TlogError('NOT_FOUND', `${tilePath(t)} is not stored at that width`)
      return d.subarray(0, t.width * 32)
    }
    return bundlePrefix(d, t.width)
  }

  /** Returns the root hash of the tree of `treeSize` leaves, from the tiles. */
  async rootHash(treeSize: number): Promise<Uint8Array> {
    return rootHash(treeSize, tileHashReader(treeSize, this.#tiles, this.#cache))
  }

  /** Returns the inclusion proof of `index` in the tree of `treeSize`. */
  async inclusionProof(index: number, treeSize: number): Promise<Uint8Array[]> {
    return inclusionProof(index, treeSize, tileHashReader(treeSize, this.#tiles, this.#cache))
  }

  /** Returns the consistency proof from `oldSize` to `newSize`. */
  async consistencyProof(oldSize: number, newSize: number): Promise<Uint8Array[]> {
    return consistencyProof(oldSize, newSize, tileHashReader(newSize, this.#tiles, this.#cache))
  }

  /** Returns the entry at `index`, which MUST be below `treeSize`. */
  async entry(index: number, treeSize: number): Promise<Uint8Array> {
    if (!(index < treeSize)) throw new TlogError('NOT_FOUND', `index ${index} is not below the tree size ${treeSize}`)
    const bundle = Math.floor(index / TILE_WIDTH)
    const [d] = await this.#store.getTiles([{ level: 'entries', index: bundle, width: TILE_WIDTH }])
    if (d === undefined) throw new TlogError('CORRUPT', `entry bundle ${bundle} is missing`)
    return nthEntry(d, index % TILE_WIDTH)
  }

  /** Returns the `.tlog-proof` text of entry `index` against the signed `checkpoint` of `treeSize`. */
  async tlogProof(index: number, treeSize: number, checkpoint: string, entry?: Uint8Array): Promise<string> {
    const [proof, extra] = await Promise.all([this.inclusionProof(index, treeSize), entry ?? this.entry(index, treeSize)])
    return encodeTlogProof({ extra, index, proof, checkpoint })
  }
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

function nthEntry(bundle: Uint8Array, n: number): Uint8Array {
  let o = 0
  for (let i = 0; ; i++) {
    if (o + 2 > bundle.length) throw new TlogError('CORRUPT', `entry bundle holds fewer than ${n + 1} entries`)
    const len = (bundle[o]! << 8) | bundle[o + 1]!
    if (i === n) {
      if (o + 2 + len > bundle.length) throw new TlogError('CORRUPT', 'entry bundle is truncated')
      return bundle.slice(o + 2, o + 2 + len)
    }
    o += 2 + len
  }
}

/** A small least-recently-used map. */
export class Lru<V> {
  readonly #map = new Map<string, V>()
  constructor(readonly max: number) {}
  get(key: string): V | undefined {
    const v = this.#map.get(key)
    if (v !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, v)
    }
    return v
  }
  set(key: string, v: V): void {
    this.#map.delete(key)
    this.#map.set(key, v)
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value!)
  }
  delete(key: string): void {
    this.#map.delete(key)
  }
  get size(): number {
    return this.#map.size
  }
}
