/**
 * Commit batches with real tiles and bundles, for tests of the log store
 * without a sequencer above it.
 */
import { EMPTY_EDGE, HASH_SIZE, appendToEdge, edgeRoot, encodeEntryBundle, leafHash, toBase64, utf8, type TileData, type TileEdge } from '../../src/core/index.ts'
import type { CommitBatch } from '../../src/storage/index.ts'

/** Builds the commit batches of a log grown to each of `sizes` in turn, with real tiles and bundles. */
export function growLog(sizes: number[]): { batches: CommitBatch[]; entries: Uint8Array[] } {
  const entries: Uint8Array[] = []
  const batches: CommitBatch[] = []
  let edge: TileEdge = EMPTY_EDGE
  for (const size of sizes) {
    const start = edge.size
    const fresh: Uint8Array[] = []
    for (let i = start; i < size; i++) {
      const e = utf8(`entry ${i}: ${'x'.repeat(i % 17)}`)
      entries.push(e)
      fresh.push(e)
    }
    const hashes = fresh.map((e) => leafHash(e))
    const appended = appendToEdge(edge, hashes)
    edge = appended.edge
    const tiles: TileData[] = [...appended.written]
    for (let b = Math.floor(start / 256); b * 256 < size; b++) {
      const bundle = entries.slice(b * 256, Math.min(size, (b + 1) * 256))
      tiles.push({ tile: { level: 'entries', index: b, width: bundle.length }, data: encodeEntryBundle(bundle) })
    }
    const rootHash = edgeRoot(edge)
    batches.push({
      tree: { treeSize: size, rootHash },
      tiles,
      dedup: hashes.map((h, i) => ({ leafHash: h, index: start + i })),
      checkpoint: checkpointNote(size, rootHash),
    })
  }
  return { batches, entries }
}

export function checkpointNote(size: number, rootHash: Uint8Array = new Uint8Array(HASH_SIZE)): string {
  return `test.example/log\n${size}\n${toBase64(rootHash)}\n\n\u2014 test.example/log AAAAAA==\n`
}

