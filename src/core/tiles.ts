import { concatBytes } from './bytes.ts'
import { TlogError } from './errors.ts'
import { HASH_SIZE, nodeHash } from './hash.ts'
import { foldRange, rangeNodes, type HashReader, type NodeId } from './merkle.ts'

/**
 * c2sp.org/tlog-tiles: tile coordinates and paths, which tiles a proof needs,
 * entry bundles, and the pure bookkeeping of appending leaves to tiles.
 *
 * A tile at level L holds up to 256 consecutive hashes of tree level 8L; the
 * tile is "full" at 256 and "partial" below. A partial tile of width W is a
 * prefix of every wider version of the same tile, so storage keeps only the
 * widest version and serves `.p/W` as its first W hashes.
 */

/** Tree levels spanned by one tile level. */
export const TILE_HEIGHT = 8
/** Hashes (or entries) in a full tile (or entry bundle). */
export const TILE_WIDTH = 256
/** Largest tile level a path may name (tlog-tiles). */
export const MAX_TILE_LEVEL = 63
/** Largest entry an entry bundle can carry (uint16 length prefix). */
export const MAX_BUNDLE_ENTRY = 0xffff

/** A tile (level 0..63) or an entry bundle (`'entries'`), with its width 1..256 (256 = full). */
export interface TileRef {
  level: number | 'entries'
  index: number
  width: number
}

/** A hash tile and its bytes (width × 32). */
export interface TileData {
  tile: TileRef
  data: Uint8Array
}

function pow256(l: number): number {
  return 256 ** l
}

/** Returns the zero-padded path elements of a tile index: 1234067 -> "x001/x234/067". */
export function encodeTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError('tile index must be a safe non-negative integer')
  let n = index
  let out = String(n % 1000).padStart(3, '0')
  n = Math.floor(n / 1000)
  while (n > 0) {
    out = `x${String(n % 1000).padStart(3, '0')}/${out}`
    n = Math.floor(n / 1000)
  }
  return out
}

/** Returns the path of a tile relative to the log prefix, e.g. `tile/0/x001/x234/067.p/12`. */
export function tilePath(t: TileRef): string {
  checkTileRef(t)
  const level = t.level === 'entries' ? 'entries' : String(t.level)
  const suffix = t.width === TILE_WIDTH ? '' : `.p/${t.width}`
  return `tile/${level}/${encodeTileIndex(t.index)}${suffix}`
}

function checkTileRef(t: TileRef): void {
  if (t.level !== 'entries' && !(Number.isInteger(t.level) && t.level >= 0 && t.level <= MAX_TILE_LEVEL)) {
    throw new RangeError('tile level must be 0..63 or "entries"')
  }
  if (!Number.isSafeInteger(t.index) || t.index < 0) throw new RangeError('tile index must be a safe non-negative integer')
  if (!Number.isInteger(t.width) || t.width < 1 || t.width > TILE_WIDTH) throw new RangeError('tile width must be 1..256')
}

const ELEMENT = /^[0-9]{3}$/
const X_ELEMENT = /^x[0-9]{3}$/
const SMALL_DECIMAL = /^(0|[1-9][0-9]{0,2})$/

/**
 * Returns the tile a path names. The path is relative to the log prefix
 * (`tile/...`, no leading slash). Strict: canonical level and width
 * decimals, 3-digit elements with `x` on all but the last, no leading zero
 * elements, level 0..63, width 1..255 in `.p/W`. Throws MALFORMED otherwise.
 */
export function parseTilePath(path: string): TileRef {
  const bad = (why: string): TlogError => new TlogError('MALFORMED', `tile path ${JSON.stringify(path.slice(0, 80))}: ${why}`)
  if (path.length > 128) throw bad('too long')
  const parts = path.split('/')
  if (parts[0] !== 'tile' || parts.length < 3) throw bad('expected tile/<L>/<N>')
  const levelPart = parts[1]!
  let level: number | 'entries'
  if (levelPart === 'entries') level = 'entries'
  else {
    if (!SMALL_DECIMAL.test(levelPart)) throw bad('level is not a canonical decimal')
    level = Number(levelPart)
    if (level > MAX_TILE_LEVEL) throw bad('level above 63')
  }
  let rest = parts.slice(2)
  let width = TILE_WIDTH
  const lastIdx = rest.length - 1
  // `.p/W` splits into a last index element ending in ".p" and a width element.
  if (rest.length >= 2 && rest[lastIdx - 1]!.endsWith('.p')) {
    const w = rest[lastIdx]!
    if (!SMALL_DECIMAL.test(w)) throw bad('width is not a canonical decimal')
    width = Number(w)
    if (width < 1 || width >= TILE_WIDTH) throw bad('partial width must be 1..255')
    rest = rest.slice(0, lastIdx)
    rest[rest.length - 1] = rest[rest.length - 1]!.slice(0, -2)
  }
  if (rest.length > 6) throw bad('index too large')
  let index = 0
  for (let i = 0; i < rest.length; i++) {
    const el = rest[i]!
    const isLast = i === rest.length - 1
    if (isLast ? !ELEMENT.test(el) : !X_ELEMENT.test(el)) throw bad('index elements must be xNNN/.../NNN')
    const v = Number(isLast ? el : el.slice(1))
    if (i === 0 && !isLast && v === 0) throw bad('index has a leading zero element')
    index = index * 1000 + v
  }
  if (!Number.isSafeInteger(index)) throw bad('index out of range')
  return { level, index, width }
}

