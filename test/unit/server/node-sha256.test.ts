/** node:crypto SHA-256 behind core's hash functions gives exactly what @noble/hashes gives. */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { CompactRange, fromHex, leafHash, sha256, toHex, useSha256 } from '../../../src/core/index.ts'
import { nodeSha256 } from '../../../src/server/node-sha256.ts'
import { loadVectors } from '../../helpers/vectors.ts'

afterAll(() => useSha256(undefined))

describe('node:crypto SHA-256', () => {
  it('hashes any parts as the concatenation, into plain 32-byte Uint8Arrays', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 5 }), (parts) => {
        const joined = Uint8Array.from(parts.flatMap((p) => [...p]))
        const got = nodeSha256(parts)
        expect(got.constructor).toBe(Uint8Array)
        expect(got.length).toBe(32)
        expect(toHex(got)).toBe(toHex(nobleSha256(joined)))
      }),
      { numRuns: 2000 },
    )
  })

  it('hashes parts larger than its reused buffer, and beyond 64 KiB, the same way', () => {
    for (const sizes of [[1, 5000], [4096, 1], [40_000, 30_000], [3, 200]]) {
      const parts = sizes.map((n, k) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + k) & 0xff))
      const joined = Uint8Array.from(parts.flatMap((p) => [...p]))
      expect(toHex(nodeSha256(parts)), String(sizes)).toBe(toHex(nobleSha256(joined)))
    }
  })

  it('once installed, gives the RFC 6962 leaf hashes and tree roots of the published vectors', () => {
    useSha256(nodeSha256)
    const f = loadVectors<{ leaves: { dataHex: string; leafHashHex: string }[]; rootsBySize: { treeSize: number; rootHex: string }[] }>('rfc6962-merkle.json')
    expect(toHex(sha256(new Uint8Array(0)))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    const range = new CompactRange()
    const roots = new Map(f.rootsBySize.map((r) => [r.treeSize, r.rootHex]))
    expect(toHex(range.root())).toBe(roots.get(0))
    f.leaves.forEach((l, i) => {
      const lh = leafHash(fromHex(l.dataHex))
      expect(toHex(lh)).toBe(l.leafHashHex)
      range.append(lh)
      if (roots.has(i + 1)) expect(toHex(range.root()), `size ${i + 1}`).toBe(roots.get(i + 1))
    })
    useSha256(undefined)
  })
})
