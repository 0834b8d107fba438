import { TILE_WIDTH, parseEntry, parseEntryBundle, tilePath, toHex, type SignedRevocation } from '../core/index.ts'
import { decodeStatement, type DecodedStatement } from '../verify/index.ts'

/**
 * Reads a log over its public read API only: GET /checkpoint, the
 * tlog-tiles entry bundles, and GET /proof/<index>. The same reads any
 * other page may make, since the log sends CORS headers on them.
 */

/** A revocation entry, decoded for people (not verified). */
export interface DecodedRevocation {
  /** The revoked subject (an identity, or a namespace ending in `/` or `:`) and key (hex). */
  subject: string
  key: string
  /** The revoker's clock, and the earliest suspected compromise, ms since the epoch. */
  time: number
  since?: number
  reason: string
  /** Who signed it: the subject of the revoker's own credential, or undefined for a trusted issuer key (empty chain). */
  revoker?: string
  /** The revoker's key, hex. */
  revokerKey: string
}

/** One logged entry, decoded when it is an action statement or a revocation. */
export interface LoggedEntry {
  index: number
  /** The decoded statement, for an action statement. */
  statement?: DecodedStatement
  /** The decoded revocation, for a revocation entry. */
  revocation?: DecodedRevocation
  /** Why it could not be decoded. */
  problem?: string
}

/** Largest response body the console reads: a checkpoint or proof is a few KB, a bundle of 256 entries at most 4 MiB. */
const MAX_BODY = 4 * 1024 * 1024 + 512

/** A reader of one log's public read endpoints. */
export class LogClient {
  readonly #base: string
  readonly #bundles = new Map<string, Promise<Uint8Array[]>>()

  /** `base` is the log's URL prefix, where /checkpoint is served. */
  constructor(base: string) {
    this.#base = base.endsWith('/') ? base : `${base}/`
  }

  /** Returns the log's URL prefix, ending in `/`. */
  get base(): string {
    return this.#base
  }

  /** Returns the published checkpoint note. */
  async checkpoint(): Promise<string> {
    return new TextDecoder().decode(await this.#get('checkpoint'))
  }

  /** Returns the entry's .tlog-proof against the log's published checkpoint. */
  async proof(index: number): Promise<string> {
    return new TextDecoder().decode(await this.#get(`proof/${index}`))
  }

  /** Returns the entries `from` to `to - 1` (in index order) of a tree of `treeSize`, reading whole bundles. */
  async entries(from: number, to: number, treeSize: number): Promise<LoggedEntry[]> {
    const out: LoggedEntry[] = []
    for (let b = Math.floor(from / TILE_WIDTH); b * TILE_WIDTH < to; b++) {
      const bundle = await this.bundle(b, treeSize)
      for (let i = Math.max(from, b * TILE_WIDTH); i < Math.min(to, (b + 1) * TILE_WIDTH); i++) out.push(decodeEntry(i, bundle[i - b * TILE_WIDTH]!))
    }
    return out
  }

  /** Returns the entries of bundle `n` of a tree of `treeSize` (a partial bundle for the last one). */
  bundle(n: number, treeSize: number): Promise<Uint8Array[]> {
    const width = Math.min(TILE_WIDTH, treeSize - n * TILE_WIDTH)
    if (width < 1) throw new RangeError(`bundle ${n} is beyond the tree of size ${treeSize}`)
    const path = tilePath({ level: 'entries', index: n, width })
    let p = this.#bundles.get(path)
    if (p === undefined) {
      p = this.#get(path).then((bytes) => parseEntryBundle(bytes, width))
      // A failed read is not kept: the next view tries again.
      p.catch(() => this.#bundles.delete(path))
      this.#bundles.set(path, p)
    }
    return p
  }

  async #get(path: string): Promise<Uint8Array> {
    const res = await fetch(this.#base + path, { cache: 'no-store' })
    const body = new Uint8Array(await res.arrayBuffer())
    if (body.length > MAX_BODY) throw new Error(`${path}: the log sent more than ${MAX_BODY} bytes`)
    if (!res.ok) throw new Error(`${path}: the log answered ${res.status} ${errorText(body)}`)
    return body
  }
}

/** Returns the message of an error body (JSON `{code, message}` from the log), short and on one line. */
function errorText(body: Uint8Array): string {
  const t = new TextDecoder().decode(body.subarray(0, 500))
  try {
    const j = JSON.parse(t) as { code?: unknown; message?: unknown }
    if (typeof j.message === 'string') return `${String(j.code)}: ${j.message}`
  } catch {
    // not JSON: show the text itself
  }
  return t.replace(/\s+/g, ' ').trim()
}

/** Returns the entry decoded (by its content type), or with the reason it is neither an action statement nor a revocation. */
export function decodeEntry(index: number, bytes: Uint8Array): LoggedEntry {
  try {
    const e = parseEntry(bytes)
    return e.kind === 'statement' ? { index, statement: decodeStatement(e.statement) } : { index, revocation: decodeRevocation(e.revocation) }
  } catch (e) {
    return { index, problem: e instanceof Error ? e.message : String(e) }
  }
}

/** Returns a parsed revocation in the console's plain form. */
export function decodeRevocation(r: SignedRevocation): DecodedRevocation {
  const v = r.revocation
  const out: DecodedRevocation = { subject: v.subject, key: toHex(v.key), time: v.time, reason: v.reason, revokerKey: toHex(r.kid) }
  if (v.since !== undefined) out.since = v.since
  if (r.credentials[0] !== undefined) out.revoker = r.credentials[0].subject
  return out
}