/**
 * Returns the partial tiles of a tree of `treeSize` leaves: at each level the
 * rightmost tile when its width is 1..255, lowest level first. With the full
 * tiles to their left, they hold every hash of the tree.
 */
export function partialTiles(treeSize: number): TileRef[] {
  if (!Number.isSafeInteger(treeSize) || treeSize < 0) throw new RangeError('treeSize must be a safe non-negative integer')
  const out: TileRef[] = []
  for (let l = 0; pow256(l) <= treeSize; l++) {
    const width = Math.floor(treeSize / pow256(l)) % TILE_WIDTH
    if (width > 0) out.push({ level: l, index: Math.floor(treeSize / pow256(l + 1)), width })
  }
  return out
}

/**
 * Returns the tile a stored hash lives in, sized for a tree of `treeSize`,
 * with the offset and count of the tile hashes that fold into it. A node of
 * tree level k lives in tile level floor(k / 8) as 2^(k mod 8) hashes.
 */
export function tileForNode(node: NodeId, treeSize: number): { tile: TileRef; offset: number; count: number } {
  const { level, index } = node
  if (!Number.isInteger(level) || level < 0 || !Number.isSafeInteger(index) || index < 0) throw new RangeError('bad node id')
  if ((index + 1) * 2 ** level > treeSize) throw new RangeError(`node ${level}/${index} is not in a tree of size ${treeSize}`)
  const tl = Math.floor(level / TILE_HEIGHT)
  const count = 2 ** (level - tl * TILE_HEIGHT)
  const first = index * count
  const tileIndex = Math.floor(first / TILE_WIDTH)
  const hashesAtLevel = Math.floor(treeSize / pow256(tl))
  const width = Math.min(TILE_WIDTH, hashesAtLevel - tileIndex * TILE_WIDTH)
  return { tile: { level: tl, index: tileIndex, width }, offset: first - tileIndex * TILE_WIDTH, count }
}

/** Returns MTH of `count` (a power of two) tile hashes starting at `offset` in `data`. */
export function hashInTile(data: Uint8Array, offset: number, count: number): Uint8Array {
  let level: Uint8Array[] = []
  for (let i = 0; i < count; i++) level.push(data.subarray((offset + i) * HASH_SIZE, (offset + i + 1) * HASH_SIZE))
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!))
    level = next
  }
  return level[0]!.slice()
}

/** Reads hash tiles. MUST return, per tile, exactly width × 32 bytes. */
export interface TileReader {
  readTiles(tiles: readonly TileRef[]): Promise<Uint8Array[]>
}

/**
 * Returns every subtree hash inside a tile: `levels[k]` holds, 32 bytes
 * each, the hashes of the 2^k tile hashes starting at j * 2^k (complete
 * subtrees only), so node j of level k is bytes [32j, 32j + 32). One
 * expansion costs about `width` hashes; afterwards any node in the tile is
 * a lookup, which is what makes proofs for a whole batch cheap. A level is
 * one buffer rather than one array per hash: a log caches hundreds of
 * expanded tiles, and 511 small objects each cost several times their 32
 * bytes and the collector's time.
 */
export function expandTile(data: Uint8Array): Uint8Array[] {
  let level = data
  const levels = [level]
  for (let n = data.length / HASH_SIZE; n > 1; n = Math.floor(n / 2)) {
    const next = new Uint8Array(Math.floor(n / 2) * HASH_SIZE)
    for (let j = 0; j + 1 < n; j += 2) {
      const h = nodeHash(level.subarray(j * HASH_SIZE, (j + 1) * HASH_SIZE), level.subarray((j + 1) * HASH_SIZE, (j + 2) * HASH_SIZE))
      next.set(h, (j / 2) * HASH_SIZE)
    }
    levels.push(next)
    level = next
  }
  return levels
}

