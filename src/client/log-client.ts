import { encodeCbor, isSize } from '../core/index.ts'

/**
 * An error answered by the log, or met on the way to it. `code` is the
 * log's stable code (`OVERLOADED`, `UNTRUSTED`, `STALE`, ... see the README's
 * error table) when the log answered with one, else one of the client's own:
 * `UNREACHABLE` (no connection), `TIMEOUT` (no answer within `timeoutMs`),
 * `BAD_REPLY` (an answer this client cannot read) or `HTTP_<status>`.
 */
export class LogError extends Error {
  override name = 'LogError'
  /** The HTTP status, or 0 when the log never answered. */
  readonly status: number
  /** The stable code (see the class description). */
  readonly code: string
  /** How long the log asked to wait before retrying, in ms, when it said (Retry-After). */
  readonly retryAfterMs: number | undefined
  constructor(status: number, code: string, message: string, opts: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.status = status
    this.code = code
    this.retryAfterMs = opts.retryAfterMs
  }
}

/** A statement the log acknowledged: where it is and the proof of it. */
export interface Added {
  /** The entry's index in the log. */
  index: number
  /** The entry's RFC 6962 leaf hash, lowercase hex. */
  leafHash: string
  /** The signed checkpoint (note text) the proof is against. */
  checkpoint: string
  /** The `.tlog-proof` text (c2sp.org/tlog-proof): verify it offline with verifyActionProof. */
  proof: string
}

/** How a LogClient talks to its log. */
export interface LogClientOptions {
  /** The log's base URL, e.g. `https://log.example/` (a trailing slash is ignored). */
  url: string
  /** Retries after the first attempt of each call (default 5). Only 503, 429, timeouts and unreachable logs are retried. */
  retries?: number
  /** How long one attempt may take, in ms, reply body included (default 30,000). */
  timeoutMs?: number
  /** The first backoff step, in ms (default 250); it doubles per retry, with full jitter. */
  backoffMs?: number
  /** The largest backoff step, in ms (default 10,000). */
  maxBackoffMs?: number
  /** The longest Retry-After honoured, in ms (default 60,000); a log asking for more fails the call instead. */
  maxRetryAfterMs?: number
  /** Aborts every call of this client. */
  signal?: AbortSignal
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch
  /** Random numbers in [0, 1) for jitter (default Math.random; a parameter so tests can fix it). */
  random?: () => number
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts this call (its retries and waits too); the call rejects with the signal's reason. */
  signal?: AbortSignal
}

/** Options of submit and submitBatch. */
export interface SubmitOptions extends CallOptions {
  /** Answer only once a checkpoint meeting the log's witness quorum covers the entry. */
  waitWitnessed?: boolean
}

/** Options of proof. */
export interface ProofOptions extends CallOptions {
  /** The tree size of the checkpoint to prove against (default: the latest published). */
  treeSize?: number
}

const RETRY_STATUSES = new Set([429, 503])
const RETRY_CODES = new Set(['OVERLOADED', 'RATE_LIMITED', 'TIMEOUT', 'UNREACHABLE'])

/**
 * A client of one actlog log over HTTP: submit statements, wait for witnessed
 * proofs, fetch proofs. Isomorphic (fetch and AbortSignal only).
 *
 * Every call retries on 503 and 429 (waiting at least what Retry-After says,
 * plus jitter), on timeouts and on an unreachable log, with exponential
 * backoff and full jitter, at most `retries` times; other failures throw a
 * LogError carrying the log's stable code at once. Submitting again is safe:
 * the log answers a statement it holds with the same index.
 */
export class LogClient {
  readonly url: string
  readonly #retries: number
  readonly #timeoutMs: number
  readonly #backoffMs: number
  readonly #maxBackoffMs: number
  readonly #maxRetryAfterMs: number
  readonly #signal: AbortSignal | undefined
  readonly #fetch: typeof fetch
  readonly #random: () => number

  constructor(o: LogClientOptions) {
    let url: URL
    try {
      url = new URL(o.url)
    } catch {
      throw new TypeError(`the log URL ${JSON.stringify(o.url)} is not a URL`)
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`the log URL ${o.url} must be http: or https:`)
    this.url = o.url.replace(/\/+$/, '')
    const count = (v: number | undefined, dflt: number, what: string): number => {
      if (v === undefined) return dflt
      if (!isSize(v)) throw new RangeError(`${what} must be a non-negative integer`)
      return v
    }
    this.#retries = count(o.retries, 5, 'retries')
    this.#timeoutMs = count(o.timeoutMs, 30_000, 'timeoutMs')
    this.#backoffMs = count(o.backoffMs, 250, 'backoffMs')
    this.#maxBackoffMs = count(o.maxBackoffMs, 10_000, 'maxBackoffMs')
    this.#maxRetryAfterMs = count(o.maxRetryAfterMs, 60_000, 'maxRetryAfterMs')
    this.#signal = o.signal
    this.#fetch = o.fetch ?? ((input, init) => fetch(input, init))
    this.#random = o.random ?? Math.random
  }

