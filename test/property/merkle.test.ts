import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { consistencyProof, inclusionProof, verifyConsistency, verifyInclusion } from '../../src/core/merkle.ts'
import { EMPTY_EDGE, appendToEdge, edgeRoot, tileHashReader, type TileData, type TileRef } from '../../src/core/tiles.ts'
import { RefTree, leavesOf } from '../helpers/reference-merkle.ts'

const N = 5000
const leaves = leavesOf(N)
const tree = new RefTree(leaves)

// Tiles for the whole tree, appended in uneven batches, so proofs come from tiles as in the log.
const store = new Map<string, TileData>()
let edge = EMPTY_EDGE
for (let pos = 0; pos < N; ) {
  const b = Math.min(N - pos, 1 + ((pos * 7919) % 613))
  const r = appendToEdge(edge, leaves.slice(pos, pos + b))
  for (const w of r.written) store.set(`${w.tile.level}/${w.tile.index}`, w)
  edge = r.edge
  pos += b
}
const tiles = {
  async readTiles(refs: readonly TileRef[]): Promise<Uint8Array[]> {
    return refs.map((t) => store.get(`${t.level}/${t.index}`)!.data.slice(0, t.width * 32))
  },
}

function flipBit(hs: Uint8Array[], bit: number): Uint8Array[] {
  const out = hs.map((h) => h.slice())
  const i = Math.floor(bit / 256) % out.length
  out[i]![(bit % 256) >> 3]! ^= 1 << (bit & 7)
  return out
}

describe('random trees of a few thousand leaves', () => {
  it('the tiled tree has the RFC 6962 root', () => {
    expect(Buffer.from(edgeRoot(edge)).toString('hex')).toBe(Buffer.from(tree.mth(0, N)).toString('hex'))
  })

  it('inclusion proofs from tiles verify, and one flipped bit fails them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: N }).chain((n) => fc.tuple(fc.constant(n), fc.nat(n - 1), fc.nat())), async ([n, i, bit]) => {
        // Proofs for any size are built from tiles of the final tree, sized for n.
        const proof = await inclusionProof(i, n, tileHashReader(n, tiles))
        const root = tree.mth(0, n)
        expect(verifyInclusion(leaves[i]!, i, n, proof, root)).toBe(true)
        if (proof.length > 0) expect(verifyInclusion(leaves[i]!, i, n, flipBit(proof, bit), root)).toBe(false)
      }),
      { numRuns: 500 },
    )
  })

  it('consistency proofs from tiles verify, and one flipped bit fails them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2, max: N }).chain((n) => fc.tuple(fc.integer({ min: 1, max: n - 1 }), fc.constant(n), fc.nat())), async ([m, n, bit]) => {
        const proof = await consistencyProof(m, n, tileHashReader(n, tiles))
        expect(verifyConsistency(m, n, proof, tree.mth(0, m), tree.mth(0, n))).toBe(true)
        expect(verifyConsistency(m, n, flipBit(proof, bit), tree.mth(0, m), tree.mth(0, n))).toBe(false)
      }),
      { numRuns: 500 },
    )
  })
})
