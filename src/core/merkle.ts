import { bytesEqual } from './bytes.ts'
import { TlogError } from './errors.ts'
import { EMPTY_ROOT, HASH_SIZE, nodeHash } from './hash.ts'

/**
 * RFC 6962 §2.1 Merkle trees: root hashes of any range, inclusion and
 * consistency proofs, generated from a narrow hash reader and verified
 * without one.
 *
 * Storage never holds "the tree". It holds hashes of *perfect* subtrees
 * (2^level leaves starting at a multiple of 2^level), which is what
 * tlog-tiles serves. Any RFC 6962 subtree hash is a fold of O(log n) of
 * them, so a proof costs one batched read of O(log n) stored hashes.
 *
 * Sizes and indices are numbers (safe integers); halving uses division, not
 * bit shifts, because shifts truncate to 32 bits.
 */

/** A perfect subtree: the 2^level leaves starting at index * 2^level. */
export interface NodeId {
  level: number
  index: number
}

/**
 * Reads stored hashes of perfect subtrees. Implementations back it with
 * tiles (storage, HTTP) or memory. MUST return one 32-byte hash per id, in
 * order, and MUST throw rather than return a wrong hash.
 */
export interface HashReader {
  readHashes(ids: readonly NodeId[]): Promise<Uint8Array[]>
}

const MAX_PROOF_LENGTH = 63

