/** A client-side view of a log over HTTP, using core code only (not the server's proof path). */
import {
  CompactRange,
  TILE_WIDTH,
  bytesEqual,
  leafHash,
  parseEntryBundle,
  tileHashReader,
  tilePath,
  type HashReader,
  type TileRef,
} from '../../src/core/index.ts'

export async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`)
  return new Uint8Array(await res.arrayBuffer())
}

/** A HashReader over the log's tiles for a tree of `size`. */
export function httpHashReader(base: string, size: number): HashReader {
  return tileHashReader(size, {
    readTiles: (refs: readonly TileRef[]) => Promise.all(refs.map((t) => fetchBytes(`${base}/${tilePath(t)}`))),
  })
}

/**
 * Downloads every entry bundle of a tree of `size`, checks each entry against
 * its level-0 tile hash, and returns the entries and the root they hash to.
 */
export async function downloadTree(base: string, size: number): Promise<{ entries: Uint8Array[]; root: Uint8Array }> {
  const entries: Uint8Array[] = []
  const c = new CompactRange()
  for (let n = 0; n * TILE_WIDTH < size; n++) {
    const width = Math.min(TILE_WIDTH, size - n * TILE_WIDTH)
    const [bundle, tile] = await Promise.all([
      fetchBytes(`${base}/${tilePath({ level: 'entries', index: n, width })}`),
      fetchBytes(`${base}/${tilePath({ level: 0, index: n, width })}`),
    ])
    parseEntryBundle(bundle, width).forEach((e, i) => {
      const h = leafHash(e)
      if (!bytesEqual(h, tile.subarray(i * 32, i * 32 + 32))) throw new Error(`entry ${n * TILE_WIDTH + i} does not match its tile`)
      c.append(h)
      entries.push(e)
    })
  }
  return { entries, root: c.root() }
}
