import type { Readable } from 'node:stream'
import { gzip } from 'node:zlib'
import { promisify } from 'node:util'
import { Hono, type Context } from 'hono'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import {
  MAX_ENTRY_SIZE,
  TlogError,
  checkStatement,
  decodeCbor,
  encodeCbor,
  isTlogError,
  leafHash,
  parseCheckpoint,
  parseDecimal,
  parseNote,
  parseStatement,
  parseTilePath,
  tlogProofText,
  type CborMap,
  type CredentialCache,
  type TrustedIssuers,
} from '../core/index.ts'
import type { LogStore } from '../storage/index.ts'
import { addedJsonBytes } from './added-json.ts'
import type { ConsolePage } from './console-page.ts'
import { RETRY_AFTER_SECONDS, STATUS_OF } from './http-errors.ts'
import type { LogMetrics } from './metrics.ts'
import type { LogReader } from './reader.ts'
import type { Sequenced, Sequencer } from './sequencer.ts'

const gzipAsync = promisify(gzip)

/** The checkpoints the log publishes: with witnesses, only those that meet the quorum. */
export interface CheckpointSource {
  /** The checkpoint GET /checkpoint serves (with its cosignatures). */
  published(): string
  /** Resolves with the published checkpoint once one covers `treeSize`; rejects OVERLOADED after `timeoutMs`. */
  waitWitnessed(treeSize: number, timeoutMs: number): Promise<string>
  /** The published checkpoint of exactly `treeSize`, if there is one. */
  publishedAt(treeSize: number): Promise<string | undefined>
}

/** What the log's HTTP app needs. */
export interface LogAppDeps {
  sequencer: Sequencer
  store: LogStore
  reader: LogReader
  issuers: TrustedIssuers
  credentialCache: CredentialCache
  metrics: LogMetrics
  checkpoints: CheckpointSource
  /** The log's clock, in ms since the epoch (a dependency so tests can submit fixed vectors). */
  now: () => number
  /** Largest accepted difference between a statement's time and the clock, in ms. */
  maxSkewMs: number
  /** Longest wait of `?wait=witnessed`, in ms. */
  witnessWaitMs?: number
  /**
   * Most statements in flight (received, not yet answered) across POST /add
   * and /add-batch; beyond it the log answers 503 at once. This, not the
   * clients' manners, bounds the memory submissions can take.
   */
  maxInFlight?: number
  /** Where unexpected errors are reported. */
  logError?: (err: unknown) => void
  /** The web console served at `/`; without it `/` is 404. */
  consolePage?: ConsolePage
}

const COSE_TYPE = 'application/cose'
const CBOR_TYPE = 'application/cbor'
/** Most statements in one POST /add-batch. */
export const MAX_BATCH_ITEMS = 1024
/** Largest POST /add-batch body. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024
const IMMUTABLE = 'public, max-age=31536000, immutable'

/**
 * Returns the log's Hono app: statement submission, the tlog-tiles read API,
 * proofs, metrics and health. Handlers parse, call one domain function and
 * encode; errors are TlogErrors mapped to statuses in one place.
 */
