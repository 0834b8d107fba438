import { describe, expect, it } from 'vitest'
import { isTlogError } from '../../../src/core/errors.ts'
import { EMPTY_ROOT } from '../../../src/core/hash.ts'
import { consistencyProof, inclusionProof, verifyConsistency, verifyInclusion } from '../../../src/core/merkle.ts'
import {
  EMPTY_EDGE,
  appendToEdge,
  edgeFromTiles,
  edgeRoot,
  encodeEntryBundle,
  encodeTileIndex,
  expandTile,
  parseEntryBundle,
  parseTilePath,
  partialTiles,
  tileForNode,
  tileHashReader,
  tilePath,
  type TileData,
  type TileEdge,
  type TileRef,
} from '../../../src/core/tiles.ts'
import { RefTree, leavesOf } from '../../helpers/reference-merkle.ts'

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex')
}

describe('tile paths', () => {
  it('encodes indices in x-prefixed 3-digit elements (tlog-tiles example)', () => {
    expect(encodeTileIndex(1234067)).toBe('x001/x234/067')
    expect(encodeTileIndex(0)).toBe('000')
    expect(encodeTileIndex(999)).toBe('999')
    expect(encodeTileIndex(1000)).toBe('x001/000')
    expect(tilePath({ level: 0, index: 1234067, width: 256 })).toBe('tile/0/x001/x234/067')
    expect(tilePath({ level: 2, index: 5, width: 17 })).toBe('tile/2/005.p/17')
    expect(tilePath({ level: 'entries', index: 1000, width: 3 })).toBe('tile/entries/x001/000.p/3')
  })

  it('parses every path it encodes', () => {
    for (const level of [0, 1, 7, 63, 'entries'] as const) {
      for (const index of [0, 1, 999, 1000, 1234067, 2 ** 40 + 17]) {
        for (const width of [1, 100, 255, 256]) {
          const t: TileRef = { level, index, width }
          expect(parseTilePath(tilePath(t))).toEqual(t)
        }
      }
    }
  })

  it('refuses non-canonical and out-of-range paths', () => {
    const bad = [
      'tile/0/1',
      'tile/00/001',
      'tile/64/001',
      'tile/-1/001',
      'tile/0/x000/001',
      'tile/0/001/002',
      'tile/0/x001',
      'tile/0/x1/001',
      'tile/0/001.p/256',
      'tile/0/001.p/0',
      'tile/0/001.p/01',
      'tile/0/001.p',
      'tile/0/001.p/',
      'tile/0/',
      'tile/entries',
      'tiles/0/001',
      'tile/0/001/',
      'tile/0/0a1',
      'tile/data/001',
      'tile/0/x001/x002/x003/x004/x005/x006/007',
    ]
    for (const p of bad) {
      try {
        parseTilePath(p)
        expect.fail(`accepted ${p}`)
      } catch (e) {
        expect(isTlogError(e, 'MALFORMED'), p).toBe(true)
      }
    }
  })
})

describe('partial tiles', () => {
  it('matches the tlog-tiles example of a tree of 70,000 entries', () => {
    expect(partialTiles(70000)).toEqual([
      { level: 0, index: 273, width: 112 },
      { level: 1, index: 1, width: 17 },
      { level: 2, index: 0, width: 1 },
    ])
  })

  it('has a full level 0 tile and a level 1 tile of width 1 at size 256', () => {
    expect(partialTiles(256)).toEqual([{ level: 1, index: 0, width: 1 }])
    expect(partialTiles(0)).toEqual([])
  })
})

/** Builds the tiles of a tree by appending leaves in the given batch sizes; returns the latest version of each tile. */
function build(leaves: Uint8Array[], batches: number[]): { edge: TileEdge; store: Map<string, TileData>; edges: TileEdge[] } {
  let edge = EMPTY_EDGE
  const store = new Map<string, TileData>()
  const edges: TileEdge[] = [edge]
  let pos = 0
  for (const b of batches) {
    const r = appendToEdge(edge, leaves.slice(pos, pos + b))
    pos += b
    for (const w of r.written) {
      const key = `${w.tile.level}/${w.tile.index}`
      const prev = store.get(key)
      // A tile only ever grows: each written version extends the previous one.
      if (prev !== undefined) expect(hex(w.data).startsWith(hex(prev.data))).toBe(true)
      store.set(key, w)
    }
    edge = r.edge
    edges.push(edge)
  }
  return { edge, store, edges }
}

function readerFor(store: Map<string, TileData>) {
  return {
    reads: 0,
    async readTiles(tiles: readonly TileRef[]): Promise<Uint8Array[]> {
      this.reads += tiles.length
      return tiles.map((t) => {
        const d = store.get(`${t.level}/${t.index}`)
        if (d === undefined || d.data.length < t.width * 32) throw new Error(`missing ${tilePath(t)}`)
        return d.data.slice(0, t.width * 32)
      })
    },
  }
}