function assertSize(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a safe non-negative integer`)
}

/** Returns the largest power of two strictly below `n` (n > 1): the RFC 6962 split point k. */
export function splitPoint(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/**
 * Returns the perfect subtrees that make up the range [start, end), largest
 * first, for a range that is an RFC 6962 subtree of some tree (start is a
 * multiple of the largest power of two not above end - start, which every
 * range used by proofs satisfies). Folding their hashes right to left gives
 * MTH(D[start:end]).
 */
export function rangeNodes(start: number, end: number): NodeId[] {
  assertSize(start, 'start')
  assertSize(end, 'end')
  if (end < start) throw new RangeError('range end before start')
  const out: NodeId[] = []
  let lo = start
  while (lo < end) {
    let size = 1
    let level = 0
    // Grow while the subtree stays aligned at lo and inside the range.
    while (lo % (size * 2) === 0 && lo + size * 2 <= end) {
      size *= 2
      level++
    }
    out.push({ level, index: lo / size })
    lo += size
  }
  return out
}

/** Returns the RFC 6962 hash of the range whose perfect subtrees hash to `hashes` (largest first). */
export function foldRange(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT
  let acc = hashes[hashes.length - 1]!
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i]!, acc)
  return acc
}

/** Returns the ranges whose hashes form the inclusion proof of `index` in a tree of `size`, leaf end first. */
export function inclusionRanges(index: number, size: number): [number, number][] {
  assertSize(index, 'index')
  assertSize(size, 'size')
  if (index >= size) throw new RangeError('index is not below size')
  const ranges: [number, number][] = []
  let lo = 0
  let hi = size
  while (hi - lo > 1) {
    const k = splitPoint(hi - lo)
    if (index - lo < k) {
      ranges.push([lo + k, hi])
      hi = lo + k
    } else {
      ranges.push([lo, lo + k])
      lo = lo + k
    }
  }
  return ranges.reverse()
}

/**
 * Returns the ranges whose hashes form the consistency proof from `oldSize`
 * to `newSize` (RFC 6962 §2.1.2 SUBPROOF), in proof order. Empty when the
 * sizes are equal or oldSize is 0.
 */
export function consistencyRanges(oldSize: number, newSize: number): [number, number][] {
  assertSize(oldSize, 'oldSize')
  assertSize(newSize, 'newSize')
  if (oldSize > newSize) throw new RangeError('oldSize is above newSize')
  if (oldSize === 0 || oldSize === newSize) return []
  const ranges: [number, number][] = []
  let lo = 0
  let hi = newSize
  let complete = true
  // Walk down from the whole new tree; [lo, hi) holds oldSize - lo leaves of the old tree.
  while (oldSize !== hi) {
    const k = splitPoint(hi - lo)
    if (oldSize - lo <= k) {
      ranges.push([lo + k, hi])
      hi = lo + k
    } else {
      ranges.push([lo, lo + k])
      lo = lo + k
      complete = false
    }
  }
  if (!complete) ranges.push([lo, hi])
  return ranges.reverse()
}

/** Returns MTH(D[a:b]) of each range [a, b), read through `reader` in one call. */
export async function rangeHashes(ranges: readonly [number, number][], reader: HashReader): Promise<Uint8Array[]> {
  const plan = ranges.map(([a, b]) => rangeNodes(a, b))
  const ids = plan.flat()
  const hashes = ids.length === 0 ? [] : await reader.readHashes(ids)
  if (hashes.length !== ids.length) throw new TlogError('CORRUPT', 'hash reader returned the wrong number of hashes')
  let i = 0
  return plan.map((nodes) => {
    const part = hashes.slice(i, i + nodes.length)
    i += nodes.length
    for (const h of part) {
      if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) throw new TlogError('CORRUPT', 'hash reader returned a malformed hash')
    }
    return foldRange(part)
  })
}

/** Returns MTH(D[start:end]) read through `reader`. */
export async function rangeHash(start: number, end: number, reader: HashReader): Promise<Uint8Array> {
  const [h] = await rangeHashes([[start, end]], reader)
  return h!
}

/** Returns the root hash of the tree of `size` leaves read through `reader`. */
export async function rootHash(size: number, reader: HashReader): Promise<Uint8Array> {
  return size === 0 ? EMPTY_ROOT : rangeHash(0, size, reader)
}

/** Returns the RFC 6962 §2.1.1 inclusion proof of leaf `index` in the tree of `size` leaves. */
export async function inclusionProof(index: number, size: number, reader: HashReader): Promise<Uint8Array[]> {
  return rangeHashes(inclusionRanges(index, size), reader)
}

/** Returns the RFC 6962 §2.1.2 consistency proof from `oldSize` to `newSize`. */
export async function consistencyProof(oldSize: number, newSize: number, reader: HashReader): Promise<Uint8Array[]> {
  return rangeHashes(consistencyRanges(oldSize, newSize), reader)
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE
}

/**
 * Returns the root that an inclusion proof implies for `leaf` at `index` in a
 * tree of `size`, or undefined when the proof has the wrong shape
 * (RFC 9162 §2.1.3.2).
 */
export function rootFromInclusionProof(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Uint8Array | undefined {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) return undefined
  if (!isHash(leaf) || proof.length > MAX_PROOF_LENGTH || !proof.every(isHash)) return undefined
  let fn = index
  let sn = size - 1
  let r = leaf
  for (const p of proof) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = fn / 2
        sn = Math.floor(sn / 2)
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : undefined
}

/** Returns whether `proof` proves `leaf` is at `index` in the tree of `size` with root `root`. */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  const r = rootFromInclusionProof(leaf, index, size, proof)
  return r !== undefined && isHash(root) && bytesEqual(r, root)
}

/** Like verifyInclusion, but throws BAD_PROOF when the proof does not verify. */
export function checkInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  if (!verifyInclusion(leaf, index, size, proof, root)) {
    throw new TlogError('BAD_PROOF', `inclusion proof for index ${index} in tree of size ${size} does not verify`)
  }
}

/**
 * Returns whether `proof` proves the tree of `oldSize` with `oldRoot` is a
 * prefix of the tree of `newSize` with `newRoot` (RFC 9162 §2.1.4.2).
 * From size 0 only the empty proof is accepted (as tlog-witness requires),
 * and equal sizes need an empty proof and equal roots.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): boolean {
  if (!Number.isSafeInteger(oldSize) || !Number.isSafeInteger(newSize) || oldSize < 0 || oldSize > newSize) return false
  if (!isHash(oldRoot) || !isHash(newRoot) || proof.length > MAX_PROOF_LENGTH || !proof.every(isHash)) return false
  if (oldSize === 0) return proof.length === 0 && (newSize > 0 || bytesEqual(newRoot, EMPTY_ROOT)) && bytesEqual(oldRoot, EMPTY_ROOT)
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot)
  let path = proof
  if (isPowerOfTwo(oldSize)) path = [oldRoot, ...proof]
  if (path.length === 0) return false
  let fn = oldSize - 1
  let sn = newSize - 1
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0]!
  let sr = path[0]!
  for (let i = 1; i < path.length; i++) {
    const c = path[i]!
    if (sn === 0) return false
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      while (fn % 2 === 0 && fn !== 0) {
        fn = fn / 2
        sn = Math.floor(sn / 2)
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot)
}

/** Like verifyConsistency, but throws BAD_PROOF when the proof does not verify. */
export function checkConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): void {
  if (!verifyConsistency(oldSize, newSize, proof, oldRoot, newRoot)) {
    throw new TlogError('BAD_PROOF', `consistency proof from size ${oldSize} to ${newSize} does not verify`)
  }
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && splitPoint(n * 2) === n
}

/**
 * An in-memory right edge of a growing tree (a "compact range" from 0):
 * at most one perfect-subtree hash per level, so O(log n) memory however
 * large the tree. Used to recompute a root from a stream of leaves.
 */
export class CompactRange {
  #size = 0
  // #nodes[i] is the hash of a perfect subtree; levels decrease left to right.
  #nodes: { level: number; hash: Uint8Array }[] = []

  /** The number of leaves appended so far. */
  get size(): number {
    return this.#size
  }

  /** Appends one leaf hash. */
  append(leaf: Uint8Array): void {
    if (!isHash(leaf)) throw new RangeError('leaf must be a 32-byte hash')
    let node = { level: 0, hash: leaf }
    for (;;) {
      const last = this.#nodes[this.#nodes.length - 1]
      if (last === undefined || last.level !== node.level) break
      this.#nodes.pop()
      node = { level: node.level + 1, hash: nodeHash(last.hash, node.hash) }
    }
    this.#nodes.push(node)
    this.#size++
  }

  /** Returns the root hash of the leaves appended so far. */
  root(): Uint8Array {
    return foldRange(this.#nodes.map((n) => n.hash))
  }

  /** Returns the perfect-subtree hashes of the right edge, largest first (what rangeNodes(0, size) names). */
  hashes(): Uint8Array[] {
    return this.#nodes.map((n) => n.hash)
  }

  /** Returns an independent copy. */
  clone(): CompactRange {
    const c = new CompactRange()
    c.#size = this.#size
    c.#nodes = this.#nodes.slice()
    return c
  }

  /** Returns a compact range restored from the hashes of rangeNodes(0, size), largest first. */
  static fromHashes(size: number, hashes: readonly Uint8Array[]): CompactRange {
    const nodes = rangeNodes(0, size)
    if (nodes.length !== hashes.length || !hashes.every(isHash)) throw new RangeError('hashes do not match the size')
    const c = new CompactRange()
    c.#size = size
    c.#nodes = nodes.map((n, i) => ({ level: n.level, hash: hashes[i]! }))
    return c
  }
}