export function createLogApp(deps: LogAppDeps): Hono {
  const app = new Hono()
  const { metrics } = deps
  const witnessWaitMs = deps.witnessWaitMs ?? 10_000
  const maxInFlight = deps.maxInFlight ?? 8192
  let inFlight = 0
  /** Runs `f` counting `n` statements in flight, or refuses at once when that would pass the bound. */
  const admit = async <T>(n: number, f: () => Promise<T>): Promise<T> => {
    if (n > maxInFlight) throw new TlogError('TOO_LARGE', `this log takes at most ${maxInFlight} statements at once; send smaller batches`)
    if (inFlight + n > maxInFlight) {
      throw new TlogError('OVERLOADED', `the log is processing ${inFlight} statements, its limit; retry shortly`)
    }
    inFlight += n
    try {
      return await f()
    } finally {
      inFlight -= n
    }
  }

  app.use('*', async (c, next) => {
    await next()
    const code = c.res.headers.get('actlog-error') ?? ''
    metrics.responses.inc({ status: String(c.res.status), code })
  })

  /**
   * Parses the entry, then returns where the log already holds it, or checks
   * it and sequences it. The parsed statement lives only as long as this
   * call's check: a submission waiting for its batch holds just the entry and
   * its hash (in-flight memory is what the collector copies and promotes).
   */
  const admitEntry = async (entry: Uint8Array, leaf: Uint8Array): Promise<Sequenced> => {
    const statement = parseStatement(entry)
    // A statement already in the log is answered as it was the first time,
    // however old it is now: resubmission is how clients recover lost replies.
    const checkedAt = deps.sequencer.generation
    const known = await deps.sequencer.lookup(entry, leaf)
    if (known !== undefined) return known
    const skew = statement.statement.time - deps.now()
    if (Math.abs(skew) > deps.maxSkewMs) {
      throw new TlogError(
        'STALE',
        `statement time is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the log's clock (at most ${deps.maxSkewMs / 1000} s allowed); check the actor's clock`,
      )
    }
    await checkStatement(statement, { issuers: deps.issuers, cache: deps.credentialCache })
    return deps.sequencer.submit(entry, leaf, checkedAt)
  }

  /**
   * Checks and sequences one statement (or finds it already logged) and
   * returns its index, checkpoint and .tlog-proof, its head written for a
   * JSON reply with `json`. Throws TlogError.
   */
  const addEntry = async (entry: Uint8Array, waitWitnessed: boolean, json: boolean): Promise<Added> => {
    const leaf = leafHash(entry)
    const seq = await admitEntry(entry, leaf)
    metrics.submissions.inc({ result: seq.duplicate ? 'duplicate' : 'sequenced' })
    let checkpoint = seq.checkpoint
    let treeSize = seq.treeSize
    if (waitWitnessed) {
      checkpoint = await deps.checkpoints.waitWitnessed(seq.index + 1, witnessWaitMs)
      treeSize = parseCheckpoint(parseNote(checkpoint).text).treeSize
    }
    return { seq, checkpoint, proofHead: await deps.reader.tlogProofHead(seq.index, treeSize, entry, json) }
  }

  // The read endpoints are public and safe for any page to read (a
  // partner's dashboard, the console opened from disk). The write endpoints
  // get no CORS headers: no other site's page may submit through a
  // visitor's browser.
  const readCors = cors({ origin: '*', allowMethods: ['GET', 'HEAD'] })
  for (const path of ['/checkpoint', '/tile/*', '/proof/*']) app.use(path, readCors)

  if (deps.consolePage !== undefined) {
    const page = deps.consolePage
    app.get('/', (c) =>
      c.html(page.html, 200, {
        'Content-Security-Policy': page.csp,
        'Cache-Control': 'no-cache',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
      }),
    )
  }

  app.post('/add', async (c) => {
    requireType(c, COSE_TYPE, 'the statement')
    const cbor = wantsCbor(c)
    const added = await admit(1, async () => addEntry(await readCapped(c, MAX_ENTRY_SIZE, 'a statement'), c.req.query('wait') === 'witnessed', !cbor))
    if (cbor) return c.body(copy(encodeCbor(addedCbor(added))), 200, { 'Content-Type': CBOR_TYPE })
    return c.body(addedJson(added), 200, { 'Content-Type': 'application/json' })
  })

  app.post('/add-batch', async (c) => {
    requireType(c, CBOR_TYPE, 'the batch (a CBOR array of statements, each a byte string)')
    // Decoding copies each statement out: the body is not kept while they wait.
    const items = decodeCbor(await readCapped(c, MAX_BATCH_BYTES, 'a batch'), { maxDepth: 1 })
    if (!Array.isArray(items) || items.length === 0 || items.length > MAX_BATCH_ITEMS || !items.every((x) => x instanceof Uint8Array)) {
      throw new TlogError('MALFORMED', `a batch is a CBOR array of 1 to ${MAX_BATCH_ITEMS} byte strings, each one statement`)
    }
    const wait = c.req.query('wait') === 'witnessed'
    const cbor = wantsCbor(c)
    // Each statement is acknowledged, deduplicated and refused on its own.
    // For JSON, each result becomes its bytes as soon as it is known: a
    // result waiting for the rest of its batch then holds no strings for the
    // collector to copy.
    const results = await admit(items.length, () =>
      Promise.all(
        (items as Uint8Array[]).map((entry) =>
          addEntry(entry, wait, !cbor).then(
            (a): BatchResult | Uint8Array => (cbor ? a : addedJson(a)),
            (err: unknown): BatchResult | Uint8Array => {
              if (!isTlogError(err)) deps.logError?.(err)
              const e = isTlogError(err) ? { code: err.code, message: err.message } : { code: 'INTERNAL', message: 'internal error; the log operator has the details' }
              return cbor ? e : jsonBytesOf(e)
            },
          ),
        ),
      ),
    )
    if (cbor) {
      const out = (results as BatchResult[]).map((r) => ('seq' in r ? addedCbor(r) : new Map<string, string>([['code', r.code], ['message', r.message]])))
      return c.body(copy(encodeCbor(out)), 200, { 'Content-Type': CBOR_TYPE })
    }
    return c.body(jsonArray('{"results":[', results as Uint8Array[], ']}'), 200, { 'Content-Type': 'application/json' })
  })

  app.get('/checkpoint', (c) => {
    c.header('Cache-Control', 'public, max-age=2')
    return c.body(deps.checkpoints.published(), 200, { 'Content-Type': 'text/plain; charset=utf-8' })
  })

  app.get('/tile/*', async (c) => {
    const t = parseTilePath(c.req.path.slice(1))
    const data = await deps.reader.tile(t, deps.sequencer.treeSize)
    c.header('Cache-Control', IMMUTABLE)
    c.header('Content-Type', 'application/octet-stream')
    if (t.level === 'entries') {
      c.header('Vary', 'Accept-Encoding')
      if (/\bgzip\b/.test(c.req.header('accept-encoding') ?? '')) {
        c.header('Content-Encoding', 'gzip')
        const z = (await deps.reader.gzippedBundle(t, data)) ?? new Uint8Array(await gzipAsync(data))
        return c.body(copy(z))
      }
    }
    return c.body(copy(data))
  })

  app.get('/proof/:index', async (c) => {
    const index = parseDecimal(c.req.param('index'), 'index')
    const sizeParam = c.req.query('size')
    let checkpoint: string
    if (sizeParam !== undefined) {
      const size = parseDecimal(sizeParam, 'size')
      const found = (await deps.checkpoints.publishedAt(size)) ?? (c.req.query('wait') === 'witnessed' ? undefined : await deps.sequencer.checkpointAt(size))
      if (found === undefined) throw new TlogError('NOT_FOUND', `the log has no witnessed checkpoint of size ${size}`)
      checkpoint = found
    } else if (c.req.query('wait') === 'witnessed') {
      checkpoint = await deps.checkpoints.waitWitnessed(index + 1, witnessWaitMs)
    } else {
      checkpoint = deps.checkpoints.published()
    }
    const treeSize = parseCheckpoint(parseNote(checkpoint).text).treeSize
    if (index >= treeSize) throw new TlogError('NOT_FOUND', `index ${index} is not in the checkpoint of size ${treeSize}`)
    c.header('Content-Type', 'text/plain; charset=utf-8')
    return c.body(await deps.reader.tlogProof(index, treeSize, checkpoint))
  })

  app.get('/metrics', async (c) => {
    metrics.queueDepth.set(deps.sequencer.queueDepth)
    metrics.entries.set(deps.sequencer.treeSize)
    return c.body(await metrics.text(), 200, { 'Content-Type': metrics.registry.contentType })
  })

  app.get('/healthz', (c) => {
    const ok = !deps.sequencer.stopped
    const body: Record<string, unknown> = { status: ok ? 'ok' : 'stopped', treeSize: deps.sequencer.treeSize }
    if (!ok) body.reason = deps.sequencer.stopReason
    return c.json(body, ok ? 200 : 503)
  })

  app.notFound(() => {
    throw new TlogError('NOT_FOUND', 'no such endpoint')
  })

  app.onError((err, c) => errorResponse(err, c, deps.logError))
  return app
}

