import { describe, expect, it } from 'vitest'
import { EMPTY_ROOT } from '../../../src/core/hash.ts'
import {
  CompactRange,
  checkConsistency,
  checkInclusion,
  consistencyProof,
  inclusionProof,
  rangeNodes,
  rootFromInclusionProof,
  rootHash,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/core/merkle.ts'
import { isTlogError } from '../../../src/core/errors.ts'
import { RefTree, leavesOf } from '../../helpers/reference-merkle.ts'

/** Hex of a hash list: vitest's deep equality on typed arrays is too slow for 90,000 comparisons. */
function hx(hs: readonly Uint8Array[]): string {
  return hs.map((h) => Buffer.from(h).toString('hex')).join(',')
}

function flip(h: Uint8Array, bit = 0): Uint8Array {
  const c = h.slice()
  c[bit >> 3]! ^= 1 << (bit & 7)
  return c
}

const MAX = 300
const TAMPER_EXHAUSTIVE = 64
const leaves = leavesOf(MAX)
const tree = new RefTree(leaves)
const roots = Array.from({ length: MAX + 1 }, (_, n) => tree.mth(0, n))

describe('rangeNodes', () => {
  it('decomposes [0, n) into the perfect subtrees of the binary expansion of n', () => {
    expect(rangeNodes(0, 13)).toEqual([
      { level: 3, index: 0 },
      { level: 2, index: 2 },
      { level: 0, index: 12 },
    ])
    expect(rangeNodes(0, 0)).toEqual([])
    expect(rangeNodes(256, 300)).toEqual([
      { level: 5, index: 8 },
      { level: 3, index: 36 },
      { level: 2, index: 74 },
    ])
  })
})

describe('root hashes', () => {
  it('matches the RFC 6962 recursive definition for every size up to 300', async () => {
    const reader = tree.reader()
    for (let n = 0; n <= MAX; n++) expect(await rootHash(n, reader)).toEqual(roots[n])
  })

  it('reads O(log n) hashes in a single call per root', async () => {
    const reader = new RefTree(leavesOf(1000)).reader()
    await rootHash(999, reader)
    expect(reader.calls).toBe(1)
    expect(reader.reads).toBeLessThanOrEqual(10)
  })

  it('CompactRange gives the same root after every append', () => {
    const c = new CompactRange()
    expect(c.root()).toEqual(EMPTY_ROOT)
    for (let n = 1; n <= MAX; n++) {
      c.append(leaves[n - 1]!)
      expect(c.root()).toEqual(roots[n])
    }
    const restored = CompactRange.fromHashes(c.size, c.hashes())
    restored.append(leaves[0]!)
    c.append(leaves[0]!)
    expect(restored.root()).toEqual(c.root())
  })

  it('CompactRange.clone grows on its own: the original keeps its size and root', () => {
    const c = new CompactRange()
    for (let n = 0; n < 100; n++) c.append(leaves[n]!)
    const copy = c.clone()
    for (let n = 100; n < MAX; n++) copy.append(leaves[n]!)
    expect(c.size).toBe(100)
    expect(c.root()).toEqual(roots[100])
    expect(copy.size).toBe(MAX)
    expect(copy.root()).toEqual(roots[MAX])
  })
})

describe('inclusion proofs, exhaustive for every size 1..300 and every index', () => {
  it('generates the RFC 6962 PATH and verifies it', async () => {
    const reader = tree.reader()
    for (let n = 1; n <= MAX; n++) {
      for (let i = 0; i < n; i++) {
        const proof = await inclusionProof(i, n, reader)
        if (hx(proof) !== hx(tree.path(i, n))) expect.fail(`proof of ${i} in ${n} differs from RFC 6962 PATH`)
        if (!verifyInclusion(leaves[i]!, i, n, proof, roots[n]!)) expect.fail(`proof of ${i} in ${n} does not verify`)
      }
    }
  })

  it('needs O(log n) hash reads per proof, in one call', async () => {
    const reader = new RefTree(leavesOf(1024)).reader()
    await inclusionProof(517, 1023, reader)
    expect(reader.calls).toBe(1)
    expect(reader.reads).toBeLessThanOrEqual(2 * 10)
  })

  it('rejects every tampered proof up to size 64 and a sample above', async () => {
    const reader = tree.reader()
    let checked = 0
    for (let n = 1; n <= MAX; n++) {
      for (let i = 0; i < n; i++) {
        if (n > TAMPER_EXHAUSTIVE && (i * 31 + n) % 17 !== 0) continue
        const proof = await inclusionProof(i, n, reader)
        const root = roots[n]!
        const leaf = leaves[i]!
        const bad: [string, boolean][] = []
        for (let j = 0; j < proof.length; j++) {
          const p = proof.slice()
          p[j] = flip(p[j]!, (j * 13) % 256)
          bad.push([`hash ${j} flipped`, verifyInclusion(leaf, i, n, p, root)])
        }
        bad.push(['hash added', verifyInclusion(leaf, i, n, [...proof, leaf], root)])
        bad.push(['hash added first', verifyInclusion(leaf, i, n, [leaf, ...proof], root)])
        if (proof.length > 0) {
          bad.push(['last hash dropped', verifyInclusion(leaf, i, n, proof.slice(0, -1), root)])
          bad.push(['first hash dropped', verifyInclusion(leaf, i, n, proof.slice(1), root)])
        }
        if (i + 1 < n) bad.push(['index + 1', verifyInclusion(leaf, i + 1, n, proof, root)])
        if (i > 0) bad.push(['index - 1', verifyInclusion(leaf, i - 1, n, proof, root)])
        // A claimed size comes with that size's root, as in a checkpoint.
        if (n < MAX) bad.push(['size + 1', verifyInclusion(leaf, i, n + 1, proof, roots[n + 1]!)])
        if (i < n - 1) bad.push(['size - 1', verifyInclusion(leaf, i, n - 1, proof, roots[n - 1]!)])
        bad.push(['index = size', verifyInclusion(leaf, n, n, proof, root)])
        bad.push(['leaf flipped', verifyInclusion(flip(leaf), i, n, proof, root)])
        bad.push(['root flipped', verifyInclusion(leaf, i, n, proof, flip(root))])
        for (const [what, ok] of bad) {
          if (ok) {
            // A different size can have the very same path; only then may it verify.
            const m = what === 'size + 1' ? n + 1 : what === 'size - 1' ? n - 1 : -1
            const same = m > 0 && hx(tree.path(i, m)) === hx(proof)
            expect(same, `${what} accepted for index ${i} size ${n}`).toBe(true)
          }
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(20_000)
  })

  it('checkInclusion throws BAD_PROOF', async () => {
    const reader = tree.reader()
    const proof = await inclusionProof(3, 10, reader)
    expect(() => checkInclusion(leaves[3]!, 3, 10, proof, roots[10]!)).not.toThrow()
    try {
      checkInclusion(leaves[4]!, 3, 10, proof, roots[10]!)
      expect.fail('accepted')
    } catch (e) {
      expect(isTlogError(e, 'BAD_PROOF')).toBe(true)
    }
  })

  it('never accepts a proof for an out-of-range or unsafe index', () => {
    expect(rootFromInclusionProof(leaves[0]!, -1, 5, [])).toBeUndefined()
    expect(rootFromInclusionProof(leaves[0]!, 5, 5, [])).toBeUndefined()
    expect(rootFromInclusionProof(leaves[0]!, 0, 2 ** 60, [])).toBeUndefined()
    expect(verifyInclusion(leaves[0]!, 0, 1, [], roots[1]!)).toBe(true)
  })
})

describe('consistency proofs, exhaustive for every size 1..300 and every older size', () => {
  it('generates the RFC 6962 PROOF and verifies it', async () => {
    const reader = tree.reader()
    for (let n = 1; n <= MAX; n++) {
      for (let m = 0; m <= n; m++) {
        const proof = await consistencyProof(m, n, reader)
        if (hx(proof) !== hx(tree.consistency(m, n))) expect.fail(`proof ${m} -> ${n} differs from RFC 6962 PROOF`)
        if (!verifyConsistency(m, n, proof, roots[m]!, roots[n]!)) expect.fail(`proof ${m} -> ${n} does not verify`)
      }
    }
  })

  it('rejects every tampered proof up to size 64 and a sample above', async () => {
    const reader = tree.reader()
    let checked = 0
    for (let n = 1; n <= MAX; n++) {
      for (let m = 1; m < n; m++) {
        if (n > TAMPER_EXHAUSTIVE && (m * 29 + n) % 13 !== 0) continue
        const proof = await consistencyProof(m, n, reader)
        const a = roots[m]!
        const b = roots[n]!
        const bad: [string, boolean][] = []
        for (let j = 0; j < proof.length; j++) {
          const p = proof.slice()
          p[j] = flip(p[j]!, (j * 7) % 256)
          bad.push([`hash ${j} flipped`, verifyConsistency(m, n, p, a, b)])
        }
        bad.push(['hash added', verifyConsistency(m, n, [...proof, a], a, b)])
        bad.push(['hash added first', verifyConsistency(m, n, [a, ...proof], a, b)])
        bad.push(['last hash dropped', verifyConsistency(m, n, proof.slice(0, -1), a, b)])
        bad.push(['first hash dropped', verifyConsistency(m, n, proof.slice(1), a, b)])
        bad.push(['old root flipped', verifyConsistency(m, n, proof, flip(a), b)])
        bad.push(['new root flipped', verifyConsistency(m, n, proof, a, flip(b))])
        if (m + 1 < n) bad.push(['old size + 1', verifyConsistency(m + 1, n, proof, roots[m + 1]!, b)])
        if (m > 1) bad.push(['old size - 1', verifyConsistency(m - 1, n, proof, roots[m - 1]!, b)])
        if (n < MAX) bad.push(['new size + 1', verifyConsistency(m, n + 1, proof, a, roots[n + 1]!)])
        if (n - 1 > m) bad.push(['new size - 1', verifyConsistency(m, n - 1, proof, a, roots[n - 1]!)])
        for (const [what, ok] of bad) {
          if (ok) {
            // A size change may describe the same proof shape; accept only if the reference agrees.
            const [mm, nn] =
              what === 'old size + 1' ? [m + 1, n] : what === 'old size - 1' ? [m - 1, n] : what === 'new size + 1' ? [m, n + 1] : what === 'new size - 1' ? [m, n - 1] : [-1, -1]
            const same = mm >= 0 && hx(tree.consistency(mm, nn)) === hx(proof)
            expect(same, `${what} accepted for ${m} -> ${n}`).toBe(true)
          }
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(20_000)
  })

  it('from size 0 accepts only the empty proof, and equal sizes need equal roots', () => {
    expect(verifyConsistency(0, 5, [], EMPTY_ROOT, roots[5]!)).toBe(true)
    expect(verifyConsistency(0, 5, [roots[5]!], EMPTY_ROOT, roots[5]!)).toBe(false)
    expect(verifyConsistency(5, 5, [], roots[5]!, roots[5]!)).toBe(true)
    expect(verifyConsistency(5, 5, [], roots[5]!, roots[4]!)).toBe(false)
    expect(verifyConsistency(5, 5, [roots[1]!], roots[5]!, roots[5]!)).toBe(false)
    expect(verifyConsistency(6, 5, [], roots[6]!, roots[5]!)).toBe(false)
    expect(() => checkConsistency(5, 5, [], roots[5]!, roots[4]!)).toThrow(/consistency/)
  })
})
