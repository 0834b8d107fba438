import {
  TlogError,
  cosignatureVerifier,
  encodeAddCheckpointRequest,
  encodeNote,
  parseCheckpoint,
  parseCosignatureResponse,
  parseNote,
  parseSizeBody,
  quorumSatisfied,
  utf8,
  type NoteSignature,
  type Policy,
  type PolicyWitness,
} from '../core/index.ts'
import type { LogStore } from '../storage/index.ts'
import type { CheckpointSource } from './published.ts'
import type { LogMetrics } from './metrics.ts'
import type { LogReader } from './reader.ts'
import type { Sequencer } from './sequencer.ts'

/**
 * The log side of c2sp.org/tlog-witness: after each new checkpoint the log
 * asks its witnesses to cosign it, merges the cosignatures it can verify,
 * and publishes a checkpoint only once its cosigners meet the policy's
 * quorum.
 *
 * Witnessing runs in rounds: a round picks the newest checkpoint and sends
 * it to every witness that is free, so that the witnesses' cosignatures land
 * on the same checkpoint and a quorum can form even under continuous load.
 * A round ends as soon as the quorum is met (or every available witness has
 * answered); the next round takes the newest checkpoint again. Each witness
 * has at most one request in flight; a witness that is slow or down gets
 * the newest checkpoint when its request ends, and backs off after errors.
 * Sequencing never waits for witnesses.
 *
 * Safety (the restore guard): a witness that has cosigned a larger tree than
 * the log holds, or that finds the log's checkpoint inconsistent with what it
 * saw (422), means this data directory is not the history the world has
 * seen. The log then stops signing and says why.
 */

/** Options of the witnessing client. */
export interface WitnessingOptions {
  policy: Policy
  sequencer: Sequencer
  store: LogStore
  reader: LogReader
  metrics: LogMetrics
  /** Per-request timeout, in ms. */
  timeoutMs: number
  /** Reports progress and problems in words an operator can act on. */
  log?: (line: string) => void
  /** Called when the restore guard trips: the log must stop signing. */
  onSplit?: (err: TlogError) => void
  /** Longest back-off after repeated errors, in ms. */
  maxBackoffMs?: number
  /**
   * Shortest time between the starts of two rounds, in ms (default 0). A
   * round costs each witness a signature check, a synced write and a
   * signature, and the log a consistency proof and two checks, whatever
   * the number of entries it covers: under load, a round every 100 ms
   * covers hundreds of batches at the cost of about 50 ms of witnessing
   * delay on average. An idle log still starts a round at once.
   */
  minIntervalMs?: number
}

interface Candidate {
  treeSize: number
  /** The log-signed checkpoint note. */
  note: string
  text: string
  cosignatures: Map<string, NoteSignature>
}

interface WitnessState {
  w: PolicyWitness
  url: string
  verifier: ReturnType<typeof cosignatureVerifier>
  /** The witness's latest cosigned size for our origin, once known. */
  size: number | undefined
  busy: boolean
  failures: number
  retryAt: number
  /** Size of the round target this witness was last sent. */
  sentRound: number
}

/** Returns the witnesses of a policy, checking that each has a URL. */
function witnessesOf(policy: Policy): PolicyWitness[] {
  const ws = [...policy.witnesses.values()]
  for (const w of ws) {
    if (w.url === undefined) throw new TypeError(`policy witness ${w.name} has no URL; the log needs each witness's submission URL (witness <name> <vkey> <url>)`)
  }
  return ws
}

export class Witnessing implements CheckpointSource {
  readonly #o: WitnessingOptions
  readonly #witnesses: WitnessState[]
  readonly #candidates = new Map<number, Candidate>()
  readonly #waiters = new Set<{ size: number; resolve: (note: string) => void }>()
  #published: { treeSize: number; note: string } | undefined
  #round: Candidate | undefined
  #tripped: TlogError | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #intervalTimer: ReturnType<typeof setTimeout> | undefined
  #roundStartedAt = -Infinity
  #closed = false
  #inflight = new Set<Promise<void>>()

