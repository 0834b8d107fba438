import { gzip } from 'node:zlib'
import type { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { Hono, type Context } from 'hono'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import { TlogError, isTlogError, parseCheckpoint, parseDecimal, parseNote, parseTilePath } from '../core/index.ts'
import type { LogStore } from '../storage/index.ts'
import type { ConsolePage } from './console-page.ts'
import { Admission, type AdmissionDeps, type RequestBody } from './admission.ts'
import { RETRY_AFTER_SECONDS, STATUS_OF } from './http-errors.ts'
import type { CheckpointSource } from './published.ts'
import { RateLimited } from './quotas.ts'
import { addedCbor, addedJson, batchCbor, batchItemJson, batchJson, copy } from './replies.ts'

const gzipAsync = promisify(gzip)

export type { CheckpointSource } from './published.ts'
export { MAX_BATCH_BYTES, MAX_BATCH_ITEMS } from './admission.ts'

/** What the log's HTTP app needs: admission's deps, and the store and checkpoints the read API serves. */
export interface LogAppDeps extends AdmissionDeps {
  store: LogStore
  checkpoints: CheckpointSource
  /** The web console served at `/`; without it `/` is 404. */
  consolePage?: ConsolePage
}

const COSE_TYPE = 'application/cose'
const CBOR_TYPE = 'application/cbor'
const JSON_TYPE = 'application/json'
const IMMUTABLE = 'public, max-age=31536000, immutable'

/**
 * Returns the log's Hono app: statement submission, the tlog-tiles read API,
 * proofs, metrics and health. Handlers parse the request, call one domain
 * function (submissions: Admission) and encode the reply (replies.ts);
 * errors are TlogErrors mapped to statuses in one place.
 */
export function createLogApp(deps: LogAppDeps): Hono {
  const app = new Hono()
  const { metrics } = deps
  const admission = new Admission(deps)
  const witnessWaitMs = deps.witnessWaitMs ?? 10_000

  app.use('*', async (c, next) => {
    await next()
    const code = c.res.headers.get('actlog-error') ?? ''
    metrics.responses.inc({ status: String(c.res.status), code })
  })

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
    const added = await admission.add(bodyOf(c), c.req.query('wait') === 'witnessed')
    if (wantsCbor(c)) return c.body(addedCbor(added), 200, { 'Content-Type': CBOR_TYPE })
    return c.body(addedJson(added), 200, { 'Content-Type': JSON_TYPE })
  })

  app.post('/add-batch', async (c) => {
    requireType(c, CBOR_TYPE, 'the batch (a CBOR array of statements, each a byte string)')
    const wait = c.req.query('wait') === 'witnessed'
    // Each statement is acknowledged, deduplicated and refused on its own.
    if (wantsCbor(c)) return c.body(batchCbor(await admission.addBatch(bodyOf(c), wait, (r) => r)), 200, { 'Content-Type': CBOR_TYPE })
    return c.body(batchJson(await admission.addBatch(bodyOf(c), wait, batchItemJson)), 200, { 'Content-Type': JSON_TYPE })
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

/** The request's body, not read yet: admission reads it within its deadline and cap. */
function bodyOf(c: Context): RequestBody {
  const incoming = (c.env as { incoming?: Readable } | undefined)?.incoming
  const declaredLength = c.req.header('content-length')
  if (incoming !== undefined && typeof incoming.on === 'function') return { declaredLength, incoming, stream: null }
  return { declaredLength, stream: c.req.raw.body }
}

function wantsCbor(c: Context): boolean {
  return /\bapplication\/cbor\b/.test(c.req.header('accept') ?? '')
}

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
  if (err instanceof RateLimited) headers['Retry-After'] = String(err.retryAfterSeconds)
  // The request body may be partly unread: close the connection rather than
  // let a keep-alive client send its next request into the rest of it.
  if (status === 408 || status === 413 || status === 415) headers['Connection'] = 'close'
  return c.json({ code, message }, status as 400, headers)
}
