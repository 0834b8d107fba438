import type { Readable } from 'node:stream'
import {
  MAX_ENTRY_SIZE,
  TlogError,
  checkStatement,
  concatBytes,
  decodeCbor,
  isTlogError,
  leafHash,
  parseCheckpoint,
  parseNote,
  checkRevocation,
  parseEntry,
  type Credential,
  type CredentialCache,
  type RevocationAuthority,
  type SignedRevocation,
  type SignedStatement,
  type TrustedIssuers,
} from '../core/index.ts'
import type { QuotaConfig } from './config.ts'
import type { LogMetrics } from './metrics.ts'
import type { CheckpointSource } from './published.ts'
import type { LogReader } from './reader.ts'
import { Quotas } from './quotas.ts'
import type { NewEntry, Sequenced, Sequencer } from './sequencer.ts'

/**
 * Admission: the one path a submission takes, from its request body to its
 * place in the sequencer's bounded queue, in the order DESIGN.md
 * ("Admission control") gives:
 *
 *  1. the body, read within a deadline and under its size cap (a slow
 *     upload is cut with TIMEOUT; while it trickles it holds nothing but
 *     its connection),
 *  2. strict parse (the statement; for a batch, its CBOR array first),
 *  3. dedup lookup: a statement the log holds is answered as it was the
 *     first time, however old, spending nothing,
 *  4. the clock skew,
 *  5. per-identity and per-organisation quotas (refused here by what the
 *     statement claims, spent after step 7 by what its chain proves),
 *  6. revocation state (the `revocations` hook),
 *  7. the statement's signature and its credential chain,
 *
 * and only then the queue (`NewEntry.submit`). The lookup and the submit
 * share a handle from `Sequencer.find`, which keeps the race between them
 * (a batch committing in between) the sequencer's own business.
 */

/** Most statements in one POST /add-batch. */
export const MAX_BATCH_ITEMS = 1024
/** Largest POST /add-batch body. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024

/** A request body not read yet. */
export interface RequestBody {
  /** The Content-Length header, when the client sent one. */
  declaredLength: string | undefined
  /**
   * The Node request, when the Node adapter runs the app: read directly,
   * since constructing a Web Request costs more than the rest of the
   * request's parsing.
   */
  incoming?: Readable
  /** Otherwise the Web stream of the request (tests' `app.request`). */
  stream: ReadableStream<Uint8Array> | null
}

/**
 * The revocation state the log admits against (DESIGN.md "Revocation
 * entries"). `check` throws TlogError `REVOKED` when a credential of the
 * statement's chain binds a (subject, key) that a revocation earlier in
 * the log revoked. It runs after the dedup lookup, the clock check and
 * the quotas, and before any signature is verified; so an entry the log
 * already holds is answered as before even once revoked (it was logged
 * before the revocation), and a revoked chain costs no verification.
 */
export interface RevocationCheck {
  check(entry: SignedStatement | SignedRevocation, chain: readonly Credential[]): void | Promise<void>
  /**
   * Hears the authority a revocation entry was admitted with (after its
   * signature and authority were checked); without it, the log takes no
   * revocation entries (415).
   */
  admitted?(revocation: SignedRevocation, authority: RevocationAuthority): void
}

/** What admission needs. */
export interface AdmissionDeps {
  sequencer: Sequencer
  reader: LogReader
  checkpoints: CheckpointSource
  issuers: TrustedIssuers
  credentialCache: CredentialCache
  metrics: LogMetrics
  /** The log's clock, in ms since the epoch (a dependency so tests can submit fixed vectors). */
  now: () => number
  /** Largest accepted difference between a statement's time and the clock, in ms. */
  maxSkewMs: number
  /** Longest wait of `?wait=witnessed`, in ms. */
  witnessWaitMs?: number
  /**
   * Most statements in flight (read, not yet answered) across POST /add
   * and /add-batch; beyond it the log answers 503 at once. This, not the
   * clients' manners, bounds the memory submissions can take. A body
   * still arriving does not count: a slow upload holds no place.
   */
  maxInFlight?: number
  /** Longest time a request body may take to arrive once its headers have, in ms (no limit when absent). */
  bodyTimeoutMs?: number
  /**
   * Token buckets per identity and per organisation (429 RATE_LIMITED with
   * `Retry-After` beyond them); no quotas when absent. They run on `now`.
   */
  quotas?: QuotaConfig
  /** Refuses statements whose chain was revoked earlier in the log; none when absent. */
  revocations?: RevocationCheck
  /** Where unexpected errors are reported. */
  logError?: (err: unknown) => void
}

/** A sequenced statement: where it is, the checkpoint proving it, and its .tlog-proof up to that checkpoint. */
export interface Added {
  index: number
  leafHash: Uint8Array
  /** The checkpoint the proof leads to: the first log-signed one holding the entry, or with `?wait=witnessed` a witnessed one. */
  checkpoint: string
  /** The .tlog-proof before its checkpoint (encodeTlogProofHead). */
  proofHead: Uint8Array
  /** True when the log held the statement before this submission. */
  duplicate: boolean
}