/**
 * A cache of expanded tiles, keyed by tile and width; callers bound its
 * size. It holds promises, so concurrent proofs over the same tiles (every
 * proof of one batch) share one read and one expansion.
 */
export interface ExpandedTileCache {
  get(key: string): Promise<Uint8Array[]> | undefined
  set(key: string, levels: Promise<Uint8Array[]>): void
  delete(key: string): void
}

/**
 * Returns a HashReader for the tree of `treeSize` leaves that reads each
 * needed tile once per call (and not at all when `cache` holds it). Tiles of
 * the wrong length are CORRUPT; tiles with wrong contents produce proofs that
 * fail verification against the signed root, which is where authenticity is
 * checked.
 */
export function tileHashReader(treeSize: number, tiles: TileReader, cache?: ExpandedTileCache): HashReader {
  return {
    async readHashes(ids: readonly NodeId[]): Promise<Uint8Array[]> {
      const wanted = ids.map((id) => tileForNode(id, treeSize))
      const expanded = new Map<string, Promise<Uint8Array[]>>()
      const missing = new Map<string, TileRef>()
      for (const w of wanted) {
        const key = tileKey(w.tile)
        if (expanded.has(key) || missing.has(key)) continue
        const hit = cache?.get(key)
        if (hit !== undefined) expanded.set(key, hit)
        else missing.set(key, w.tile)
      }
      if (missing.size > 0) {
        const refs = [...missing.values()]
        const read = tiles.readTiles(refs)
        refs.forEach((t, i) => {
          const key = tileKey(t)
          const p = read.then((datas) => {
            const d = datas[i]
            if (!(d instanceof Uint8Array) || d.length !== t.width * HASH_SIZE) {
              throw new TlogError('CORRUPT', `${tilePath(t)} has ${d?.length ?? 0} bytes, want ${t.width * HASH_SIZE}`)
            }
            return expandTile(d)
          })
          expanded.set(key, p)
          if (cache !== undefined) {
            cache.set(key, p)
            // A failed read must not stay cached: the next proof tries again.
            p.catch(() => cache.delete(key))
          }
        })
      }
      const levels = new Map<string, Uint8Array[]>()
      await Promise.all([...expanded].map(async ([k, p]) => levels.set(k, await p)))
      return wanted.map((w) => {
        const j = w.offset / w.count
        return levels.get(tileKey(w.tile))![Math.log2(w.count)]!.subarray(j * HASH_SIZE, (j + 1) * HASH_SIZE)
      })
    },
  }
}

function tileKey(t: TileRef): string {
  return `${t.level}/${t.index}/${t.width}`
}

/**
 * The right edge of a tiled tree of `size` leaves: `tiles[l]` holds the hash
 * bytes of the partial tile at level l (empty when that level has no partial
 * tile). Bounded by 8 KiB per level, whatever the size of the tree.
 */
export interface TileEdge {
  size: number
  tiles: Uint8Array[]
}

/** The edge of the empty tree. */
export const EMPTY_EDGE: TileEdge = { size: 0, tiles: [] }

/**
 * Returns the edge after appending `leafHashes`, and every tile whose
 * contents changed (completed full tiles and the new partial tiles), in
 * level order. Pure: the caller persists `written` and the new edge together.
 */
export function appendToEdge(edge: TileEdge, leafHashes: readonly Uint8Array[]): { edge: TileEdge; written: TileData[] } {
  const written: TileData[] = []
  const tiles = edge.tiles.slice()
  let incoming: Uint8Array[] = leafHashes.slice()
  for (let l = 0; incoming.length > 0; l++) {
    const current = tiles[l] ?? new Uint8Array(0)
    const startCount = current.length / HASH_SIZE
    const hashesBefore = Math.floor(edge.size / pow256(l))
    if (hashesBefore % TILE_WIDTH !== startCount) throw new RangeError(`edge tile at level ${l} does not match size ${edge.size}`)
    let tileIndex = Math.floor(hashesBefore / TILE_WIDTH)
    let buf: Uint8Array[] = []
    for (let i = 0; i < startCount; i++) buf.push(current.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE))
    const up: Uint8Array[] = []
    for (const h of incoming) {
      if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new RangeError('leaf hashes are 32 bytes')
      buf.push(h)
      if (buf.length === TILE_WIDTH) {
        const data = concatBytes(...buf)
        written.push({ tile: { level: l, index: tileIndex, width: TILE_WIDTH }, data })
        up.push(hashInTile(data, 0, TILE_WIDTH))
        tileIndex++
        buf = []
      }
    }
    const rest = concatBytes(...buf)
    // Some hash arrived at this level, so a non-empty remainder is a new or wider partial tile.
    if (buf.length > 0) written.push({ tile: { level: l, index: tileIndex, width: buf.length }, data: rest })
    tiles[l] = rest
    incoming = up
  }
  return { edge: { size: edge.size + leafHashes.length, tiles }, written }
}