/**
 * Returns the request body, refusing (TOO_LARGE) as soon as it passes `max`
 * bytes: a declared Content-Length above it is refused before reading, and a
 * body streamed without one is cut off at the cap. Reads the Node request
 * directly when the Node adapter runs the app (constructing a Web Request
 * costs more than the rest of the request's parsing), else the Web stream.
 */
async function readCapped(c: Context, max: number, what: string): Promise<Uint8Array> {
  const tooLarge = (): TlogError => new TlogError('TOO_LARGE', `${what} is at most ${max} bytes`)
  const declared = c.req.header('content-length')
  if (declared !== undefined && Number(declared) > max) throw tooLarge()
  const incoming = (c.env as { incoming?: Readable } | undefined)?.incoming
  const chunks: Uint8Array[] = []
  let size = 0
  const add = (chunk: Uint8Array): void => {
    size += chunk.length
    if (size > max) throw tooLarge()
    chunks.push(chunk)
  }
  if (incoming !== undefined && typeof incoming.on === 'function') {
    await new Promise<void>((resolve, reject) => {
      incoming.on('data', (chunk: Uint8Array) => {
        try {
          add(chunk)
        } catch (e) {
          incoming.pause()
          incoming.removeAllListeners('data')
          reject(e)
        }
      })
      incoming.once('end', () => resolve())
      incoming.once('error', reject)
      incoming.once('aborted', () => reject(new TlogError('MALFORMED', 'the client closed the connection before sending the whole body')))
    })
  } else {
    const body = c.req.raw.body
    if (body !== null) {
      const reader = body.getReader()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        try {
          add(value)
        } catch (e) {
          await reader.cancel()
          throw e
        }
      }
    }
  }
  const out = new Uint8Array(size)
  let o = 0
  for (const ch of chunks) {
    out.set(ch, o)
    o += ch.length
  }
  return out
}

