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
import { Agent as HttpAgent, get as httpGet } from 'node:http'
import { Agent as HttpsAgent, get as httpsGet } from 'node:https'
import { gunzip } from 'node:zlib'

// Larger than any tile, entry bundle (256 entries of at most 16 KiB) or checkpoint.
const MAX_BODY = 8 * 1024 * 1024
const MAX_REDIRECTS = 5
const REDIRECTS = [301, 302, 303, 307, 308]
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 8 })
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 8 })

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
        let res = await this.#request(url)
        // Mirrors of a log's tiles may redirect (to https, to a CDN): follow a few hops.
        for (let hop = 0; res.location !== undefined; hop++) {
          if (hop === MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects`)
          res = await this.#request(new URL(res.location, url).toString())
        }
        if (res.status >= 500 || res.status === 429) throw new Error(`HTTP ${res.status}`)
        return { status: res.status, body: res.body }
      } catch (e) {
        last = e
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt))
      }
    }
    throw new Error(`GET ${url} failed: ${last instanceof Error ? last.message : String(last)}`, { cause: last })
  }

  /**
   * One GET over node:http(s) with kept-alive connections, asking for gzip.
   * (fetch cost the audit about a millisecond per request in streams and
   * promises.) Bodies and their decompression are bounded: a log that sends
   * more than any tile, bundle or checkpoint can be is refused, not buffered.
   */
  #request(url: string): Promise<{ status: number; body: Uint8Array; location?: string }> {
    return new Promise((resolve, reject) => {
      const u = new URL(url)
      const secure = u.protocol === 'https:'
      if (!secure && u.protocol !== 'http:') return reject(new Error(`${u.protocol} is not http: or https:`))
      const req = (secure ? httpsGet : httpGet)(u, { agent: secure ? httpsAgent : httpAgent, headers: { 'accept-encoding': 'gzip' }, timeout: this.#timeoutMs }, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (d: Buffer) => {
          size += d.length
          if (size > MAX_BODY) {
            req.destroy(new Error(`the response is larger than ${MAX_BODY} bytes`))
            return
          }
          chunks.push(d)
        })
        res.on('error', reject)
        res.on('end', () => {
          const raw = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
          const status = res.statusCode ?? 0
          if (REDIRECTS.includes(status) && res.headers.location !== undefined) return resolve({ status, body: new Uint8Array(0), location: res.headers.location })
          if (res.headers['content-encoding'] === undefined || res.headers['content-encoding'] === 'identity') {
            return resolve({ status, body: new Uint8Array(raw.buffer, raw.byteOffset, raw.length) })
          }
          if (res.headers['content-encoding'] !== 'gzip') return reject(new Error(`unexpected content-encoding ${res.headers['content-encoding']}`))
          gunzip(raw, { maxOutputLength: MAX_BODY }, (err, out) => {
            if (err !== null) return reject(new Error(`the gzip body does not decompress (within ${MAX_BODY} bytes): ${err.message}`))
            resolve({ status, body: new Uint8Array(out.buffer, out.byteOffset, out.length) })
          })
        })
      })
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.#timeoutMs} ms`)))
      req.on('error', reject)
    })
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