/** Returns the root hash of the tree whose right edge is `edge`. */
export function edgeRoot(edge: TileEdge): Uint8Array {
  return foldRange(edgeHashes(edge))
}

/** Returns the hashes of the perfect subtrees rangeNodes(0, size) names, from the edge's partial tiles (largest first). */
export function edgeHashes(edge: TileEdge): Uint8Array[] {
  return rangeNodes(0, edge.size).map((node) => {
    const { tile, offset, count } = tileForNode(node, edge.size)
    const data = edge.tiles[tile.level as number]
    if (data === undefined || data.length !== tile.width * HASH_SIZE) throw new RangeError('edge is missing a tile')
    return hashInTile(data, offset, count)
  })
}

/** Returns the edge of a tree of `size` from its partial tiles (as read back from storage). */
export function edgeFromTiles(size: number, tiles: readonly TileData[]): TileEdge {
  const partial = partialTiles(size)
  const levels = partial.length === 0 ? 0 : (partial[partial.length - 1]!.level as number) + 1
  const out: Uint8Array[] = Array.from({ length: levels }, () => new Uint8Array(0))
  for (const want of partial) {
    const found = tiles.find((t) => t.tile.level === want.level && t.tile.index === want.index)
    if (found === undefined || found.data.length < want.width * HASH_SIZE) {
      throw new TlogError('CORRUPT', `partial tile ${want.level}/${want.index} of width ${want.width} is missing`)
    }
    out[want.level as number] = found.data.slice(0, want.width * HASH_SIZE)
  }
  return { size, tiles: out }
}

/** Returns an entry bundle: each entry prefixed by its big-endian uint16 length. */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  let n = 0
  for (const e of entries) {
    if (e.length > MAX_BUNDLE_ENTRY) throw new RangeError('an entry bundle entry is at most 65535 bytes')
    n += 2 + e.length
  }
  const out = new Uint8Array(n)
  let o = 0
  for (const e of entries) {
    out[o] = e.length >> 8
    out[o + 1] = e.length & 0xff
    out.set(e, o + 2)
    o += 2 + e.length
  }
  return out
}

/**
 * Returns the offset of each entry's length prefix in an entry bundle (or
 * a run of its entries), or undefined unless the prefixes consume the bytes
 * exactly. For readers that want one entry without copying out the rest.
 */
export function entryBundleOffsets(bundle: Uint8Array): number[] | undefined {
  const out: number[] = []
  let o = 0
  while (o < bundle.length) {
    if (o + 2 > bundle.length) return undefined
    out.push(o)
    o += 2 + ((bundle[o]! << 8) | bundle[o + 1]!)
  }
  return o === bundle.length ? out : undefined
}

/** Returns a copy of the entry whose length prefix is at `offset` (one of entryBundleOffsets). */
export function entryAtOffset(bundle: Uint8Array, offset: number): Uint8Array {
  return bundle.slice(offset + 2, offset + 2 + ((bundle[offset]! << 8) | bundle[offset + 1]!))
}

/**
 * Returns the entries of an entry bundle. Strict: the length prefixes MUST
 * consume the bytes exactly, and when `count` is given there MUST be exactly
 * that many entries; at most 256 entries either way. Throws MALFORMED.
 */
export function parseEntryBundle(bundle: Uint8Array, count?: number): Uint8Array[] {
  const out: Uint8Array[] = []
  let o = 0
  while (o < bundle.length) {
    if (out.length === TILE_WIDTH) throw new TlogError('MALFORMED', 'entry bundle has more than 256 entries')
    if (o + 2 > bundle.length) throw new TlogError('MALFORMED', 'entry bundle is truncated in a length prefix')
    const len = (bundle[o]! << 8) | bundle[o + 1]!
    if (o + 2 + len > bundle.length) throw new TlogError('MALFORMED', 'entry bundle is truncated in an entry')
    out.push(bundle.slice(o + 2, o + 2 + len))
    o += 2 + len
  }
  if (count !== undefined && out.length !== count) {
    throw new TlogError('MALFORMED', `entry bundle has ${out.length} entries, want ${count}`)
  }
  return out
}