function copy(d: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(d.length)
  out.set(d)
  return out
}

/** A sequenced statement: where it is, the checkpoint proving it, and its .tlog-proof up to that checkpoint (encodeTlogProofHead, for JSON in a JSON reply). */
interface Added {
  seq: Sequenced
  checkpoint: string
  proofHead: Uint8Array
}

/** One result of a batch: an Added, or the error refusing that statement. */
type BatchResult = Added | { code: string; message: string }

function wantsCbor(c: Context): boolean {
  return /\bapplication\/cbor\b/.test(c.req.header('accept') ?? '')
}

function addedCbor(a: Added): CborMap {
  return new Map<string, number | string | Uint8Array>([
    ['index', a.seq.index],
    ['leafHash', a.seq.leafHash],
    ['checkpoint', a.checkpoint],
    ['proof', tlogProofText(a.proofHead, a.checkpoint)],
  ])
}

function addedJson(a: Added): Uint8Array<ArrayBuffer> {
  return addedJsonBytes(a.seq.index, a.seq.leafHash, a.checkpoint, a.proofHead)
}


/**
 * JSON handed to the adapter as bytes: a string body would be measured and
 * converted again on the way to the socket.
 */
function jsonBytesOf(value: unknown): Uint8Array<ArrayBuffer> {
  return utf8Encoder.encode(JSON.stringify(value))
}

/** Returns `open`, the items separated by commas, and `close`, as one byte array: the JSON.stringify of the array. */
function jsonArray(open: string, items: readonly Uint8Array[], close: string): Uint8Array<ArrayBuffer> {
  let size = open.length + close.length + Math.max(0, items.length - 1)
  for (const it of items) size += it.length
  const out = new Uint8Array(size)
  let o = utf8Encoder.encodeInto(open, out).written
  items.forEach((it, i) => {
    if (i > 0) out[o++] = 0x2c
    out.set(it, o)
    o += it.length
  })
  utf8Encoder.encodeInto(close, out.subarray(o))
  return out
}

const utf8Encoder = new TextEncoder()

function requireType(c: Context, type: string, what: string): void {
  const got = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  if (got !== type) throw new TlogError('UNSUPPORTED_MEDIA_TYPE', `send ${what} as ${type} (got ${got === '' ? 'no content type' : got})`)
}

/** Maps an error to the JSON body `{code, message}` and the status of its code. */
export function errorResponse(err: unknown, c: Context, logError?: (err: unknown) => void): Response {
  let code: string
  let message: string
  let status: number
  if (isTlogError(err)) {
    code = err.code
    message = err.message
    status = STATUS_OF[err.code]
  } else if (err instanceof HTTPException) {
    status = err.status
    code = status === 413 ? 'TOO_LARGE' : status === 404 ? 'NOT_FOUND' : 'MALFORMED'
    message = err.message || 'bad request'
  } else {
    logError?.(err)
    code = 'INTERNAL'
    message = 'internal error; the log operator has the details'
    status = 500
  }
  if (status === 500 && isTlogError(err)) logError?.(err)
  const headers: Record<string, string> = { 'actlog-error': code }
  if (status === 503) headers['Retry-After'] = String(RETRY_AFTER_SECONDS)
  // The request body may be partly unread: close the connection rather than
  // let a keep-alive client send its next request into the rest of it.
  if (status === 413 || status === 415) headers['Connection'] = 'close'
  return c.json({ code, message }, status as 400, headers)
}
