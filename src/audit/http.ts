import {
  TILE_WIDTH,
  TlogError,
  parseEntryBundle,
  tileHashReader,
  tilePath,
  type ExpandedTileCache,
  type HashReader,
  type TileRef,
} from '../core/index.ts'

/**
 * The auditor's view of a log: tlog-tiles reads only (`/checkpoint` and
 * `/tile/...`), never a dynamic endpoint, so an auditor can follow a log
 * through any static mirror of its tiles.
 */
export class TileClient {
  readonly base: string
  readonly #timeoutMs: number
  readonly #retries: number
  readonly #cache = new Map<string, Promise<Uint8Array[]>>()

  constructor(base: string, opts: { timeoutMs?: number; retries?: number } = {}) {
    this.base = base.replace(/\/+$/, '')
    this.#timeoutMs = opts.timeoutMs ?? 30_000
    this.#retries = opts.retries ?? 3
  }

  /** GETs `url`, retrying transient failures; returns the body, or throws naming the URL. */
  async get(url: string): Promise<{ status: number; body: Uint8Array }> {
    let last: unknown
    for (let attempt = 0; attempt <= this.#retries; attempt++) {
      try {
        // fetch asks for gzip and decompresses entry bundles transparently.
        const res = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs) })
        const body = new Uint8Array(await res.arrayBuffer())
        if (res.status >= 500 || res.status === 429) throw new Error(`HTTP ${res.status}`)
        return { status: res.status, body }
      } catch (e) {
        last = e
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt))
      }
    }
    throw new Error(`GET ${url} failed: ${last instanceof Error ? last.message : String(last)}`, { cause: last })
  }

  async #getOk(url: string): Promise<Uint8Array> {
    const r = await this.get(url)
    if (r.status !== 200) throw new TlogError(r.status === 404 ? 'NOT_FOUND' : 'MALFORMED', `GET ${url}: HTTP ${r.status}`)
    return r.body
  }

  /** Returns the log's current checkpoint text. */
  async checkpoint(): Promise<string> {
    return new TextDecoder().decode(await this.#getOk(`${this.base}/checkpoint`))
  }

  /** Returns a hash tile, which MUST be exactly width × 32 bytes. */
  async tile(t: TileRef): Promise<Uint8Array> {
    const d = await this.#getOk(`${this.base}/${tilePath(t)}`)
    if (t.level !== 'entries' && d.length !== t.width * 32) {
      throw new TlogError('CORRUPT', `${tilePath(t)} has ${d.length} bytes, want ${t.width * 32}`)
    }
    return d
  }

  /** Returns the entries of entry bundle `index` of `width` entries (strictly parsed). */
  async bundle(index: number, width: number): Promise<Uint8Array[]> {
    const t: TileRef = { level: 'entries', index, width }
    return parseEntryBundle(await this.#getOk(`${this.base}/${tilePath(t)}`), width)
  }

  /** A HashReader over this log's tiles for a tree of `treeSize`, for consistency proofs. */
  hashReader(treeSize: number): HashReader {
    const cache: ExpandedTileCache = {
      get: (k) => this.#cache.get(k),
      set: (k, v) => {
        if (this.#cache.size > 256) this.#cache.clear()
        this.#cache.set(k, v)
      },
      delete: (k) => this.#cache.delete(k),
    }
    return tileHashReader(treeSize, { readTiles: (refs) => Promise.all(refs.map((t) => this.tile(t))) }, cache)
  }
}

/** Widths of the entry bundles that cover entries [from, to), in order. */
export function bundlesBetween(from: number, to: number): { index: number; width: number; start: number }[] {
  const out: { index: number; width: number; start: number }[] = []
  for (let index = Math.floor(from / TILE_WIDTH); index * TILE_WIDTH < to; index++) {
    out.push({ index, width: Math.min(TILE_WIDTH, to - index * TILE_WIDTH), start: index * TILE_WIDTH })
  }
  return out
}