describe('appending leaves to tiles', () => {
  const N = 70_000
  const leaves = leavesOf(N)
  const tree = new RefTree(leaves)

  it('gives the RFC 6962 root after every batch, whatever the batch sizes', () => {
    const batches = [1, 1, 3, 250, 1, 300, 256, 512, 7, 1000, 65536 - 2331, 1, 1700]
    const { edges } = build(leaves, batches)
    let size = 0
    for (let i = 0; i < batches.length; i++) {
      size += batches[i]!
      expect(edges[i + 1]!.size).toBe(size)
      expect(hex(edgeRoot(edges[i + 1]!))).toBe(hex(tree.mth(0, size)))
    }
    expect(edgeRoot(EMPTY_EDGE)).toEqual(EMPTY_ROOT)
  })

  it('writes tiles from which any proof for any checkpointed size can be built', async () => {
    const batches = [100, 156, 1, 255, 300, 10_000, 3]
    const { store } = build(leaves, batches)
    let size = 0
    const sizes: number[] = []
    for (const b of batches) sizes.push((size += b))
    for (const n of sizes) {
      const reader = tileHashReader(n, readerFor(store))
      for (const i of [0, 1, n >> 1, n - 1]) {
        const proof = await inclusionProof(i, n, reader)
        expect(verifyInclusion(leaves[i]!, i, n, proof, tree.mth(0, n))).toBe(true)
      }
      for (const m of sizes.filter((s) => s <= n)) {
        const proof = await consistencyProof(m, n, reader)
        expect(verifyConsistency(m, n, proof, tree.mth(0, m), tree.mth(0, n))).toBe(true)
      }
    }
  })

  it('reads each tile once per proof, and few tiles', async () => {
    const { store } = build(leaves, [N])
    const tiles = readerFor(store)
    const reader = tileHashReader(N, tiles)
    await inclusionProof(12345, N, reader)
    // The leaf's level-0 tile, level-1 tiles 0 and 1, and the level-2 tile: one read each.
    expect(tiles.reads).toBe(4)
  })

  it('restores the edge from the partial tiles read back from storage', () => {
    const { edge, store } = build(leaves, [69_000])
    const restored = edgeFromTiles(69_000, [...store.values()])
    expect(restored.tiles.map(hex)).toEqual(edge.tiles.map(hex))
    const a = appendToEdge(edge, leaves.slice(69_000))
    const b = appendToEdge(restored, leaves.slice(69_000))
    expect(hex(edgeRoot(a.edge))).toBe(hex(edgeRoot(b.edge)))
    expect(hex(edgeRoot(b.edge))).toBe(hex(tree.mth(0, N)))
  })

  it('reports a missing partial tile as CORRUPT', () => {
    const { store } = build(leaves, [300])
    const without = [...store.values()].filter((t) => !(t.tile.level === 0 && t.tile.index === 1))
    try {
      edgeFromTiles(300, without)
      expect.fail('accepted')
    } catch (e) {
      expect(isTlogError(e, 'CORRUPT')).toBe(true)
    }
  })

  it('expands a tile into every complete subtree hash, level by level', () => {
    const ref = new RefTree(leaves.slice(0, 256))
    for (const width of [1, 2, 13, 128, 255, 256]) {
      const levels = expandTile(new Uint8Array(Buffer.concat(leaves.slice(0, width))))
      for (let k = 0; 2 ** k <= width; k++) {
        const n = Math.floor(width / 2 ** k)
        expect(levels[k]!.length, `width ${width} level ${k}`).toBe(n * 32)
        for (let j = 0; j < n; j++) expect(hex(levels[k]!.subarray(j * 32, j * 32 + 32))).toBe(hex(ref.mth(j * 2 ** k, (j + 1) * 2 ** k)))
      }
      expect(levels.length).toBe(Math.floor(Math.log2(width)) + 1)
    }
  })

  it('maps nodes to the tile and slice that hold them', () => {
    expect(tileForNode({ level: 0, index: 300 }, 70000)).toEqual({ tile: { level: 0, index: 1, width: 256 }, offset: 44, count: 1 })
    expect(tileForNode({ level: 9, index: 0 }, 70000)).toEqual({ tile: { level: 1, index: 0, width: 256 }, offset: 0, count: 2 })
    expect(tileForNode({ level: 3, index: 8749 }, 70000)).toEqual({ tile: { level: 0, index: 273, width: 112 }, offset: 104, count: 8 })
    expect(() => tileForNode({ level: 3, index: 8750 }, 70000)).toThrow(RangeError)
  })
})

describe('entry bundles', () => {
  it('round-trips entries with uint16 length prefixes', () => {
    const entries = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(300).fill(9), new Uint8Array(65535)]
    const b = encodeEntryBundle(entries)
    expect(b.length).toBe(entries.reduce((n, e) => n + 2 + e.length, 0))
    expect(Array.from(b.subarray(0, 2))).toEqual([0, 3])
    expect(parseEntryBundle(b, 4).map((e) => e.length)).toEqual([3, 0, 300, 65535])
  })

  it('refuses truncated bundles, a wrong count and more than 256 entries', () => {
    const b = encodeEntryBundle([new Uint8Array([1, 2, 3])])
    for (const bad of [b.subarray(0, 1), b.subarray(0, 4)]) {
      expect(() => parseEntryBundle(bad)).toThrow(/truncated/)
    }
    expect(() => parseEntryBundle(b, 2)).toThrow(/want 2/)
    expect(() => parseEntryBundle(encodeEntryBundle(Array.from({ length: 257 }, () => new Uint8Array(1))))).toThrow(/256/)
    expect(() => encodeEntryBundle([new Uint8Array(65536)])).toThrow(RangeError)
  })
})
