/**
 * A deliberately naive RFC 6962 §2.1 implementation written straight from the
 * RFC's recursive definitions (MTH, PATH, PROOF/SUBPROOF), with Node's own
 * SHA-256. It shares no code with src/core, so tests can compare against it.
 * MTH is memoised per range so exhaustive tests stay fast.
 */
import { createHash } from 'node:crypto'

export function sha(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

export function refLeafHash(entry: Uint8Array): Uint8Array {
  return sha(new Uint8Array([0]), entry)
}

function k(n: number): number {
  let x = 1
  while (x * 2 < n) x *= 2
  return x
}

/** A tree over fixed leaf hashes; every method follows the RFC text on D[lo:hi]. */
export class RefTree {
  #memo = new Map<string, Uint8Array>()
  constructor(readonly leaves: Uint8Array[]) {}

  /** MTH(D[lo:hi]). */
  mth(lo: number, hi: number): Uint8Array {
    const key = `${lo}:${hi}`
    const got = this.#memo.get(key)
    if (got !== undefined) return got
    let h: Uint8Array
    if (hi - lo === 0) h = sha()
    else if (hi - lo === 1) h = this.leaves[lo]!
    else {
      const s = k(hi - lo)
      h = sha(new Uint8Array([1]), this.mth(lo, lo + s), this.mth(lo + s, hi))
    }
    this.#memo.set(key, h)
    return h
  }

  /** PATH(m, D[0:n]). */
  path(m: number, n: number, lo = 0): Uint8Array[] {
    const size = n - lo
    if (size <= 1) return []
    const s = k(size)
    if (m - lo < s) return [...this.path(m, lo + s, lo), this.mth(lo + s, n)]
    return [...this.path(m, n, lo + s), this.mth(lo, lo + s)]
  }

  /** PROOF(m, D[0:n]); empty for m = 0 or m = n. */
  consistency(m: number, n: number): Uint8Array[] {
    if (m === 0 || m === n) return []
    return this.#subproof(m, 0, n, true)
  }

  #subproof(m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
    if (m === hi - lo) return b ? [] : [this.mth(lo, hi)]
    const s = k(hi - lo)
    if (m <= s) return [...this.#subproof(m, lo, lo + s, b), this.mth(lo + s, hi)]
    return [...this.#subproof(m - s, lo + s, hi, false), this.mth(lo, lo + s)]
  }

  /** A HashReader view (counting reads) over the perfect subtrees of this tree. */
  reader(): MemoryReader {
    return new MemoryReader(this)
  }
}

/** A HashReader over a RefTree, counting how many hashes and calls it served. */
export class MemoryReader {
  reads = 0
  calls = 0
  constructor(readonly tree: RefTree) {}
  async readHashes(ids: readonly { level: number; index: number }[]): Promise<Uint8Array[]> {
    this.calls++
    this.reads += ids.length
    return ids.map(({ level, index }) => {
      const size = 2 ** level
      const start = index * size
      if (start + size > this.tree.leaves.length) throw new Error(`node ${level}/${index} beyond the tree`)
      return this.tree.mth(start, start + size)
    })
  }
}

export function leavesOf(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => refLeafHash(new TextEncoder().encode(`leaf ${i}`)))
}