/** A statement of a batch the log refused, with the code and message a single POST /add would have answered. */
export interface Refused {
  code: string
  message: string
}

/** Admits submissions (see the module comment for the order of its checks). */
export class Admission {
  readonly #deps: AdmissionDeps
  readonly #witnessWaitMs: number
  readonly #maxInFlight: number
  readonly #quotas: Quotas | undefined
  /** The organisation of each trusted issuer key name: what a chain claims before it is checked. */
  readonly #orgOf: Map<string, string>
  #inFlight = 0

  constructor(deps: AdmissionDeps) {
    this.#deps = deps
    this.#witnessWaitMs = deps.witnessWaitMs ?? 10_000
    this.#maxInFlight = deps.maxInFlight ?? 8192
    const { metrics } = deps
    this.#quotas = deps.quotas === undefined ? undefined : new Quotas(deps.quotas, deps.now, (organisation, quota) => metrics.rateLimited.inc({ organisation, quota }))
    this.#orgOf = new Map(deps.issuers.issuers.map((t) => [t.name, t.org]))
  }

  /**
   * Reads one statement from `body`, admits it and returns it sequenced,
   * with its proof (against a witnessed checkpoint with `waitWitnessed`).
   * Throws TlogError.
   */
  async add(body: RequestBody, waitWitnessed: boolean): Promise<Added> {
    const entry = await readBody(body, MAX_ENTRY_SIZE, 'a statement', this.#deps.bodyTimeoutMs)
    return this.#hold(1, () => this.#addEntry(entry, waitWitnessed))
  }

  /**
   * Reads a batch (a CBOR array of statements, each a byte string) from
   * `body` and admits each statement on its own: returns, in order, what
   * `each` makes of each one's Added or Refused as soon as it is known (a
   * JSON reply turns it into bytes then, so a result waiting for the rest
   * of its batch holds no strings for the collector to copy). Throws
   * TlogError for a body that is not a batch.
   */
  async addBatch<T>(body: RequestBody, waitWitnessed: boolean, each: (r: Added | Refused) => T): Promise<T[]> {
    // Decoding copies each statement out: the body is not kept while they wait.
    const items = decodeCbor(await readBody(body, MAX_BATCH_BYTES, 'a batch', this.#deps.bodyTimeoutMs), { maxDepth: 1 })
    if (!Array.isArray(items) || items.length === 0 || items.length > MAX_BATCH_ITEMS || !items.every((x) => x instanceof Uint8Array)) {
      throw new TlogError('MALFORMED', `a batch is a CBOR array of 1 to ${MAX_BATCH_ITEMS} byte strings, each one statement`)
    }
    return this.#hold(items.length, () =>
      Promise.all((items as Uint8Array[]).map((entry) => this.#addEntry(entry, waitWitnessed).then(each, (err: unknown) => each(this.#refusal(err))))),
    )
  }

  /** Runs `f` counting `n` statements in flight, or refuses at once when that would pass the bound. */
  async #hold<T>(n: number, f: () => Promise<T>): Promise<T> {
    const max = this.#maxInFlight
    if (n > max) throw new TlogError('TOO_LARGE', `this log takes at most ${max} statements at once; send smaller batches`)
    if (this.#inFlight + n > max) throw new TlogError('OVERLOADED', `the log is processing ${this.#inFlight} statements, its limit; retry shortly`)
    this.#inFlight += n
    try {
      return await f()
    } finally {
      this.#inFlight -= n
    }
  }

  #refusal(err: unknown): Refused {
    if (isTlogError(err)) return { code: err.code, message: err.message }
    this.#deps.logError?.(err)
    return { code: 'INTERNAL', message: 'internal error; the log operator has the details' }
  }

  /** Admits and sequences one statement (or finds it already logged) and returns it with its proof. */
  async #addEntry(entry: Uint8Array, waitWitnessed: boolean): Promise<Added> {
    const { metrics, reader, checkpoints } = this.#deps
    const lh = leafHash(entry)
    const seq = await this.#admit(entry, lh)
    metrics.submissions.inc({ result: seq.duplicate ? 'duplicate' : 'sequenced' })
    let checkpoint = seq.checkpoint
    let treeSize = seq.treeSize
    if (waitWitnessed) {
      checkpoint = await checkpoints.waitWitnessed(seq.index + 1, this.#witnessWaitMs)
      treeSize = parseCheckpoint(parseNote(checkpoint).text).treeSize
    }
    const proofHead = await reader.tlogProofHead(seq.index, treeSize, entry)
    return { index: seq.index, leafHash: seq.leafHash, checkpoint, proofHead, duplicate: seq.duplicate }
  }

  /**
   * Steps 2 to 7 of the module comment, then the queue. The parsed
   * statement lives only as long as this call's checks: a submission
   * waiting for its batch holds just the entry and its hash (in-flight
   * memory is what the collector copies and promotes).
   */
  async #admit(entry: Uint8Array, lh: Uint8Array): Promise<Sequenced> {
    // Dispatched on the content type: an action statement or a revocation.
    const parsed = parseEntry(entry)
    // An entry already in the log is answered as it was the first time,
    // however old it is now: resubmission is how clients recover lost replies.
    const found = await this.#deps.sequencer.find(entry, lh)
    if (!('submit' in found)) return found
    const { now, maxSkewMs } = this.#deps
    const skew = (parsed.kind === 'statement' ? parsed.statement.statement.time : parsed.revocation.revocation.time) - now()
    if (Math.abs(skew) > maxSkewMs) {
      throw new TlogError(
        'STALE',
        `${parsed.kind} time is ${Math.round(Math.abs(skew) / 1000)} s ${skew > 0 ? 'ahead of' : 'behind'} the log's clock (at most ${maxSkewMs / 1000} s allowed); check the actor's clock`,
      )
    }
    if (parsed.kind === 'revocation') return this.#admitRevocation(parsed.revocation, found)
    const statement = parsed.statement
    // Refuse early what the quotas would refuse, by what the statement
    // claims; spend only once the chain has proved who it is.
    const actor = statement.statement.actor
    const quotas = this.#quotas
    quotas?.check(actor, this.#orgOf.get(statement.credentials[statement.credentials.length - 1]?.issuer ?? ''))
    await this.#deps.revocations?.check(statement, statement.credentials)
    const { org } = await checkStatement(statement, { issuers: this.#deps.issuers, cache: this.#deps.credentialCache })
    quotas?.spend(actor, org)
    let seq: Sequenced
    try {
      seq = await found.submit()
    } catch (e) {
      quotas?.refund(actor, org)
      throw e
    }
    // Submitted at the same time as an identical statement: it added nothing.
    if (seq.duplicate) quotas?.refund(actor, org)
    else this.#deps.metrics.admitted.inc({ organisation: org })
    return seq
  }

  /**
   * A revocation entry: not revoked itself (a revoked namespace cannot
   * revoke), its signature and authority (DESIGN.md "Revocation entries"),
   * then the queue, where the sequencer decides it in index order with the
   * entries around it. Revocations spend no quota: they are rare, and a
   * revocation must never wait behind the revoked agent's own traffic.
   */
  async #admitRevocation(r: SignedRevocation, found: NewEntry): Promise<Sequenced> {
    const hook = this.#deps.revocations
    if (hook?.admitted === undefined) throw new TlogError('UNSUPPORTED_MEDIA_TYPE', 'this log takes action statements only, no revocation entries')
    await hook.check(r, r.credentials)
    const v = await checkRevocation(r, { issuers: this.#deps.issuers, cache: this.#deps.credentialCache })
    hook.admitted(r, v.authority)
    const seq = await found.submit()
    if (!seq.duplicate) this.#deps.metrics.admitted.inc({ organisation: v.org })
    return seq
  }
}

/**
 * Returns the request body, refusing with TOO_LARGE as soon as it passes
 * `max` bytes (a declared Content-Length above it before reading, a body
 * streamed without one at the cap), and with TIMEOUT when it has not
 * arrived `deadlineMs` after the read began.
 */
export async function readBody(body: RequestBody, max: number, what: string, deadlineMs: number | undefined): Promise<Uint8Array> {
  const tooLarge = (): TlogError => new TlogError('TOO_LARGE', `${what} is at most ${max} bytes`)
  const late = (): TlogError =>
    new TlogError('TIMEOUT', `${what} must arrive within ${(deadlineMs ?? 0) / 1000} s of the request's headers; send the body at once, or check the network`)
  if (body.declaredLength !== undefined && Number(body.declaredLength) > max) throw tooLarge()
  const chunks: Uint8Array[] = []
  let size = 0
  const add = (chunk: Uint8Array): void => {
    size += chunk.length
    if (size > max) throw tooLarge()
    chunks.push(chunk)
  }
  const incoming = body.incoming
  if (incoming !== undefined && typeof incoming.on === 'function') {
    await new Promise<void>((resolve, reject) => {
      const fail = (e: unknown): void => {
        clearTimeout(timer)
        incoming.pause()
        incoming.removeAllListeners('data')
        reject(e)
      }
      const timer = deadlineMs === undefined ? undefined : setTimeout(() => fail(late()), deadlineMs)
      incoming.on('data', (chunk: Uint8Array) => {
        try {
          add(chunk)
        } catch (e) {
          fail(e)
        }
      })
      incoming.once('end', () => {
        clearTimeout(timer)
        resolve()
      })
      incoming.once('error', fail)
      incoming.once('aborted', () => fail(new TlogError('MALFORMED', 'the client closed the connection before sending the whole body')))
    })
  } else if (body.stream !== null) {
    const reader = body.stream.getReader()
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline =
      deadlineMs === undefined
        ? undefined
        : new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(late()), deadlineMs)
          })
    try {
      for (;;) {
        const { done, value } = await (deadline === undefined ? reader.read() : Promise.race([reader.read(), deadline]))
        if (done) break
        add(value)
      }
    } catch (e) {
      await reader.cancel().catch(() => {})
      throw e
    } finally {
      clearTimeout(timer)
    }
  }
  return concatBytes(...chunks)
}