  private constructor(o: WitnessingOptions) {
    this.#o = o
    this.#witnesses = witnessesOf(o.policy).map((w) => ({
      w,
      url: w.url!.replace(/\/+$/, ''),
      verifier: cosignatureVerifier(w.key.name, w.key.publicKey),
      size: undefined,
      busy: false,
      failures: 0,
      retryAt: 0,
      sentRound: -1,
    }))
  }

  /**
   * Starts witnessing: loads the last published checkpoint, runs the restore
   * guard against every reachable witness, then follows the sequencer.
   * Throws TlogError('CONFLICT') when a witness has seen a larger tree than
   * this log holds: the log must not start signing.
   */
  static async start(o: WitnessingOptions): Promise<Witnessing> {
    const w = new Witnessing(o)
    const stored = await o.store.getWitnessed()
    if (stored !== undefined) {
      const size = parseCheckpoint(parseNote(stored).text).treeSize
      if (size <= o.sequencer.treeSize) w.#published = { treeSize: size, note: stored }
    }
    await w.#guard()
    w.#offer(o.sequencer.checkpoint, o.sequencer.treeSize)
    o.sequencer.onCheckpoint((note, size) => w.#offer(note, size))
    return w
  }

  /** Asks each witness for its size (old 0 answers 409 with it) and refuses to go on behind any of them. */
  async #guard(): Promise<void> {
    const ours = this.#o.sequencer.treeSize
    await Promise.all(
      this.#witnesses.map(async (s) => {
        try {
          const res = await this.#post(s, 0, this.#o.sequencer.checkpoint)
          if (res.status === 409) s.size = parseSizeBody(await res.text())
          else if (res.status === 200) {
            s.size = ours
            await this.#accept(s, this.#candidateFor(this.#o.sequencer.checkpoint, ours), await res.text())
          } else this.#o.log?.(`witness ${s.w.name}: answered ${res.status} at startup: ${(await res.text()).trim()}`)
        } catch (e) {
          this.#o.log?.(`witness ${s.w.name} is unreachable at startup (${describe(e)}); the restore guard will check it when it answers`)
        }
      }),
    )
    for (const s of this.#witnesses) this.#checkSize(s)
    if (this.#tripped !== undefined) throw this.#tripped
  }

  #checkSize(s: WitnessState): void {
    const ours = this.#o.sequencer.treeSize
    if (s.size !== undefined && s.size > ours) {
      this.#trip(
        `witness ${s.w.name} has cosigned a tree of ${s.size} entries for ${this.#o.sequencer.origin}, but this log holds only ${ours}. ` +
          'The data directory is older than the history the witnesses have seen (restored from an old backup, or the wrong data directory). ' +
          'Signing a new checkpoint would show a second history, so this log refuses to sign. Restore the latest data, or point the log at the right directory.',
      )
    }
  }

  #trip(message: string): void {
    if (this.#tripped !== undefined) return
    this.#tripped = new TlogError('CONFLICT', message)
    this.#o.log?.(`RESTORE GUARD: ${message}`)
    this.#o.onSplit?.(this.#tripped)
  }

  /** The restore guard's verdict, when it tripped. */
  get tripped(): TlogError | undefined {
    return this.#tripped
  }

  #candidateFor(note: string, treeSize: number): Candidate {
    let c = this.#candidates.get(treeSize)
    if (c === undefined) {
      c = { treeSize, note, text: parseNote(note).text, cosignatures: new Map() }
      this.#candidates.set(treeSize, c)
      // Keep a bounded window of recent checkpoints; late cosignatures of older ones no longer matter.
      const old = [...this.#candidates.keys()].sort((a, b) => a - b)
      while (old.length > 64) this.#candidates.delete(old.shift()!)
    }
    return c
  }

  #offer(note: string, treeSize: number): void {
    if (this.#closed || this.#tripped !== undefined) return
    this.#candidateFor(note, treeSize)
    this.#pump()
  }

  /** Starts a new round when the current one is over, and sends its target to every free witness. */
  #pump(): void {
    if (this.#closed || this.#tripped !== undefined) return
    const now = Date.now()
    const available = this.#witnesses.filter((s) => s.retryAt <= now)
    const newest = Math.max(...this.#candidates.keys())
    const round = this.#round
    const roundOver =
      round === undefined ||
      quorumSatisfied(this.#o.policy, new Set(round.cosignatures.keys())) ||
      available.every((s) => !s.busy && s.sentRound >= round.treeSize)
    if (roundOver && newest > (round?.treeSize ?? -1)) {
      const wait = this.#roundStartedAt + (this.#o.minIntervalMs ?? 0) - performance.now()
      if (wait > 0) {
        this.#intervalTimer ??= setTimeout(() => {
          this.#intervalTimer = undefined
          this.#pump()
        }, wait)
      } else {
        this.#round = this.#candidates.get(newest)
        this.#roundStartedAt = performance.now()
      }
    }
    const target = this.#round
    if (target !== undefined) {
      for (const s of available) {
        if (!s.busy && s.sentRound < target.treeSize && !target.cosignatures.has(s.w.name)) this.#send(s, target)
      }
    }
    // Wake up for the next back-off expiry.
    const next = Math.min(...this.#witnesses.filter((s) => s.retryAt > now).map((s) => s.retryAt))
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = Number.isFinite(next) ? setTimeout(() => this.#pump(), Math.max(10, next - now)) : undefined
  }

  #send(s: WitnessState, c: Candidate): void {
    s.busy = true
    s.sentRound = c.treeSize
    const p = this.#exchange(s, c)
      .catch((e) => {
        // Not delivered: after the back-off it is sent the round's checkpoint again.
        s.sentRound = -1
        s.failures++
        s.retryAt = Date.now() + this.#backoff(s.failures)
        this.#o.metrics.witnessRequests.inc({ witness: s.w.name, result: 'error' })
        if (s.failures === 1 || s.failures % 10 === 0) this.#o.log?.(`witness ${s.w.name}: ${describe(e)}; retrying in ${Math.round((s.retryAt - Date.now()) / 1000)} s`)
      })
      .finally(() => {
        s.busy = false
        this.#inflight.delete(p)
        this.#pump()
      })
    this.#inflight.add(p)
  }

  #backoff(failures: number): number {
    const max = this.#o.maxBackoffMs ?? 30_000
    const base = Math.min(max, 250 * 2 ** Math.min(failures - 1, 10))
    return base / 2 + Math.random() * (base / 2)
  }

  /** One add-checkpoint exchange, resyncing once on 409. */
  async #exchange(s: WitnessState, c: Candidate): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const old = s.size !== undefined && s.size <= c.treeSize ? s.size : 0
      const res = await this.#post(s, old, c.note, c.treeSize)
      const body = await res.text()
      if (res.status === 200) {
        s.size = c.treeSize
        s.failures = 0
        this.#o.metrics.witnessRequests.inc({ witness: s.w.name, result: 'cosigned' })
        await this.#accept(s, c, body)
        return
      }
      if (res.status === 409) {
        // The witness's view of our size differs from ours: resync from the size it returned.
        s.size = parseSizeBody(body)
        this.#o.metrics.witnessRequests.inc({ witness: s.w.name, result: 'resync' })
        this.#checkSize(s)
        if (this.#tripped !== undefined || s.size > c.treeSize) return
        continue
      }
      if (res.status === 422) {
        this.#trip(
          `witness ${s.w.name} refused checkpoint ${c.treeSize} as inconsistent with the tree of ${s.size ?? 0} entries it cosigned (${body.trim()}). ` +
            'This log holds a different history than the witnesses have seen; it refuses to sign until an operator restores the right data.',
        )
        return
      }
      throw new Error(`answered ${res.status}: ${body.trim().slice(0, 200)}`)
    }
    throw new Error('kept answering 409')
  }

  async #post(s: WitnessState, oldSize: number, note: string, newSize?: number): Promise<Response> {
    const proof = oldSize === 0 || newSize === undefined || oldSize === newSize ? [] : await this.#o.reader.consistencyProof(oldSize, newSize)
    const body = encodeAddCheckpointRequest({ oldSize, proof, checkpoint: note })
    return fetch(`${s.url}/add-checkpoint`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      body: utf8(body) as Uint8Array<ArrayBuffer>,
      signal: AbortSignal.timeout(this.#o.timeoutMs),
    })
  }

  /** Verifies the cosignatures of a 200 body, merges them, and publishes when the quorum is met. */
  async #accept(s: WitnessState, c: Candidate, body: string): Promise<void> {
    let lines: NoteSignature[]
    try {
      lines = parseCosignatureResponse(body)
    } catch (e) {
      throw new Error(`sent an unreadable cosignature response (${describe(e)})`)
    }
    const text = utf8(c.text)
    for (const l of lines) {
      if (l.name !== s.verifier.name || l.keyId !== s.verifier.keyId) continue
      if (await s.verifier.verify(text, l.signature)) {
        c.cosignatures.set(s.w.name, l)
        this.#maybePublish(c)
        return
      }
    }
    this.#o.metrics.witnessRequests.inc({ witness: s.w.name, result: 'bad-cosignature' })
    throw new Error(`answered 200 without a cosignature of checkpoint ${c.treeSize} that verifies with its configured key`)
  }

  #maybePublish(c: Candidate): void {
    if (!quorumSatisfied(this.#o.policy, new Set(c.cosignatures.keys()))) return
    if (this.#published !== undefined && this.#published.treeSize >= c.treeSize) return
    const logNote = parseNote(c.note)
    const note = encodeNote({ text: c.text, signatures: [...logNote.signatures, ...c.cosignatures.values()] })
    this.#published = { treeSize: c.treeSize, note }
    this.#o.metrics.witnessedSize.set(c.treeSize)
    // Durable, so a restart serves the same (or a newer) witnessed checkpoint.
    this.#o.store.putWitnessed(note).catch((e) => this.#o.log?.(`could not store the witnessed checkpoint ${c.treeSize}: ${describe(e)}`))
    for (const w of this.#waiters) {
      if (w.size <= c.treeSize) {
        this.#waiters.delete(w)
        w.resolve(note)
      }
    }
    for (const size of this.#candidates.keys()) if (size < c.treeSize) this.#candidates.delete(size)
  }

  published(): string {
    if (this.#published === undefined) {
      throw new TlogError('OVERLOADED', 'no checkpoint has met the witness quorum yet; the witnesses are being asked, retry shortly')
    }
    return this.#published.note
  }

  async waitWitnessed(treeSize: number, timeoutMs: number): Promise<string> {
    if (this.#published !== undefined && this.#published.treeSize >= treeSize) return this.#published.note
    return new Promise((resolve, reject) => {
      const waiter = { size: treeSize, resolve }
      this.#waiters.add(waiter)
      setTimeout(() => {
        if (!this.#waiters.delete(waiter)) return
        reject(
          new TlogError(
            'OVERLOADED',
            `no checkpoint meeting the witness quorum covers this entry yet (waited ${Math.round(timeoutMs / 1000)} s); ` +
              'the entry is logged: fetch its proof later with GET /proof/<index>?wait=witnessed',
          ),
        )
      }, timeoutMs)
    })
  }

  async publishedAt(treeSize: number): Promise<string | undefined> {
    return this.#published?.treeSize === treeSize ? this.#published.note : undefined
  }

  /** The tree size of the published checkpoint, or -1 before the first. */
  get publishedSize(): number {
    return this.#published?.treeSize ?? -1
  }

  /** Stops sending and waits for requests in flight. */
  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    if (this.#intervalTimer !== undefined) clearTimeout(this.#intervalTimer)
    await Promise.allSettled([...this.#inflight])
  }
}

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause
    return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message
  }
  return String(e)
}
