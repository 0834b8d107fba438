import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import { HTTPException } from 'hono/http-exception'
import {
  MAX_ADD_CHECKPOINT_BODY,
  TLOG_SIZE_CONTENT_TYPE,
  TlogError,
  encodeCosignatureResponse,
  encodeSizeBody,
  fromHex,
  isTlogError,
} from '../src/core/index.ts'
import { StoreWriteError } from '../src/storage/index.ts'
import type { WitnessMetrics } from './metrics.ts'
import { witnessPage } from './page.ts'
import { WITNESS_STATUS_OF, Witness, WitnessRefusal, type WitnessDeps } from './witness.ts'

/** What the witness's HTTP app needs: the witness's deps, with metrics required. */
export interface WitnessAppDeps extends WitnessDeps {
  metrics: WitnessMetrics
}

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 1

const TEXT = 'text/plain; charset=utf-8'
const ORIGIN_HASH = /^[0-9a-f]{64}$/

/**
 * Returns the witness's Hono app (c2sp.org/tlog-witness):
 *
 * - `POST /add-checkpoint`: body at most MAX_ADD_CHECKPOINT_BODY bytes
 *   (413); 200 with this witness's cosignature/v1 line(s); 400, 403, 404,
 *   409 (body: the stored size, `text/x.tlog.size`) and 422 as the spec
 *   says, in the order documented in witness.ts; 503 with Retry-After when
 *   the new state could not be written, 500 when the write may have landed.
 * - `GET /<lowercase hex SHA-256 of the origin>/checkpoint`: the latest
 *   checkpoint cosigned for that log (the monitoring API), `text/plain`;
 *   404 when there is none or the path is not such a hash.
 *   Any web page may read it (CORS): the log's console shows each witness's
 *   latest cosigned size beside the log's own.
 * - `GET /`: a page listing the logs witnessed and the latest cosigned size
 *   and time of each.
 * - `GET /metrics` (Prometheus) and `GET /healthz`.
 *
 * Error bodies are a plain-text message for the log's operator.
 */
export function createWitnessApp(deps: WitnessAppDeps): Hono {
  const witness = new Witness(deps)
  const { metrics } = deps
  const app = new Hono()

  app.use('*', async (c, next) => {
    await next()
    metrics.responses.inc({ status: String(c.res.status) })
  })

  app.post(
    '/add-checkpoint',
    bodyLimit({
      maxSize: MAX_ADD_CHECKPOINT_BODY,
      onError: () => {
        throw new TlogError('TOO_LARGE', `an add-checkpoint body is at most ${MAX_ADD_CHECKPOINT_BODY} bytes`)
      },
    }),
    async (c) => {
      const body = new Uint8Array(await c.req.arrayBuffer())
      const signatures = await witness.addCheckpoint(body)
      return c.body(encodeCosignatureResponse(signatures), 200, { 'Content-Type': TEXT })
    },
  )

  app.all('/add-checkpoint', (c) => c.body('add-checkpoint takes POST\n', 405, { 'Content-Type': TEXT, Allow: 'POST' }))

  app.get('/', async (c) => {
    const rows = await Promise.all(witness.origins.map(async (origin) => ({ origin, latest: await deps.state.latest(origin) })))
    return c.html(witnessPage(deps.cosigner.name, deps.cosigner.keyId, rows, deps.now()), 200, {
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    })
  })

  app.use('/:hash/checkpoint', cors({ origin: '*', allowMethods: ['GET', 'HEAD'] }))
  app.get('/:hash/checkpoint', async (c) => {
    const hash = c.req.param('hash')
    if (!ORIGIN_HASH.test(hash)) throw new TlogError('NOT_FOUND', 'the path must be /<lowercase hex SHA-256 of the log origin>/checkpoint')
    const note = await witness.latestCosigned(fromHex(hash))
    if (note === undefined) throw new TlogError('NOT_FOUND', `this witness has cosigned no checkpoint for the log with origin hash ${hash}`)
    // The latest cosigned checkpoint changes with every add-checkpoint:
    // monitors must never be served a stale copy from a cache.
    return c.body(note, 200, { 'Content-Type': TEXT, 'Cache-Control': 'no-store' })
  })

  app.get('/metrics', async (c) => {
    // Read back from the store on each scrape rather than trust a copy.
    await witness.refreshGauges()
    return c.body(await metrics.text(), 200, { 'Content-Type': metrics.registry.contentType })
  })

  app.get('/healthz', (c) => c.json({ status: 'ok', logs: witness.origins.length }))

  app.notFound(() => {
    throw new TlogError('NOT_FOUND', 'no such endpoint; a witness serves POST /add-checkpoint and GET /<hex SHA-256 of an origin>/checkpoint')
  })

  app.onError((err, c) => witnessErrorResponse(err, c, deps.logError))
  return app
}

/**
 * Returns the response for an error: a 409 carries the stored size as
 * `text/x.tlog.size` (tlog-witness clients parse it); every other error a
 * plain-text message. StoreWriteError maps to 503 with Retry-After when
 * nothing was written, and to 500 when the write may have landed (the next
 * request reads the stored state again, so it sees whichever it was).
 */
export function witnessErrorResponse(err: unknown, c: Context, logError?: (err: unknown) => void): Response {
  if (err instanceof WitnessRefusal && err.code === 'CONFLICT' && err.storedSize !== undefined) {
    return c.body(encodeSizeBody(err.storedSize), 409, { 'Content-Type': TLOG_SIZE_CONTENT_TYPE, 'actlog-error': err.code })
  }
  let status: number
  let code: string
  let message: string
  const headers: Record<string, string> = { 'Content-Type': TEXT }
  if (isTlogError(err)) {
    status = WITNESS_STATUS_OF[err.code]
    code = err.code
    message = err.message
    if (status === 500) logError?.(err)
  } else if (err instanceof StoreWriteError) {
    logError?.(err)
    if (err.persisted === false) {
      status = 503
      code = 'OVERLOADED'
      message = 'the witness could not store the checkpoint (nothing was written) and issued no cosignature; retry shortly'
    } else {
      status = 500
      code = 'INTERNAL'
      message = 'the witness could not confirm the checkpoint was stored and issued no cosignature; retry (it will read its stored state again)'
    }
  } else if (err instanceof HTTPException) {
    status = err.status
    code = status === 413 ? 'TOO_LARGE' : status === 404 ? 'NOT_FOUND' : 'MALFORMED'
    message = err.message || 'bad request'
  } else {
    logError?.(err)
    status = 500
    code = 'INTERNAL'
    message = 'internal error; the witness operator has the details'
  }
  if (status === 503) headers['Retry-After'] = String(RETRY_AFTER_SECONDS)
  // A body refused for its size is left unread: close the connection so a
  // keep-alive client does not send its next request on a socket the
  // server is about to drop while discarding the rest of that body.
  if (status === 413) headers.Connection = 'close'
  headers['actlog-error'] = code
  return c.body(`${message}\n`, status as 400, headers)
}