  /**
   * Returns where the log holds the statement (`entry`: the bytes signAction
   * returned) and its proof. With `waitWitnessed`, the proof's checkpoint
   * meets the log's witness quorum.
   */
  async submit(entry: Uint8Array, o: SubmitOptions = {}): Promise<Added> {
    if (!(entry instanceof Uint8Array)) throw new TypeError('submit takes the statement bytes')
    const reply = await this.#call(`/add${o.waitWitnessed === true ? '?wait=witnessed' : ''}`, o, {
      method: 'POST',
      headers: { 'content-type': 'application/cose', accept: 'application/json' },
      body: entry as Uint8Array<ArrayBuffer>,
    })
    return added(await json(reply), this.url)
  }

  /**
   * Returns, in order, what became of each statement of a batch (one POST
   * /add-batch; at most 1,024 statements and 4 MiB): its Added, or the
   * LogError the log refused it with. Statements refused only because the
   * log was busy (OVERLOADED, RATE_LIMITED) are sent again, in a smaller
   * batch, under the same retry rules as a whole call.
   */
  async submitBatch(entries: readonly Uint8Array[], o: SubmitOptions = {}): Promise<(Added | LogError)[]> {
    if (!Array.isArray(entries) || !entries.every((e) => e instanceof Uint8Array)) throw new TypeError('submitBatch takes an array of statement bytes')
    const results: (Added | LogError)[] = new Array<Added | LogError>(entries.length)
    let pending = entries.map((_, i) => i)
    const path = `/add-batch${o.waitWitnessed === true ? '?wait=witnessed' : ''}`
    for (let round = 0; pending.length > 0; round++) {
      const reply = await this.#call(path, o, {
        method: 'POST',
        headers: { 'content-type': 'application/cbor', accept: 'application/json' },
        body: encodeCbor(pending.map((i) => entries[i]!)) as Uint8Array<ArrayBuffer>,
      })
      const body = (await json(reply)) as { results?: unknown }
      if (!Array.isArray(body.results) || body.results.length !== pending.length) throw badReply(`${this.url}/add-batch did not answer one result per statement`)
      const again: number[] = []
      body.results.forEach((r: unknown, k) => {
        const i = pending[k]!
        if (r !== null && typeof r === 'object' && 'code' in r) {
          const e = r as { code: unknown; message: unknown }
          const err = new LogError(reply.status, String(e.code), String(e.message))
          results[i] = err
          if (RETRY_CODES.has(err.code)) again.push(i)
        } else {
          results[i] = added(r, this.url)
        }
      })
      if (again.length === 0 || round >= this.#retries) break
      pending = again
      await sleep(this.#backoff(round, undefined), this.#combined(o.signal))
    }
    return results
  }

  /**
   * Returns the `.tlog-proof` text of the entry at `index` against the log's
   * latest published checkpoint (with witnesses, one meeting the quorum), or
   * against the checkpoint of `treeSize`. Throws LogError NOT_FOUND when the
   * entry is not (yet) in that checkpoint.
   */
  async proof(index: number, o: ProofOptions = {}): Promise<string> {
    if (!isSize(index)) throw new RangeError('index must be a non-negative integer')
    if (o.treeSize !== undefined && !isSize(o.treeSize)) throw new RangeError('treeSize must be a non-negative integer')
    const res = await this.#call(`/proof/${index}${o.treeSize === undefined ? '' : `?size=${o.treeSize}`}`, o, { method: 'GET' })
    return res.text()
  }

  /**
   * Returns the `.tlog-proof` text of the entry at `index` once a checkpoint
   * meeting the log's witness quorum covers it. The log holds each request
   * until then or for its own limit (then 503, which is retried); bound the
   * whole wait with `signal` (e.g. `AbortSignal.timeout(60_000)`).
   */
  async waitWitnessed(index: number, o: CallOptions = {}): Promise<string> {
    if (!isSize(index)) throw new RangeError('index must be a non-negative integer')
    const res = await this.#call(`/proof/${index}?wait=witnessed`, o, { method: 'GET' })
    return res.text()
  }

  /** Returns the log's latest published checkpoint (signed note text). */
  async checkpoint(o: CallOptions = {}): Promise<string> {
    const res = await this.#call('/checkpoint', o, { method: 'GET' })
    return res.text()
  }

  /** Returns the user's signal for a call: the client's and the call's, combined. */
  #combined(signal: AbortSignal | undefined): AbortSignal | undefined {
    if (signal === undefined) return this.#signal
    if (this.#signal === undefined) return signal
    return AbortSignal.any([this.#signal, signal])
  }

  /** Returns the delay before retry `attempt` (0 = the first retry): Retry-After if longer, else full jitter over the doubling step. */
  #backoff(attempt: number, retryAfterMs: number | undefined): number {
    // Clients told the same Retry-After would all come back at once: spread them over one base step beyond it.
    if (retryAfterMs !== undefined) return retryAfterMs + Math.floor(this.#random() * this.#backoffMs)
    const step = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** Math.min(attempt, 30))
    return Math.floor(this.#random() * step)
  }

  /** Returns the log's 2xx response to `path`, retrying as the class describes; the body is not read yet. */
  async #call(path: string, o: CallOptions, init: RequestInit): Promise<Response> {
    const user = this.#combined(o.signal)
    const url = `${this.url}${path}`
    for (let attempt = 0; ; attempt++) {
      user?.throwIfAborted()
      const timeout = AbortSignal.timeout(this.#timeoutMs)
      const signal = user === undefined ? timeout : AbortSignal.any([user, timeout])
      let err: LogError
      try {
        const res = await this.#fetch(url, { ...init, signal })
        // The body is read by the caller under the same signal: buffer it
        // here so a body that stalls counts against this attempt's timeout.
        if (res.ok) return new Response(await res.arrayBuffer(), { status: res.status, headers: res.headers })
        err = await failure(res, url)
      } catch (e) {
        if (user?.aborted === true) throw user.reason
        if (timeout.aborted) err = new LogError(0, 'TIMEOUT', `no answer from ${url} within ${this.#timeoutMs} ms`, { cause: e })
        else err = new LogError(0, 'UNREACHABLE', `cannot reach the log at ${url}: ${causeText(e)}`, { cause: e })
      }
      if (!(RETRY_STATUSES.has(err.status) || RETRY_CODES.has(err.code)) || attempt >= this.#retries) throw err
      if (err.retryAfterMs !== undefined && err.retryAfterMs > this.#maxRetryAfterMs) throw err
      await sleep(this.#backoff(attempt, err.retryAfterMs), user)
    }
  }
}

function causeText(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : e
  return cause instanceof Error ? cause.message : String(cause)
}

function badReply(message: string): LogError {
  return new LogError(200, 'BAD_REPLY', message)
}

async function json(res: Response): Promise<unknown> {
  try {
    return JSON.parse(await res.text()) as unknown
  } catch (e) {
    throw new LogError(res.status, 'BAD_REPLY', `the log's reply is not JSON: ${(e as Error).message}`, { cause: e })
  }
}

/** Returns the reply as Added, checking its shape. */
function added(v: unknown, log: string): Added {
  const r = v as Partial<Added> | null
  if (
    r === null ||
    typeof r !== 'object' ||
    !isSize(r.index) ||
    typeof r.leafHash !== 'string' ||
    !/^[0-9a-f]{64}$/.test(r.leafHash) ||
    typeof r.checkpoint !== 'string' ||
    typeof r.proof !== 'string'
  ) {
    throw badReply(`${log} answered a submission without index, leafHash, checkpoint and proof`)
  }
  return { index: r.index, leafHash: r.leafHash, checkpoint: r.checkpoint, proof: r.proof }
}

/**
 * Returns Retry-After in ms: delta-seconds or an IMF-fixdate HTTP date (RFC
 * 9110 §10.2.3, §5.6.7); undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined
  const v = value.trim()
  if (/^[0-9]{1,9}$/.test(v)) return Number(v) * 1000
  if (!/^[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT$/.test(v)) return undefined
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : Math.max(0, t - now)
}

/** Returns the LogError for a non-2xx response: the log's `{code, message}` when it sent one. */
async function failure(res: Response, url: string): Promise<LogError> {
  let code = `HTTP_${res.status}`
  let message = `${url} answered ${res.status}${res.statusText === '' ? '' : ` ${res.statusText}`}`
  const text = await res.text()
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown }
    if (typeof body.code === 'string') code = body.code
    if (typeof body.message === 'string') message = body.message
  } catch {
    // Not a JSON error body (a proxy's page, say): keep the status line.
  }
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'))
  return new LogError(res.status, code, message, retryAfterMs === undefined ? {} : { retryAfterMs })
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal!.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
